using System.Diagnostics;
using System.Text;
using System.Text.Json;
using Microsoft.AspNetCore.Http;
using OnnxSteer.Generation;

namespace OnnxSteer.Server;

/// <summary>
/// Requests answered with log-probabilities, or with several prompts: completions with <c>logprobs</c>, <c>echo</c> or a
/// list of prompts (what lm-evaluation-harness's <c>local-completions</c> sends: token-id prompts, <c>echo: true</c>,
/// <c>max_tokens</c> 0 or 1, <c>logprobs: 1</c>), and chat with <c>logprobs</c>. Each prompt is one choice, run in
/// turn; not streamed.
/// </summary>
public sealed partial class SteeringServer
{
    /// <summary>Whether <paramref name="request"/> goes through <see cref="CompleteScored"/>.</summary>
    private static bool IsScored(ApiRequest request) =>
        request.Logprobs is not null || request.Echo || request.Prompts.Count > 1;

    /// <summary>One prompt's answer.</summary>
    private sealed record ScoredChoice(string Text, string Finish, IReadOnlyList<int> Ids, IReadOnlyList<TokenLogprob>? Logprobs,
        IReadOnlyList<string> Pieces, IReadOnlyList<IReadOnlyList<(string Text, double Logprob)>> TopPieces);

    private async Task CompleteScored(HttpContext context, ApiRequest request, Stopwatch clock)
    {
        if (request.Stream)
            throw ApiError.Bad("logprobs, echo and several prompts are answered whole: stream must be false", "stream");
        var steering = ResolveSteering(request);
        NoteSteering(context, steering);
        var engine = _router.For(steering);
        if (engine is not ILogitsEngine scorer)
            throw new ApiError(400, $"engine {engine.Name} cannot give log-probabilities", "logprobs");
        CheckPromptLength(request);
        var prompts = request.Kind == ApiKind.Chat ? [null] : request.Prompts.Select(p => (PromptInput?)p).ToList();
        // As Complete: the lease keeps the models alive, the slot bounds generations at once, the deadline holds.
        using var generation = _shutdown.Enter();
        using var cut = CancellationTokenSource.CreateLinkedTokenSource(context.RequestAborted, _shutdown.Cut);
        using var slot = await Admit(context, () => _gate.EnterAsync(cut.Token)).ConfigureAwait(false);
        cut.CancelAfter(_options.Admission.RequestTimeout);
        var choices = new List<ScoredChoice>();
        int promptTokens = 0, completionTokens = 0;
        foreach (var prompt in prompts)
        {
            var ids = prompt is null ? _prompts.Build(request) : _prompts.Build(prompt);
            var choice = await Task.Run(() => Score(scorer, request, prompt, ids, steering, cut.Token), cut.Token).ConfigureAwait(false);
            if (choices.Count == 0) NoteFirstToken(context, steering);
            NoteTokens(steering, ids.Count, choice.Ids.Count);
            choices.Add(choice);
            promptTokens += ids.Count;
            completionTokens += choice.Ids.Count;
        }
        var exchange = new Exchange(request, steering, engine.Name, promptTokens) { CompletionTokens = completionTokens };
        await WriteJson(context.Response, 200, w => WriteScored(w, exchange, choices)).ConfigureAwait(false);
        _log($"onnxsteer serve: 200 POST {LogText.Escape(context.Request.Path)} steering={Describe(steering)} engine={engine.Name} " +
             $"prompts={choices.Count} tokens={promptTokens}+{completionTokens} logprobs={request.Logprobs?.Top.ToString() ?? "none"} " +
             $"echo={request.Echo.ToString().ToLowerInvariant()} {clock.ElapsedMilliseconds} ms");
    }

    /// <summary>Generates (greedy or sampled, as asked) for one prompt, recording the log-probabilities asked for.</summary>
    private ScoredChoice Score(ILogitsEngine engine, ApiRequest request, PromptInput? prompt, IReadOnlyList<int> promptIds,
        SteeringChoice steering, CancellationToken ct)
    {
        var sampling = Sampling(request, promptIds.Count);
        var recorder = request.Logprobs is { } lp ? new LogprobRecorder(lp.Top, request.Echo) : null;
        if (recorder is not null && request.Echo) recorder.Unscored(promptIds[0]);
        var tokenizer = _prompts.Tokenizer;
        var streamer = new TextStreamer(tokenizer, promptIds);
        var stops = new StopMatcher(request.Stop);
        var ids = new List<int>();
        var finish = "length";
        foreach (var id in engine.Generate(promptIds, steering, sampling, recorder, ct))
        {
            ids.Add(id);
            if (_eos.Contains(id)) { finish = "stop"; break; }
            stops.Push(streamer.Push(id));
            if (stops.Stopped) { finish = "stop"; break; }
        }
        stops.Push(streamer.Flush());
        stops.Flush();
        var completion = stops.Text;

        // Token texts read in place, over the prompt (when echoed) and the answer.
        var sequence = promptIds.Concat(ids).ToList();
        var texts = new TokenTexts(tokenizer, sequence);
        var first = request.Echo ? 0 : promptIds.Count;
        var pieces = new List<string>();
        var tops = new List<IReadOnlyList<(string, double)>>();
        for (var i = first; i < sequence.Count; i++)
        {
            pieces.Add(texts.Piece(i));
            var scored = recorder?.Tokens[i - first];
            tops.Add(scored is null ? [] : [.. scored.Top.Select(t => (texts.Piece(i, t.Token), t.Logprob))]);
        }
        var echoed = request.Echo ? prompt?.Text ?? string.Concat(pieces.Take(promptIds.Count)) : "";
        return new ScoredChoice(echoed + completion, finish, ids, recorder?.Tokens, pieces, tops);
    }

    private static void WriteScored(Utf8JsonWriter w, Exchange x, IReadOnlyList<ScoredChoice> choices)
    {
        var chat = x.Request.Kind == ApiKind.Chat;
        WriteHead(w, x, chat ? "chat.completion" : "text_completion");
        w.WriteStartArray("choices");
        for (var c = 0; c < choices.Count; c++)
        {
            var choice = choices[c];
            w.WriteStartObject();
            w.WriteNumber("index", c);
            if (chat)
            {
                w.WriteStartObject("message");
                w.WriteString("role", "assistant");
                w.WriteString("content", choice.Text);
                w.WriteEndObject();
            }
            else
            {
                w.WriteString("text", choice.Text);
            }
            if (choice.Logprobs is null) w.WriteNull("logprobs");
            else if (chat) WriteChatLogprobs(w, choice);
            else WriteCompletionLogprobs(w, choice);
            w.WriteString("finish_reason", choice.Finish);
            w.WriteStartArray("token_ids");
            foreach (var id in choice.Ids) w.WriteNumberValue(id);
            w.WriteEndArray();
            w.WriteEndObject();
        }
        w.WriteEndArray();
        WriteUsage(w, x);
    }

    /// <summary>
    /// The completions API's <c>logprobs</c>: parallel lists <c>tokens</c>, <c>token_logprobs</c> (null for the first
    /// prompt token), <c>top_logprobs</c> (text → log-probability: the most likely tokens and the token itself; a text two
    /// tokens share keeps the higher) and <c>text_offset</c> (where each token starts in the choice's text).
    /// </summary>
    private static void WriteCompletionLogprobs(Utf8JsonWriter w, ScoredChoice choice)
    {
        var tokens = choice.Logprobs!;
        w.WriteStartObject("logprobs");
        w.WriteStartArray("tokens");
        foreach (var piece in choice.Pieces) w.WriteStringValue(piece);
        w.WriteEndArray();
        w.WriteStartArray("token_logprobs");
        foreach (var t in tokens)
            if (t.Logprob is { } v) w.WriteNumberValue(v); else w.WriteNullValue();
        w.WriteEndArray();
        w.WriteStartArray("top_logprobs");
        for (var i = 0; i < tokens.Count; i++)
        {
            if (tokens[i].Logprob is not { } own) { w.WriteNullValue(); continue; }
            var entries = new Dictionary<string, double>(StringComparer.Ordinal);
            foreach (var (text, logprob) in choice.TopPieces[i].Append((choice.Pieces[i], own)))
                if (!entries.TryGetValue(text, out var had) || logprob > had) entries[text] = logprob;
            w.WriteStartObject();
            foreach (var (text, logprob) in entries.OrderByDescending(e => e.Value)) w.WriteNumber(text, logprob);
            w.WriteEndObject();
        }
        w.WriteEndArray();
        w.WriteStartArray("text_offset");
        var offset = 0;
        foreach (var piece in choice.Pieces)
        {
            w.WriteNumberValue(offset);
            offset += piece.Length;
        }
        w.WriteEndArray();
        w.WriteEndObject();
    }

    /// <summary>The chat API's <c>logprobs.content</c>: per token its text, log-probability, UTF-8 bytes and top alternatives.</summary>
    private static void WriteChatLogprobs(Utf8JsonWriter w, ScoredChoice choice)
    {
        var tokens = choice.Logprobs!;
        w.WriteStartObject("logprobs");
        w.WriteStartArray("content");
        for (var i = 0; i < tokens.Count; i++)
        {
            w.WriteStartObject();
            WriteChatToken(w, choice.Pieces[i], tokens[i].Logprob ?? 0);
            w.WriteStartArray("top_logprobs");
            foreach (var (text, logprob) in choice.TopPieces[i])
            {
                w.WriteStartObject();
                WriteChatToken(w, text, logprob);
                w.WriteEndObject();
            }
            w.WriteEndArray();
            w.WriteEndObject();
        }
        w.WriteEndArray();
        w.WriteNull("refusal");
        w.WriteEndObject();
    }

    private static void WriteChatToken(Utf8JsonWriter w, string text, double logprob)
    {
        w.WriteString("token", text);
        w.WriteNumber("logprob", logprob);
        w.WriteStartArray("bytes");
        foreach (var b in Encoding.UTF8.GetBytes(text)) w.WriteNumberValue(b);
        w.WriteEndArray();
    }
}
