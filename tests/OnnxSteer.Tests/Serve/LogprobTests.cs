using System.Net;
using System.Text;
using System.Text.Json.Nodes;
using OnnxSteer.Evaluation;
using OnnxSteer.Generation;
using OnnxSteer.Server;
using OnnxSteer.Tests.Infrastructure;
using Xunit;

namespace OnnxSteer.Tests.Serve;

/// <summary>
/// Log-probabilities over HTTP, checked against OnnxSteer's own forward pass: the requests lm-evaluation-harness's
/// <c>local-completions</c> model sends (token-id prompts, several per request, <c>echo</c>, <c>max_tokens</c> 1 or 0,
/// <c>logprobs: 1</c>), parsed as it parses them (<c>sum(token_logprobs[ctxlen:-1])</c>, greedy when each token's
/// log-probability is the largest of its <c>top_logprobs</c>), give the sums <c>onnxsteer eval --mode loglik</c>
/// (Evaluator.Loglik) gives for the same items, vanilla and steered. genai and OnnxSteer run the same fp32 graph in two
/// ONNX Runtime builds; sums agree to 1e-4.
/// </summary>
[Collection(ServeCollection.Name)]
public sealed class LogprobTests(ServeFixture f)
{
    private const double Tolerance = 1e-4;

    private static readonly EvalItem[] Items =
    [
        new("a", "Once upon a time, there was a little", [" girl", " dog", " big red ball"], 0),
        new("b", "Lily liked to play in the", [" park", " sun", " water with her mom"], 0),
    ];

    public static TheoryData<string?, float> Settings => new() { { null, 0f }, { "happy", 1f }, { "calm", 0.5f } };

    private async Task<JsonNode> Post(string path, JsonObject body)
    {
        using var response = await f.Http.PostAsync(path, new StringContent(body.ToJsonString(), Encoding.UTF8, "application/json"));
        var text = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == HttpStatusCode.OK, text);
        return JsonNode.Parse(text)!;
    }

    private JsonObject LmEvalLoglikBody(IEnumerable<IReadOnlyList<int>> inputs, SteeringChoice steering, int maxTokens = 1)
    {
        // LocalCompletionsAPI._create_payload(generate=False), plus the steering field.
        var body = new JsonObject
        {
            ["model"] = f.ModelId,
            ["prompt"] = new JsonArray([.. inputs.Select(ids => (JsonNode)new JsonArray([.. ids.Select(i => (JsonNode)i)]))]),
            ["temperature"] = 0, ["max_tokens"] = maxTokens, ["logprobs"] = 1, ["seed"] = 1234, ["echo"] = true,
        };
        if (steering.Profile is { } p) body["steering"] = new JsonObject { ["profile"] = p, ["strength"] = steering.Strength };
        return body;
    }

    /// <summary>LocalCompletionsAPI.parse_logprobs: per choice (by index) the sum over token_logprobs[ctxlen:-1] and is_greedy.</summary>
    private static List<(double Sum, bool Greedy)> ParseLogprobs(JsonNode output, IReadOnlyList<int> ctxlens, bool dropLast = true)
    {
        var result = new List<(double, bool)>();
        var choices = output["choices"]!.AsArray().OrderBy(c => c!["index"]!.GetValue<int>()).ToList();
        Assert.Equal(ctxlens.Count, choices.Count);
        for (var c = 0; c < choices.Count; c++)
        {
            var logprobs = choices[c]!["logprobs"]!;
            var all = logprobs["token_logprobs"]!.AsArray();
            var end = dropLast ? all.Count - 1 : all.Count;
            var tokens = all.Skip(ctxlens[c]).Take(end - ctxlens[c]).Select(n => n!.GetValue<double>()).ToList();
            var tops = logprobs["top_logprobs"]!.AsArray().Skip(ctxlens[c]).Take(end - ctxlens[c]).ToList();
            var greedy = tokens.Zip(tops).All(p => p.First == p.Second!.AsObject().Max(e => e.Value!.GetValue<double>()));
            result.Add((tokens.Sum(), greedy));
        }
        return result;
    }

    /// <summary>Whether every continuation token is the argmax of OnnxSteer's logits at its position.</summary>
    private static bool ReferenceGreedy(DecoderModel model, IReadOnlyList<int> ids, int ctxlen)
    {
        var logits = model.Forward(ids);
        for (var position = ctxlen; position < ids.Count; position++)
        {
            var row = logits.Row(position - 1);
            var best = 0;
            for (var v = 1; v < row.Length; v++) if (row[v] > row[best]) best = v;
            if (best != ids[position]) return false;
        }
        return true;
    }

    [SharedTheory]
    [MemberData(nameof(Settings))]
    public async Task Lm_eval_loglikelihood_requests_give_the_sums_of_eval_loglik(string? profile, float strength)
    {
        var steering = profile is null ? SteeringChoice.Vanilla : new SteeringChoice(profile, strength);
        // TemplateLM._encode_pair with the Hugging Face backend and add_bos_token=True: context and whole both after BOS.
        var expected = f.Reference(steering, model =>
        {
            // Each item also gets, as a last choice, the token this setting predicts after its prompt: a greedy continuation.
            var items = Items.Select(item =>
            {
                var row = model.Forward(f.Tokenizer.EncodeToIds(item.Prompt)).Row(f.Tokenizer.EncodeToIds(item.Prompt).Count - 1);
                var best = 0;
                for (var v = 1; v < row.Length; v++) if (row[v] > row[best]) best = v;
                var next = TextStreamer.Continuation(f.Tokenizer, f.Tokenizer.EncodeToIds(item.Prompt), [best]);
                return item with { Choices = [.. item.Choices, next] };
            }).ToList();
            var evaluator = new Evaluator(model, f.Tokenizer);
            var sums = items.SelectMany(item => evaluator.Loglik(item).LogLikelihoods!).ToList();
            var requests = items.SelectMany(item => item.Choices.Select(choice =>
            {
                var context = f.Tokenizer.EncodeToIds(item.Prompt);
                var whole = f.Tokenizer.EncodeToIds(item.Prompt + choice);
                return (Input: (IReadOnlyList<int>)whole.ToArray(), Ctxlen: context.Count);
            })).ToList();
            var greedy = requests.Select(r => ReferenceGreedy(model, r.Input, r.Ctxlen)).ToList();
            return (sums, greedy, requests);
        });
        var requests = expected.requests;
        Assert.Contains(true, expected.greedy); // the check below can tell greedy from not
        Assert.Contains(false, expected.greedy);

        foreach (var maxTokens in new[] { 1, 0 })
        {
            var output = await Post("v1/completions", LmEvalLoglikBody(requests.Select(r => r.Input), steering, maxTokens));
            var parsed = ParseLogprobs(output, [.. requests.Select(r => r.Ctxlen)], dropLast: maxTokens == 1);
            for (var i = 0; i < requests.Count; i++)
            {
                Assert.Equal(expected.sums[i], parsed[i].Sum, Tolerance);
                Assert.Equal(expected.greedy[i], parsed[i].Greedy);
            }
            var first = output["choices"]![0]!["logprobs"]!;
            Assert.Null(first["token_logprobs"]![0]);
            Assert.Equal(requests[0].Input.Count + maxTokens, first["tokens"]!.AsArray().Count);
            Assert.Equal(steering.Profile, output["steering"]!["profile"]?.GetValue<string>());
        }
    }

    [SharedFact]
    public async Task Lm_eval_rolling_windows_sum_to_the_reference_log_likelihood_of_each_window()
    {
        // TemplateLM.loglikelihood_rolling: get_rolling_token_windows(tokens, prefix_token=BOS, max_seq_len=16,
        // context_len=1) then make_disjoint_window; each window is one loglikelihood request.
        var tokens = f.Tokenizer.EncodeToIds("Once upon a time, there was a little girl named Lily. She liked to play outside in the sun with her dog.", addBos: false);
        var windows = RollingWindows(tokens, f.Tokenizer.BosTokenId!.Value, maxSeqLen: 16).ToList();
        Assert.True(windows.Count >= 3);
        var inputs = windows.Select(w => (IReadOnlyList<int>)[.. w.Context, .. w.Continuation]).ToList();
        var ctxlens = windows.Select(w => w.Context.Count).ToList();
        var steering = new SteeringChoice("happy", 1.5f);
        var expected = f.Reference(steering, model => inputs.Select((ids, w) =>
        {
            var logits = model.Forward(ids);
            double sum = 0;
            for (var p = ctxlens[w]; p < ids.Count; p++) sum += ChoiceScorer.LogProbability(logits.Row(p - 1), ids[p]);
            return sum;
        }).ToList());
        var parsed = ParseLogprobs(await Post("v1/completions", LmEvalLoglikBody(inputs, steering)), ctxlens);
        for (var w = 0; w < windows.Count; w++) Assert.Equal(expected[w], parsed[w].Sum, Tolerance);
        Assert.Equal(tokens.Count, windows.Sum(w => w.Continuation.Count));
    }

    /// <summary>lm_eval.utils.get_rolling_token_windows with context_len 1, each made disjoint.</summary>
    private static IEnumerable<(IReadOnlyList<int> Context, IReadOnlyList<int> Continuation)> RollingWindows(IReadOnlyList<int> tokens, int prefix, int maxSeqLen)
    {
        var first = Math.Min(maxSeqLen, tokens.Count);
        IReadOnlyList<int> Disjoint(IReadOnlyList<int> a, IReadOnlyList<int> b) => [.. a.Take(a.Count - (b.Count - 1))];
        IReadOnlyList<int> firstCont = [.. tokens.Take(first)];
        yield return (Disjoint([prefix, .. tokens.Take(first - 1)], firstCont), firstCont);
        var predicted = first;
        while (predicted < tokens.Count)
        {
            var length = Math.Min(tokens.Count - predicted, maxSeqLen);
            var end = predicted + length;
            IReadOnlyList<int> context = [.. tokens.Skip(end - maxSeqLen - 1).Take(maxSeqLen)];
            IReadOnlyList<int> cont = [.. tokens.Skip(end - length).Take(length)];
            yield return (Disjoint(context, cont), cont);
            predicted += length;
        }
    }

    [SharedFact]
    public async Task Generated_tokens_carry_their_logprobs_top_alternatives_and_offsets_in_completions_and_chat()
    {
        const string prompt = "Lily liked";
        var steering = new SteeringChoice("calm", -1f);
        var promptIds = f.Tokenizer.EncodeToIds(prompt);
        var completion = await Post("v1/completions", new JsonObject
        {
            ["model"] = f.ModelId, ["prompt"] = prompt, ["max_tokens"] = 8, ["temperature"] = 0, ["logprobs"] = 3,
            ["steering"] = new JsonObject { ["profile"] = "calm", ["strength"] = -1 },
        });
        var chat = await Post("v1/chat/completions", new JsonObject
        {
            ["model"] = f.ModelId, ["messages"] = new JsonArray(new JsonObject { ["role"] = "user", ["content"] = prompt }),
            ["max_tokens"] = 8, ["temperature"] = 0, ["logprobs"] = true, ["top_logprobs"] = 3,
            ["steering"] = new JsonObject { ["profile"] = "calm", ["strength"] = -1 },
        });
        foreach (var answer in new[] { completion, chat })
        {
            var ids = answer["choices"]![0]!["token_ids"]!.AsArray().Select(n => n!.GetValue<int>()).ToArray();
            Assert.Equal(8, ids.Length);
            var expected = f.Reference(steering, model =>
            {
                var logits = model.Forward([.. promptIds, .. ids]);
                return ids.Select((id, i) => ChoiceScorer.LogProbability(logits.Row(promptIds.Count + i - 1), id)).ToArray();
            });
            double[] got;
            if (answer == completion)
            {
                var lp = answer["choices"]![0]!["logprobs"]!;
                got = [.. lp["token_logprobs"]!.AsArray().Select(n => n!.GetValue<double>())];
                var pieces = lp["tokens"]!.AsArray().Select(n => n!.GetValue<string>()).ToList();
                Assert.Equal(answer["choices"]![0]!["text"]!.GetValue<string>(), string.Concat(pieces));
                var offsets = lp["text_offset"]!.AsArray().Select(n => n!.GetValue<int>()).ToList();
                Assert.Equal(pieces.Select((_, i) => pieces.Take(i).Sum(p => p.Length)), offsets);
                foreach (var top in lp["top_logprobs"]!.AsArray())
                    Assert.InRange(top!.AsObject().Count, 3, 4); // the 3 most likely, and the token itself when not among them
            }
            else
            {
                var content = answer["choices"]![0]!["logprobs"]!["content"]!.AsArray();
                got = [.. content.Select(t => t!["logprob"]!.GetValue<double>())];
                foreach (var t in content)
                {
                    var top = t!["top_logprobs"]!.AsArray();
                    Assert.Equal(3, top.Count);
                    Assert.Equal(t["logprob"]!.GetValue<double>(), top[0]!["logprob"]!.GetValue<double>()); // greedy: the top one
                    Assert.Equal(Encoding.UTF8.GetBytes(t["token"]!.GetValue<string>()), t["bytes"]!.AsArray().Select(b => (byte)b!.GetValue<int>()));
                }
            }
            Assert.Equal(expected.Length, got.Length);
            for (var i = 0; i < got.Length; i++) Assert.Equal(expected[i], got[i], Tolerance);
        }
    }

    [SharedFact]
    public async Task Echo_repeats_a_text_prompt_and_scores_it_and_max_tokens_0_needs_echo()
    {
        var answer = await Post("v1/completions", new JsonObject
        {
            ["model"] = f.ModelId, ["prompt"] = new JsonArray("Once upon a time", "Lily liked"), ["max_tokens"] = 0, ["echo"] = true, ["logprobs"] = 0,
        });
        var choices = answer["choices"]!.AsArray();
        Assert.Equal(2, choices.Count);
        Assert.Equal("Once upon a time", choices[0]!["text"]!.GetValue<string>());
        Assert.Equal("Lily liked", choices[1]!["text"]!.GetValue<string>());
        Assert.Equal(f.Tokenizer.EncodeToIds("Lily liked").Count, choices[1]!["logprobs"]!["token_logprobs"]!.AsArray().Count);

        using var refused = await f.Http.PostAsync("v1/completions", new StringContent(
            new JsonObject { ["model"] = f.ModelId, ["prompt"] = "Lily", ["max_tokens"] = 0 }.ToJsonString(), Encoding.UTF8, "application/json"));
        Assert.Equal(HttpStatusCode.BadRequest, refused.StatusCode);
    }
}
