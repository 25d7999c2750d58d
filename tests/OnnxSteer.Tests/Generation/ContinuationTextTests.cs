using System.Text.Json;
using OnnxSteer.Generation;
using OnnxSteer.Import;
using OnnxSteer.Tests.Infrastructure;
using OnnxSteer.Tokenizers;
using Xunit;

namespace OnnxSteer.Tests.Generation;

/// <summary>
/// Generated text keeps the first generated token's leading space: "Zoo" continued by "▁was" prints "Zoo was", not
/// "Zoowas". Checked on both tokenizer kinds (llama2.c tok512.bin and tokenizer.json, the stories260K one we write and
/// the real Llama-2 one in ../shared), streamed and whole, and end to end in <c>onnxsteer generate</c>.
/// </summary>
public class ContinuationTextTests
{
    public static TheoryData<string> Tokenizers() => new()
    {
        "tok512.bin", "stories260K tokenizer.json", "llama-2 tokenizer.json",
    };

    private static ITokenizer Load(string which) => which switch
    {
        "tok512.bin" => TokenizerLoader.Load(ImportedModels.TokenizerPath),
        "stories260K tokenizer.json" => TokenizerLoader.Load(Path.Combine(ImportedModels.Get(ExportStyle.Genai, ExportDType.Fp32), "tokenizer.json")),
        _ => TokenizerLoader.Load(Path.Combine(SharedData.TinyGenaiModelDir, "tokenizer.json")),
    };

    [SharedTheory]
    [MemberData(nameof(Tokenizers))]
    public void The_continuation_of_a_prompt_keeps_its_leading_space_streamed_and_whole(string which)
    {
        var tok = Load(which);
        const string prompt = "Zoo", rest = " was a little girl. She said \"hi\" to Tom.";
        var promptIds = tok.EncodeToIds(prompt);
        var all = tok.EncodeToIds(prompt + rest);
        Assert.Equal(promptIds, all.Take(promptIds.Count)); // the split falls on a token boundary
        var generated = all.Skip(promptIds.Count).ToList();

        Assert.Equal(rest, TextStreamer.Continuation(tok, promptIds, generated));
        var streamer = new TextStreamer(tok, promptIds);
        Assert.Equal(rest, string.Concat(generated.Select(streamer.Push)));
        Assert.Equal(rest, streamer.Text);
        // Decoding the generated ids alone is what lost the space.
        Assert.Equal(rest.TrimStart(), tok.Decode(generated));
    }

    [SharedFact]
    public void Generate_prints_the_space_between_the_prompt_and_the_first_token()
    {
        var folder = ImportedModels.Get(ExportStyle.Genai, ExportDType.Fp32);
        var (code, stdout, stderr) = CliProcess.Run(null, "generate", folder, "--prompt", "Zoo", "--max-new-tokens", "6");
        Assert.True(code == 0, stderr);
        Assert.StartsWith("Zoo was a little girl", stdout);

        (code, stdout, stderr) = CliProcess.Run(null, "generate", folder, "--prompt", "Once upon a", "--max-new-tokens", "4", "--json");
        Assert.True(code == 0, stderr);
        using var doc = JsonDocument.Parse(stdout);
        Assert.StartsWith(" time", doc.RootElement.GetProperty("text").GetString());
    }
}
