using System.Diagnostics;
using System.Globalization;
using Microsoft.ML.OnnxRuntimeGenAI;
using OnnxSteer.Tokenizers;

namespace OnnxSteer.Bench;

/// <summary>
/// Issue 32 item 4: what onnxruntime-genai 0.20 can batch, measured on the model the serve bench runs. Its C# API has
/// static batches only — <c>GeneratorParams.SetSearchOption("batch_size", B)</c>, then one <c>AppendTokens</c> of B
/// prompts laid end to end (B × L ids: equal lengths, or left-padded with the pad id), then steps that advance every
/// row together; no request can join a running batch (no continuous batching, no engine/request API in 0.20), and one
/// adapter per generator means one steering setting per batch. This probe runs B copies of one greedy prompt as one
/// batch and as B one-row generators, checks every row gives the single-row answer, and times both; then it tries two
/// prompts of different lengths, left-padded, and says whether each row still gives its own single-row answer.
/// </summary>
public static class GenaiBatchProbe
{
    public static void Run(string modelDir, string prompt, string otherPrompt, int maxTokens, int[] batchSizes, Report report)
    {
        var tokenizer = TokenizerLoader.Load(modelDir);
        using var model = new Model(modelDir);
        var ids = tokenizer.EncodeToIds(prompt).ToArray();
        var single = Generate(model, [ids], maxTokens)[0]; // also the warm-up

        report.Line($"### genai 0.20 static batches ({DateTime.UtcNow:yyyy-MM-dd HH:mm} UTC, `{Path.GetFileName(modelDir)}`)");
        report.Line();
        report.Line($"B copies of one {ids.Length}-token greedy prompt, {maxTokens} new tokens each: one genai generator with `batch_size` B " +
                    "against B one-row generators run one after the other (in-process, no HTTP). Median of 3.");
        report.Line();
        report.Line("| B | one batch: tokens/s | B one-row runs: tokens/s | batch / sequential | rows equal to the one-row answer |");
        report.Line("|---|---|---|---|---|");
        foreach (var b in batchSizes)
        {
            var rows = Enumerable.Repeat(ids, b).ToArray();
            int[][] batched = [];
            double batchSeconds;
            try { batchSeconds = Median(3, () => batched = Generate(model, rows, maxTokens)); }
            catch (OnnxRuntimeGenAIException e)
            {
                report.Line($"| {b} | genai refuses: {e.Message} | | | |");
                continue;
            }
            var sequentialSeconds = Median(3, () => { foreach (var r in rows) Generate(model, [r], maxTokens); });
            var tokens = (double)b * single.Length;
            var equal = batched.Count(r => r.SequenceEqual(single));
            report.Line($"| {b} | {F(tokens / batchSeconds)} | {F(tokens / sequentialSeconds)} | {F(sequentialSeconds / batchSeconds)}× | {equal}/{b} |");
        }
        report.Line();

        // Different lengths: left-pad the shorter prompt with the pad id (what genai's own batch encoding does).
        var other = tokenizer.EncodeToIds(otherPrompt).ToArray();
        string padded;
        try
        {
            var pad = PadId(modelDir);
            var length = Math.Max(ids.Length, other.Length);
            int[] Left(int[] r) => [.. Enumerable.Repeat(pad, length - r.Length), .. r];
            var both = Generate(model, [Left(ids), Left(other)], maxTokens);
            var alone = Generate(model, [other], maxTokens)[0];
            padded = $"rows equal to their one-row answers: {(both[0].SequenceEqual(single) ? "yes" : "no")} ({ids.Length} tokens), " +
                     $"{(both[1].SequenceEqual(alone) ? "yes" : "no")} ({other.Length} tokens)";
        }
        catch (Exception e) when (e is OnnxRuntimeGenAIException or InvalidOperationException)
        {
            padded = $"genai refused it: {e.Message}";
        }
        report.Line($"Two prompts of different lengths in one batch, left-padded with the pad id: {padded}. " +
                    $"Load average at the end: {File.ReadAllText("/proc/loadavg").Split(' ')[0]}.");
        report.Line();
    }

    /// <summary>Greedy new tokens of each row, all rows in one generator (rows laid end to end, equal lengths).</summary>
    private static int[][] Generate(Model model, int[][] rows, int maxTokens)
    {
        var length = rows[0].Length;
        using var options = new GeneratorParams(model);
        options.SetSearchOption("batch_size", rows.Length);
        options.SetSearchOption("max_length", length + maxTokens);
        options.SetSearchOption("do_sample", false);
        using var generator = new Generator(model, options);
        generator.AppendTokens(rows.SelectMany(r => r).ToArray());
        for (var step = 0; step < maxTokens && !generator.IsDone(); step++) generator.GenerateNextToken();
        return [.. Enumerable.Range(0, rows.Length).Select(i => generator.GetSequence((ulong)i)[length..].ToArray())];
    }

    private static int PadId(string modelDir) =>
        OnnxSteer.ModelFiles.GenaiConfigFile.TryRead(modelDir) is { } c && c.PadTokenId is { } p ? p : 0;

    private static double Median(int times, Action run)
    {
        var seconds = new double[times];
        for (var i = 0; i < times; i++)
        {
            var clock = Stopwatch.StartNew();
            run();
            seconds[i] = clock.Elapsed.TotalSeconds;
        }
        Array.Sort(seconds);
        return seconds[times / 2];
    }

    private static string F(double v) => v.ToString(v >= 100 ? "F0" : v >= 10 ? "F1" : "F2", CultureInfo.InvariantCulture);
}
