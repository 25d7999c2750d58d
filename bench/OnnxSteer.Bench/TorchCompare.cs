using System.Diagnostics;
using System.Text.Json.Nodes;
using OnnxSteer.Generation;
using OnnxSteer.Import;
using OnnxSteer.Pairs;
using OnnxSteer.Profiles;
using OnnxSteer.ProfileRuns;
using OnnxSteer.Recording;
using OnnxSteer.Runtime;
using OnnxSteer.Tokenizers;

namespace OnnxSteer.Bench;

/// <summary>
/// OnnxSteer's side of bench/torch/compare.py (the PyTorch comparison of issue 29), each a fresh process that prints
/// one JSON object: what a user's run of <c>onnxsteer profile</c> or <c>generate</c> does, timed inside, so that the
/// driver can set the same pairs, prompt and threads for PyTorch and compare both.
/// </summary>
public static class TorchCompare
{
    /// <summary>
    /// torch-checkpoint OUT.bin LAYERS HIDDEN INTERMEDIATE HEADS VOCAB: the llama2.c checkpoint of the weights
    /// <c>onnxsteer synth llama</c> exports for that shape (seed 0, context 2048), for the PyTorch side.
    /// </summary>
    public static int Checkpoint(string output, int layers, int hidden, int intermediate, int heads, int vocab)
    {
        var config = new LlamaConfig(hidden, intermediate, layers, heads, heads, vocab, 2048);
        using var file = File.Create(output + ".tmp");
        Llama2cCheckpoint.Write(new SyntheticLlamaWeights(config, 0), file);
        file.Close();
        File.Move(output + ".tmp", output, overwrite: true);
        return 0;
    }

    /// <summary>
    /// torch-job MODEL_DIR PAIRS_JSONL PROMPT NEW_TOKENS PROFILE OUT.json: the token ids both sides run (pairs encoded as
    /// <c>profile</c> encodes them, the prompt as <c>generate</c> does) and the steering of PROFILE's selected units.
    /// </summary>
    public static int Job(string modelDir, string pairsFile, string prompt, int newTokens, string profileFile, string output)
    {
        var tokenizer = TokenizerLoader.Load(modelDir);
        var encoder = new SequenceEncoder(tokenizer, ProfileRunner.ContextLength(modelDir) ?? ProfileRunner.DefaultMaxTokens);
        var pairs = PairsJsonl.Read(pairsFile, new PairOptions()).Pairs.Select(encoder.Encode)
            .Select(p => new JsonArray(Ids(p.Positive), Ids(p.Negative))).ToArray<JsonNode?>();
        var profile = ProfileJson.LoadSelection(profileFile);
        var steer = profile.Units.Select(u => new JsonArray(u.Site.Split('.')[0], u.Layer, u.Index, u.Gamma)).ToArray<JsonNode?>();
        var job = new JsonObject
        {
            ["pairs"] = new JsonArray(pairs),
            ["pairs_per_batch"] = new ProfileSettings().BatchSize / 2,
            ["prompt"] = Ids(tokenizer.EncodeToIds(prompt)),
            ["new_tokens"] = newTokens,
            ["steer"] = new JsonArray(steer),
        };
        File.WriteAllText(output, job.ToJsonString());
        return 0;
    }

    private static JsonArray Ids(IEnumerable<int> ids) => new(ids.Select(i => (JsonNode?)i).ToArray());

    /// <summary>task-pairs TASK DATA N OUT.jsonl: the first N pairs of a benchmark task in the method's templates (what
    /// <c>profile --task</c> builds), written as <c>--pairs</c> JSON Lines so both sides read the same pairs.</summary>
    public static int TaskPairsFile(string task, string data, int count, string output)
    {
        var pairs = TaskPairs.Build(BenchmarkTasks.Parse(task), data, new PairOptions(Limit: count));
        File.WriteAllLines(output, pairs.Pairs.Select(p => new JsonObject { ["prompt"] = p.Prompt, ["positive"] = p.Positive, ["negative"] = p.Negative }.ToJsonString()));
        return 0;
    }

    /// <summary>
    /// torch-onnx-profile MODEL_DIR PAIRS_JSONL THREADS: the profile command's run (ProfileRunner, in process) on the pairs;
    /// steady pairs/s after the first batch, and the counts in site order (attn, mlp, mlp-out, by layer).
    /// </summary>
    public static int Profile(string modelDir, string pairsFile, int threads)
    {
        var clock = Stopwatch.StartNew();
        var pairs = PairsJsonl.Read(pairsFile, new PairOptions());
        var settings = new ProfileSettings { Runtime = new RuntimeSettings { Threads = threads } };
        var reports = new List<(int Pairs, double Seconds)>();
        var progress = new Progress(p => reports.Add((p.PairsDone, clock.Elapsed.TotalSeconds)));
        var profile = ProfileRunner.Run(new ProfileRequest { ModelPath = modelDir, Pairs = pairs, Settings = settings }, progress);
        var total = clock.Elapsed.TotalSeconds;
        var (firstPairs, firstAt) = reports[0];
        var steady = reports.Count > 1 ? (reports[^1].Pairs - firstPairs) / (reports[^1].Seconds - firstAt) : firstPairs / firstAt;
        var result = new JsonObject
        {
            ["threads"] = settings.Runtime.IntraOpThreads,
            ["steady_pairs_per_s"] = steady,
            ["total_s"] = total,
            ["pairs"] = profile.Pairs,
            ["positive"] = new JsonArray(profile.Counts.Select(c => (JsonNode?)Ids(c.Positive)).ToArray()),
            ["negative"] = new JsonArray(profile.Counts.Select(c => (JsonNode?)Ids(c.Negative)).ToArray()),
            ["sites"] = new JsonArray(profile.Counts.Select(c => (JsonNode?)c.Site).ToArray()),
        };
        Console.WriteLine(result.ToJsonString());
        return 0;
    }

    /// <summary>
    /// torch-onnx-decode MODEL_DIR JOB.json THREADS: greedy decoding in OnnxSteer's own loop (what <c>generate</c> runs),
    /// EOS ignored so both sides make the same number of tokens; prefill seconds and decode tokens/s.
    /// </summary>
    public static int Decode(string modelDir, string jobFile, int threads)
    {
        var clock = Stopwatch.StartNew();
        var job = JsonNode.Parse(File.ReadAllText(jobFile))!;
        var prompt = job["prompt"]!.AsArray().Select(n => n!.GetValue<int>()).ToList();
        var newTokens = job["new_tokens"]!.GetValue<int>();
        var settings = new RuntimeSettings { Threads = threads };
        using var model = DecoderModel.Open(modelDir, settings);
        var generator = new Generator(model) { EosTokenIds = [] };
        var tokens = new List<int>();
        double? first = null;
        var started = Stopwatch.StartNew();
        foreach (var token in generator.Stream(prompt, new SamplingSettings { MaxTokens = newTokens }))
        {
            tokens.Add(token);
            first ??= started.Elapsed.TotalSeconds;
        }
        var decode = started.Elapsed.TotalSeconds - first!.Value;
        var result = new JsonObject
        {
            ["threads"] = settings.IntraOpThreads,
            ["tokens"] = Ids(tokens),
            ["prefill_s"] = first,
            ["decode_tokens_per_s"] = (tokens.Count - 1) / decode,
            ["total_s"] = clock.Elapsed.TotalSeconds,
        };
        Console.WriteLine(result.ToJsonString());
        return 0;
    }

    private sealed class Progress(Action<ProfileProgress> report) : IProgress<ProfileProgress>
    {
        public void Report(ProfileProgress value) => report(value);
    }
}
