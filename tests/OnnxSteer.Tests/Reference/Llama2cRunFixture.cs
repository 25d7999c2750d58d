using System.Security.Cryptography;
using System.Text.Json;
using OnnxSteer.Tests.Infrastructure;

namespace OnnxSteer.Tests.Reference;

/// <summary>
/// What llama2.c's own run.c computed on ../shared/models/stories260K (Fixtures/stories260K-llama2c.json, made by
/// tests/llama2c-fixture/generate.mjs): an anchor outside this repository, so that a bug shared by OnnxSteer's checkpoint
/// reader, its config defaults (eps, RoPE theta) and every exporter cannot hide behind agreement among them.
/// </summary>
internal sealed class Llama2cRunFixture
{
    public static string FilePath { get; } =
        Path.Combine(SharedData.RepoRoot, "tests", "OnnxSteer.Tests", "Reference", "Fixtures", "stories260K-llama2c.json");

    private static readonly Lazy<Llama2cRunFixture> Loaded = new(() => new Llama2cRunFixture(FilePath));

    /// <summary>The fixture, read once.</summary>
    public static Llama2cRunFixture Instance => Loaded.Value;

    /// <summary>SHA-256 (lowercase hex) of the checkpoint and tokenizer run.c read.</summary>
    public string CheckpointSha256 { get; }
    public string TokenizerSha256 { get; }

    /// <summary>BOS (1), then run.c's argmax token at each step (run.c stops after a BOS).</summary>
    public IReadOnlyList<int> GreedyIds { get; }

    /// <summary>run.c's logits after the step at each recorded position (position 0 fed BOS).</summary>
    public IReadOnlyDictionary<int, float[]> LogitsAtStep { get; }

    /// <summary>run.c's encoder (dummy " " prefix, no BOS) on each string.</summary>
    public IReadOnlyList<(string Text, int[] Ids)> Encoder { get; }

    private Llama2cRunFixture(string path)
    {
        using var doc = JsonDocument.Parse(File.ReadAllText(path));
        var root = doc.RootElement;
        CheckpointSha256 = root.GetProperty("checkpointSha256").GetString()!;
        TokenizerSha256 = root.GetProperty("tokenizerSha256").GetString()!;
        GreedyIds = root.GetProperty("greedyFromBos").GetProperty("ids").EnumerateArray().Select(e => e.GetInt32()).ToList();
        LogitsAtStep = root.GetProperty("logitsAtStep").EnumerateObject()
            .ToDictionary(p => int.Parse(p.Name), p => p.Value.EnumerateArray().Select(e => e.GetSingle()).ToArray());
        Encoder = root.GetProperty("encoder").EnumerateArray()
            .Select(c => (c.GetProperty("text").GetString()!, c.GetProperty("ids").EnumerateArray().Select(e => e.GetInt32()).ToArray()))
            .ToList();
    }

    /// <summary>SHA-256 of a file as lowercase hex.</summary>
    public static string Sha256(string path) => Convert.ToHexStringLower(SHA256.HashData(File.ReadAllBytes(path)));

    /// <summary>Largest |a - b| over two logit rows of equal length.</summary>
    public static double MaxAbsDifference(ReadOnlySpan<float> a, ReadOnlySpan<float> b)
    {
        if (a.Length != b.Length) throw new ArgumentException($"lengths differ: {a.Length} vs {b.Length}");
        double worst = 0;
        for (int i = 0; i < a.Length; i++) worst = Math.Max(worst, Math.Abs((double)a[i] - b[i]));
        return worst;
    }
}
