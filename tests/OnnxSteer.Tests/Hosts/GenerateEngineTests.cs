using System.Text.Json;
using OnnxSteer.Tests.Infrastructure;
using Xunit;

namespace OnnxSteer.Tests.Hosts;

/// <summary>
/// <c>onnxsteer generate --engine genai</c> run as a child process: onnxruntime-genai generates the same ids and text as
/// the default engine, and <c>--strength</c> reaches a switchable model through an adapter (0 = the vanilla tokens).
/// </summary>
public class GenerateEngineTests
{
    private static int[] Ids(string folder, params string[] extra)
    {
        var (code, stdout, stderr) = CliProcess.Run(null, ["generate", folder, "--prompt", "Once upon a time", "--max-new-tokens", "16", "--json", .. extra]);
        Assert.True(code == 0, stderr);
        using var doc = JsonDocument.Parse(stdout);
        return doc.RootElement.GetProperty("generated_ids").EnumerateArray().Select(e => e.GetInt32()).ToArray();
    }

    [SharedFact]
    public void Genai_engine_generates_what_ours_does_and_takes_the_strength()
    {
        var vanilla = SteeredVariants.Get("genai/fp32", PatchMode.Vanilla);
        var switchable = SteeredVariants.Get("genai/fp32", PatchMode.Switchable);
        // Four CLI runs (each a process start): genai on every patch mode is covered in-process by GenaiHostTests.
        var ours = Ids(vanilla);
        Assert.Equal(ours, Ids(vanilla, "--engine", "genai"));
        Assert.Equal(ours, Ids(switchable, "--engine", "genai", "--strength", "0"));
        Assert.NotEqual(ours, Ids(switchable, "--engine", "genai"));
    }

    [SharedFact]
    public void Genai_engine_runs_a_folder_whose_config_asks_for_CUDA_on_the_CPU_and_says_so()
    {
        // What onnxruntime-genai's builder writes for a CUDA export: a cuda entry in the decoder's provider_options.
        using var tmp = new OnnxSteer.Tests.Patching.TempDir();
        var vanilla = SteeredVariants.Get("genai/fp32", PatchMode.Vanilla);
        foreach (var file in Directory.GetFiles(vanilla)) File.Copy(file, Path.Combine(tmp.Path, Path.GetFileName(file)));
        var configPath = Path.Combine(tmp.Path, "genai_config.json");
        var config = System.Text.Json.Nodes.JsonNode.Parse(File.ReadAllText(configPath))!;
        config["model"]!["decoder"]!["session_options"]!["provider_options"] = new System.Text.Json.Nodes.JsonArray(
            new System.Text.Json.Nodes.JsonObject { ["cuda"] = new System.Text.Json.Nodes.JsonObject { ["enable_cuda_graph"] = "0" } });
        File.WriteAllText(configPath, config.ToJsonString());

        var (code, stdout, stderr) = CliProcess.Run(null, "generate", tmp.Path, "--prompt", "Once upon a time", "--max-new-tokens", "16", "--json", "--engine", "genai");
        Assert.True(code == 0, stderr);
        Assert.Contains("genai_config.json asks for the CUDA provider", stderr);
        Assert.Contains("running on CPU", stderr);
        using var doc = JsonDocument.Parse(stdout);
        Assert.Equal(Ids(vanilla), doc.RootElement.GetProperty("generated_ids").EnumerateArray().Select(e => e.GetInt32()).ToArray());
    }

    [SharedFact]
    public void Genai_engine_refuses_a_model_that_is_not_switchable_for_strength()
    {
        var (code, _, stderr) = CliProcess.Run(null, "generate", SteeredVariants.Get("genai/fp32", PatchMode.Mul), "--prompt", "hi", "--engine", "genai", "--strength", "2");
        Assert.Equal(3, code);
        Assert.Contains("not a switchable model", stderr);
    }
}
