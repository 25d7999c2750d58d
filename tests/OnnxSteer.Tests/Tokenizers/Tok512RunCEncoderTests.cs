using OnnxSteer.Tests.Infrastructure;
using OnnxSteer.Tests.Reference;
using OnnxSteer.Tokenizers;
using Xunit;

namespace OnnxSteer.Tests.Tokenizers;

/// <summary>
/// stories260K's tok512.bin encoded by OnnxSteer against llama2.c run.c's own encoder output (the
/// <see cref="Llama2cRunFixture"/>'s 435 strings, read by run.c's tokenizer loader, not ours). The C# port of run.c's
/// encoder in <see cref="Llama2cTokenizerTests"/> reads pieces through OnnxSteer's reader; this one does not.
/// </summary>
public sealed class Tok512RunCEncoderTests
{
    private static string TokPath => Path.Combine(SharedData.Stories260KDir, "tok512.bin");

    [SharedFact]
    public void Encoding_tok512_directly_equals_run_c()
    {
        var tokenizer = TokenizerLoader.Load(TokPath);
        AssertEncodesLikeRunC(tokenizer);
    }

    [SharedFact]
    public void Encoding_with_the_hugging_face_files_written_from_tok512_equals_run_c()
    {
        using var dir = new Patching.TempDir();
        Llama2cTokenizerFile.Read(TokPath).WriteHuggingFaceFiles(dir.Path);
        AssertEncodesLikeRunC(TokenizerLoader.Load(dir.Path));
    }

    private static void AssertEncodesLikeRunC(ITokenizer tokenizer)
    {
        var cases = Llama2cRunFixture.Instance.Encoder;
        Assert.True(cases.Count >= 400, $"only {cases.Count} strings");
        var mismatches = cases
            .Select(c => (c.Text, Expected: c.Ids, Actual: tokenizer.EncodeToIds(c.Text, addBos: false)))
            .Where(x => !x.Expected.SequenceEqual(x.Actual))
            .Select(x => $"{System.Text.Json.JsonSerializer.Serialize(x.Text)}: run.c [{string.Join(',', x.Expected)}] ours [{string.Join(',', x.Actual)}]")
            .ToList();
        Assert.True(mismatches.Count == 0, $"{mismatches.Count}/{cases.Count} differ:\n" + string.Join('\n', mismatches.Take(10)));
    }
}
