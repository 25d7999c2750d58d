using System.Text.Json.Nodes;
using OnnxSteer.Tests.Infrastructure;
using OnnxSteer.Tokenizers;
using Xunit;

namespace OnnxSteer.Tests.Tokenizers;

/// <summary>
/// A Sequence normalizer with tens of thousands of steps (found by the 20k-input fuzz run: 34,628 Prepend steps made one
/// encode allocate 1.2 GB) is refused when loaded, naming the file; a realistic one still loads.
/// </summary>
public class SequenceLimitTests
{
    [SharedFact]
    public void Huge_normalizer_sequence_is_refused_and_a_small_one_loads()
    {
        var original = JsonNode.Parse(File.ReadAllText(Path.Combine(SharedData.TinyGenaiModelDir, "tokenizer.json")))!;
        var dir = Directory.CreateDirectory(Path.Combine(Path.GetTempPath(), "onnxsteer-tok-" + Guid.NewGuid().ToString("N"))).FullName;
        try
        {
            string Write(int prepends)
            {
                var json = original.DeepClone();
                var steps = new JsonArray();
                for (var i = 0; i < prepends; i++) steps.Add(new JsonObject { ["type"] = "Prepend", ["prepend"] = "▁" });
                json["normalizer"] = new JsonObject { ["type"] = "Sequence", ["normalizers"] = steps };
                var path = Path.Combine(dir, $"tokenizer-{prepends}.json");
                File.WriteAllText(path, json.ToJsonString());
                return path;
            }

            var big = Write(TokenizerLoader.MaxSequenceSteps + 1);
            var e = Assert.Throws<InvalidTokenizerException>(() => TokenizerLoader.Load(big));
            Assert.Contains(big, e.Message);
            Assert.Contains($"{TokenizerLoader.MaxSequenceSteps + 1} steps", e.Message);

            // Two Prepends of "▁" before "Hi": the normalized text starts with two of them.
            var small = TokenizerLoader.LoadBpe(Write(2));
            Assert.Equal("▁▁Hi", string.Concat(small.EncodeToTokens("Hi")));
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }
}
