using System.Diagnostics;
using System.Text;
using System.Text.Json;
using OnnxSteer.Tokenizers;

namespace OnnxSteer.Bench;

/// <summary>
/// B4: one timed encode pass of a text file, line by line, with OnnxSteer's tokenizer; bench/run.sh alternates it with
/// bench/node/encode.mjs (@huggingface/tokenizers) on the same file. Both warm up on the first 5% of the lines.
/// </summary>
public static class TokenizerBench
{
    public static int EncodeOnce(string tokenizerJson, string textFile)
    {
        var tokenizer = TokenizerLoader.Load(tokenizerJson);
        var text = File.ReadAllText(textFile);
        var lines = text.Split('\n');
        long Encode(IEnumerable<string> list)
        {
            long n = 0;
            foreach (var l in list) n += tokenizer.EncodeToIds(l, addBos: false).Count;
            return n;
        }
        Encode(lines.Take((lines.Length + 19) / 20));
        var clock = Stopwatch.StartNew();
        var ids = Encode(lines);
        var seconds = clock.Elapsed.TotalSeconds;
        var megabytes = Encoding.UTF8.GetByteCount(text) / 1e6;
        Console.WriteLine(JsonSerializer.Serialize(new { implementation = "OnnxSteer", megabytes, lines = lines.Length, ids, seconds, mbps = megabytes / seconds }));
        return 0;
    }

    /// <summary>Summarises the JSON lines of alternating runs of both implementations (see bench/run.sh).</summary>
    public static void Summarise(string jsonLines, string tokenizerJson, Report report)
    {
        var runs = File.ReadLines(jsonLines).Where(l => l.StartsWith('{')).Select(l => JsonDocument.Parse(l).RootElement).ToList();
        var byImpl = runs.GroupBy(r => r.GetProperty("implementation").GetString()!).ToDictionary(g => g.Key, g => g.ToList());
        var ours = byImpl["OnnxSteer"];
        var mb = ours[0].GetProperty("megabytes").GetDouble();
        report.Line($"## B4 — tokenizer encode throughput ({ours.Count} alternating runs each)");
        report.Line();
        report.Line($"Tokenizer `{tokenizerJson}` (Llama-2 BPE, 32000 tokens). Text: {Md.F(mb, "0.00")} MB (UTF-8) of mixed text, one record per line:");
        report.Line("every string field of the JSONL task files under ../shared/data (RealToxicityPrompts web text with its Unicode, BoolQ passages,");
        report.Line("COPA, SVAMP word problems with numbers, WinoGrande), records picked round the files to 2.5 MB; encoded line by line without BOS. Each run is a fresh process that");
        report.Line("loads the tokenizer, encodes the first 5% of lines untimed (warm-up/JIT), then times one pass over all lines; the two");
        report.Line("implementations alternate run by run.");
        report.Line();
        report.Line("| implementation | MB/s median | min–max | ids | seconds median |");
        report.Line("|---|---|---|---|---|");
        foreach (var (name, list) in byImpl)
        {
            var rate = Stat.Of(list.Select(r => r.GetProperty("mbps").GetDouble()).ToList());
            var secs = Stat.Of(list.Select(r => r.GetProperty("seconds").GetDouble()).ToList());
            var ids = string.Join(", ", list.Select(r => r.GetProperty("ids").GetInt64()).Distinct());
            report.Line($"| {name} | {Md.F(rate.Median, "0.00")} | {Md.F(rate.Min, "0.00")}–{Md.F(rate.Max, "0.00")} | {ids} | {Md.F(secs.Median)} s |");
        }
        report.Line();
        if (byImpl.TryGetValue("@huggingface/tokenizers", out var theirs) && theirs.Count == ours.Count)
        {
            var ratio = Stat.Paired(theirs.Select(r => r.GetProperty("seconds").GetDouble()).ToList(), ours.Select(r => r.GetProperty("seconds").GetDouble()).ToList());
            report.Line($"Throughput OnnxSteer / @huggingface/tokenizers (per-run pairs of times): **{Md.Ratio(ratio)}×**. Equal id counts mean both split the text into the same number of tokens.");
        }
        else report.Line("The independent implementation did not run (see the notes): no ratio.");
        report.Line();
    }

    /// <summary>
    /// The B4 text: every string value of the JSONL task files under ../shared/data (prompts, passages, questions,
    /// answers: English prose, toxic web text with its odd Unicode, numbers in word problems), one per line, picked
    /// by a fixed stride to 2.5 MB. Written once.
    /// </summary>
    public static int WriteText(string output)
    {
        if (File.Exists(output)) return 0;
        var root = Path.Combine(FindRepoRoot(), "..", "shared", "data");
        var lines = new List<string>();
        foreach (var file in Directory.EnumerateFiles(root, "*.jsonl", SearchOption.AllDirectories).Order(StringComparer.Ordinal))
            foreach (var line in File.ReadLines(file))
            {
                if (string.IsNullOrWhiteSpace(line)) continue;
                using var doc = JsonDocument.Parse(line);
                Collect(doc.RootElement, lines);
            }
        // Round-robin over the files' records (interleaving the sources) until 2.5 MB.
        var sb = new StringBuilder();
        long bytes = 0;
        for (var i = 0; bytes < 2_500_000; i = (i + 7919) % lines.Count)
        {
            var l = lines[i].Replace('\n', ' ').Replace('\r', ' ');
            sb.Append(l).Append('\n');
            bytes += Encoding.UTF8.GetByteCount(l) + 1;
        }
        Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(output))!);
        File.WriteAllText(output, sb.ToString().TrimEnd('\n'));
        return 0;
    }

    private static void Collect(JsonElement e, List<string> into)
    {
        switch (e.ValueKind)
        {
            case JsonValueKind.String:
                if (e.GetString() is { Length: > 0 } s) into.Add(s);
                break;
            case JsonValueKind.Object:
                foreach (var p in e.EnumerateObject()) Collect(p.Value, into);
                break;
            case JsonValueKind.Array:
                foreach (var x in e.EnumerateArray()) Collect(x, into);
                break;
        }
    }

    private static string FindRepoRoot()
    {
        for (var d = new DirectoryInfo(AppContext.BaseDirectory); d is not null; d = d.Parent)
            if (File.Exists(Path.Combine(d.FullName, "OnnxSteer.sln"))) return d.FullName;
        return Directory.GetCurrentDirectory();
    }
}
