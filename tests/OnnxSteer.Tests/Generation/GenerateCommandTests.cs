using OnnxSteer.Cli;
using System.Diagnostics;
using System.Text.Json;
using OnnxSteer.Generation;
using OnnxSteer.Tests.Infrastructure;
using OnnxSteer.Tokenizers;
using Xunit;

namespace OnnxSteer.Tests.Generation;

/// <summary>
/// <c>onnxsteer generate</c> run as a child process (its stdout/stderr and exit code are the contract), checked
/// against the library's own greedy generation: CLI plumbing tests, not coverage of generation itself, which
/// Stories260KGenerationTests checks against the C# reference and Llama2cRunAnchorTests against llama2.c's run.c.
/// </summary>
public class GenerateCommandTests
{
    private static (int Code, string Stdout, string Stderr) RunCli(params string[] args) => CliProcess.Run(null, args);

    [SharedFact]
    public void Json_CarriesTheLibraryGeneratorsPromptIdsGeneratedIdsAndText()
    {
        var dir = SharedData.TinyGenaiModelDir;
        var (code, stdout, stderr) = RunCli("generate", dir, "--prompt", "Once upon a time", "--max-new-tokens", "6", "--json", "--threads", "1");
        Assert.True(code == 0, stderr);
        using var doc = JsonDocument.Parse(stdout);
        var root = doc.RootElement;
        Assert.Equal("onnxsteer.generate/1", root.GetProperty("schema").GetString());
        var promptIds = root.GetProperty("prompt_ids").EnumerateArray().Select(e => e.GetInt32()).ToArray();
        var generated = root.GetProperty("generated_ids").EnumerateArray().Select(e => e.GetInt32()).ToArray();

        var tokenizer = TokenizerLoader.Load(dir);
        Assert.Equal(tokenizer.EncodeToIds("Once upon a time"), promptIds);
        using var model = DecoderModel.Open(dir);
        var expected = new Generator(model).Generate(promptIds, new SamplingSettings { MaxTokens = 6 });
        Assert.Equal(expected.GeneratedIds, generated);
        Assert.Equal(TextStreamer.Continuation(tokenizer, promptIds, generated), root.GetProperty("text").GetString());
        Assert.Equal(expected.StopReason == StopReason.EndOfSequence ? "eos" : "max_new_tokens", root.GetProperty("stop_reason").GetString());
    }

    // In-process from here: these fail before printing anything, so only the exit code is read.
    private static int RunInProcess(params string[] args) => OnnxSteer.Cli.CliApp.RunAsync(args).GetAwaiter().GetResult();

    [SharedFact]
    public void CudaDevice_FailsWithRuntimeExitCode() =>
        Assert.Equal(ExitCodes.Runtime, RunInProcess("generate", SharedData.TinyGenaiModelDir, "--prompt", "hi", "--device", "cuda"));

    [SharedFact]
    public void BadArguments_AreUsageErrors()
    {
        Assert.Equal(ExitCodes.Usage, RunInProcess("generate", SharedData.TinyGenaiModelDir, "--prompt", "hi", "--top-p", "0"));
        Assert.Equal(ExitCodes.Usage, RunInProcess("generate", SharedData.TinyGenaiModelDir, "--prompt", "hi", "--threads", "-2"));
    }

    [SharedFact]
    public void InfiniteTemperature_IsRefusedByBothEngines()
    {
        // One sampling check for both loops: onnxsteer's own loop used to accept +∞ (and sample uniformly) where genai refused it.
        foreach (var engine in new[] { "onnxsteer", "genai" })
            Assert.Equal(ExitCodes.Usage, RunInProcess("generate", SharedData.TinyGenaiModelDir, "--prompt", "hi", "--temperature", "Infinity",
                "--max-new-tokens", "2", "--engine", engine));
    }

    [Fact]
    public void MissingModel_IsAnInvalidInputError() =>
        Assert.Equal(ExitCodes.InvalidInput, RunInProcess("generate", "/nonexistent/onnxsteer-model", "--prompt", "hi", "--tokenizer", "/nonexistent/tok.json"));
}
