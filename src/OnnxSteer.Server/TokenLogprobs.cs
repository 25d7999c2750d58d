using OnnxSteer.Generation;
using OnnxSteer.Tokenizers;

namespace OnnxSteer.Server;

/// <summary>One scored token: its log-probability at its position and the most likely tokens there.</summary>
/// <param name="Token">The token's id.</param>
/// <param name="Logprob">log softmax(logits)[token]; null for a sequence's first token, which has no position before it.</param>
/// <param name="Top">The most likely ids at that position, most likely first (ties: lower id first), with their log-probabilities.</param>
public sealed record TokenLogprob(int Token, double? Logprob, IReadOnlyList<(int Token, double Logprob)> Top);

/// <summary>
/// Turns logit rows into log-probabilities, as <c>onnxsteer eval --mode loglik</c> does (Evaluation's ChoiceScorer):
/// log softmax in double over the float logits, <c>x[t] − max − log Σ exp(x − max)</c>, so a client summing a
/// continuation's <c>token_logprobs</c> gets the number eval reports for the same tokens.
/// </summary>
public sealed class LogprobRecorder(int top, bool wantsPrompt) : ILogitsSink
{
    private readonly List<TokenLogprob> _tokens = [];

    /// <summary>The tokens scored so far, in order.</summary>
    public IReadOnlyList<TokenLogprob> Tokens => _tokens;

    public bool WantsPrompt => wantsPrompt;

    public void Row(ReadOnlySpan<float> logits, int token)
    {
        if ((uint)token >= (uint)logits.Length) throw new ArgumentOutOfRangeException(nameof(token), token, $"beyond the {logits.Length} logits");
        double max = double.NegativeInfinity;
        foreach (var v in logits) if (v > max) max = v;
        double sum = 0;
        foreach (var v in logits) sum += Math.Exp(v - max);
        var logSum = Math.Log(sum);
        _tokens.Add(new TokenLogprob(token, logits[token] - max - logSum, TopOf(logits, top, max, logSum)));
    }

    /// <summary>Adds a token without a position before it (the first prompt token under echo).</summary>
    public void Unscored(int token) => _tokens.Add(new TokenLogprob(token, null, []));

    /// <summary>The <paramref name="count"/> largest logits' ids and log-probabilities, largest first, ties to the lower id.</summary>
    private static (int, double)[] TopOf(ReadOnlySpan<float> logits, int count, double max, double logSum)
    {
        count = Math.Min(count, logits.Length);
        if (count == 0) return [];
        var best = new List<int>(count + 1);
        for (var i = 0; i < logits.Length; i++)
        {
            if (best.Count == count && logits[i] <= logits[best[^1]]) continue;
            var at = best.Count;
            while (at > 0 && logits[i] > logits[best[at - 1]]) at--;
            best.Insert(at, i);
            if (best.Count > count) best.RemoveAt(count);
        }
        var top = new (int, double)[best.Count];
        for (var i = 0; i < top.Length; i++) top[i] = (best[i], logits[best[i]] - max - logSum);
        return top;
    }
}

/// <summary>
/// The text of each token of a sequence as it reads in place: the decoded text of a few tokens before it and the token,
/// minus that of the tokens before it — so a SentencePiece word keeps its leading space, and a character split over
/// several byte tokens lands on the token that completes it (earlier ones read "").
/// </summary>
internal sealed class TokenTexts(ITokenizer tokenizer, IReadOnlyList<int> sequence)
{
    // Enough tokens before a position to complete any UTF-8 character (4 bytes) and fix the leading space.
    private const int Window = 6;

    /// <summary>The text of <c>sequence[index]</c>, or of <paramref name="replacement"/> put in its place.</summary>
    public string Piece(int index, int? replacement = null)
    {
        var start = Math.Max(0, index - Window);
        var before = new List<int>(Window + 1);
        for (var i = start; i < index; i++) before.Add(sequence[i]);
        // A character still incomplete before this token reads as U+FFFD there; this token may complete it.
        var head = tokenizer.Decode(before).TrimEnd('\uFFFD');
        before.Add(replacement ?? sequence[index]);
        var whole = tokenizer.Decode(before);
        if (whole.EndsWith('\uFFFD')) return "";
        return whole.StartsWith(head, StringComparison.Ordinal) ? whole[head.Length..] : tokenizer.Decode([replacement ?? sequence[index]]);
    }
}
