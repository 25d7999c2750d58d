using System.Text.Json;
using OnnxSteer.Generation;
using OnnxSteer.ModelFiles;
using OnnxSteer.Patching;
using OnnxSteer.Sites;
using OnnxSteer.Tests.Infrastructure;
using OnnxSteer.Tests.Patching;
using OnnxSteer.Tokenizers;
using Xunit;

namespace OnnxSteer.Tests.Comparison;

/// <summary>
/// <c>onnxsteer compare</c> end to end on stories260K: the continuations are the models' greedy ones (checked against a
/// full-recompute argmax loop, no KV cache), the word counts match an independent count, the JSON names its schema, and
/// <c>--strength 0</c> on a switchable steered model reproduces the vanilla side.
/// </summary>
public class CompareCommandTests
{
    private static readonly string[] Prompts = ["Once upon a time", "The little dog", "Lily was sad because"];
    private const int MaxNew = 12;

    /// <summary>Greedy continuation by re-running the whole sequence each step: independent of the KV-cache path.</summary>
    private static string GreedyByRecompute(DecoderModel model, ITokenizer tok, string prompt)
    {
        var ids = tok.EncodeToIds(prompt, addBos: true).ToList();
        var promptCount = ids.Count;
        var generated = new List<int>();
        for (var step = 0; step < MaxNew; step++)
        {
            var logits = model.Forward(ids);
            var last = logits.Data.AsSpan((ids.Count - 1) * logits.VocabSize, logits.VocabSize);
            var next = 0;
            for (var v = 1; v < last.Length; v++) if (last[v] > last[next]) next = v;
            if (next == tok.EosTokenId) break;
            ids.Add(next);
            generated.Add(next);
        }
        // The continuation as it reads after the prompt: the first token keeps its leading space.
        return tok.Decode(ids)[tok.Decode(ids.Take(promptCount)).Length..];
    }

    private static int Hits(string text, string[] words) =>
        new string(text.Select(c => char.IsLetter(c) ? char.ToLowerInvariant(c) : ' ').ToArray())
            .Split(' ', StringSplitOptions.RemoveEmptyEntries).Count(words.Contains);

    [SharedFact]
    public void Continuations_counts_json_and_strength_zero()
    {
        var vanilla = ImportedModels.Get("genai", "fp32");
        using var tmp = new TempDir();
        var model = OnnxModel.Load(Path.Combine(vanilla, "model.onnx"));
        var profile = TestProfiles.Save(TestProfiles.Make(model, SiteFinder.Find(model).Sites, k: 24, alpha: 6), tmp.Path);
        var steered = Steerer.Patch(vanilla, profile, tmp["steered"], new PatchSettings { Switchable = true });
        var prompts = tmp["prompts.txt"];
        File.WriteAllLines(prompts, [Prompts[0], "", .. Prompts[1..]]); // a blank line is ignored

        var json = tmp["compare.json"];
        var (code, stdout, stderr) = CliProcess.Run(tmp.Path, "compare", vanilla, tmp["steered"], "--prompts", prompts,
            "--max-new-tokens", MaxNew.ToString(), "--count", "she,her", "--count", "dog", "-o", json);
        Assert.True(code == 0, stderr);
        Assert.Contains("Once upon a time", stdout);

        using var doc = JsonDocument.Parse(File.ReadAllText(json));
        var root = doc.RootElement;
        Assert.Equal("onnxsteer.compare/1", root.GetProperty("schema").GetString());
        var pairs = root.GetProperty("pairs").EnumerateArray().ToList();
        Assert.Equal(Prompts, pairs.Select(p => p.GetProperty("prompt").GetString()));

        var tok = TokenizerLoader.Load(vanilla);
        List<string> Continuations(string modelDir)
        {
            using var model = DecoderModel.Open(modelDir);
            return Prompts.Select(p => GreedyByRecompute(model, tok, p)).ToList();
        }
        var vanillaTexts = Continuations(vanilla);
        var steeredTexts = Continuations(tmp["steered"]);
        Assert.Equal(vanillaTexts, pairs.Select(p => p.GetProperty("vanilla").GetString()));
        Assert.Equal(steeredTexts, pairs.Select(p => p.GetProperty("steered").GetString()));
        Assert.NotEqual(vanillaTexts, steeredTexts); // k 24, alpha 6 moves a 260K model

        var counts = root.GetProperty("counts").EnumerateArray().ToList();
        string[][] groups = [["she", "her"], ["dog"]];
        for (var g = 0; g < groups.Length; g++)
        {
            Assert.Equal(vanillaTexts.Sum(t => Hits(t, groups[g])), counts[g].GetProperty("vanillaHits").GetInt32());
            Assert.Equal(steeredTexts.Sum(t => Hits(t, groups[g])), counts[g].GetProperty("steeredHits").GetInt32());
            Assert.Equal(vanillaTexts.Count(t => Hits(t, groups[g]) > 0), counts[g].GetProperty("vanillaPrompts").GetInt32());
        }

        // The steered model at strength 0 is the vanilla model: both columns agree. (The file is replaced only with
        // --force; '--json FILE' is the old spelling of -o FILE, still accepted.)
        (code, _, stderr) = CliProcess.Run(tmp.Path, "compare", vanilla, tmp["steered"], "--prompts", prompts,
            "--max-new-tokens", MaxNew.ToString(), "--strength", "0", "--json", json, "--force");
        Assert.True(code == 0, stderr);
        using var off = JsonDocument.Parse(File.ReadAllText(json));
        foreach (var p in off.RootElement.GetProperty("pairs").EnumerateArray())
            Assert.Equal(p.GetProperty("vanilla").GetString(), p.GetProperty("steered").GetString());
    }
}
