using System.Security.Cryptography;
using System.Text.Json;
using OnnxSteer.Cli;
using OnnxSteer.Tests.Infrastructure;
using OnnxSteer.Tokenizers;
using Xunit;

namespace OnnxSteer.Tests.Import;

public sealed class ImportSynthCommandTests : IDisposable
{
    private readonly string _dir = Path.Combine(Path.GetTempPath(), $"onnxsteer-import-cli-{Guid.NewGuid():N}");
    public void Dispose() { if (Directory.Exists(_dir)) Directory.Delete(_dir, recursive: true); }

    private static int Run(params string[] args) => CliApp.RunAsync(args).GetAwaiter().GetResult();

    [SharedFact]
    public void Import_writes_a_model_folder_whose_genai_config_matches_the_graph()
    {
        var output = Path.Combine(_dir, "standard-fp16");
        Assert.Equal(0, Run("import", "llama2c", ImportedModels.CheckpointPath, "--tokenizer", ImportedModels.TokenizerPath,
            "-o", output, "--style", "standard", "--dtype", "fp16"));
        foreach (var file in new[] { "model.onnx", "model.onnx.data", "tokenizer.json", "tokenizer_config.json", "genai_config.json" })
            Assert.True(File.Exists(Path.Combine(output, file)), file);
        using var config = JsonDocument.Parse(File.ReadAllText(Path.Combine(output, "genai_config.json")));
        var decoder = config.RootElement.GetProperty("model").GetProperty("decoder");
        Assert.Equal(5, decoder.GetProperty("num_hidden_layers").GetInt32());
        Assert.Equal(4, decoder.GetProperty("num_key_value_heads").GetInt32());
        Assert.Equal(8, decoder.GetProperty("head_size").GetInt32());
        Assert.Equal("position_ids", decoder.GetProperty("inputs").GetProperty("position_ids").GetString());
        Assert.Equal(512, TokenizerLoader.Load(output).VocabSize);
    }

    [SharedFact]
    public void Import_errors_name_the_problem_and_use_the_documented_exit_codes()
    {
        Assert.Equal(ExitCodes.InvalidInput, Run("import", "llama2c", Path.Combine(_dir, "missing.bin"), "--tokenizer", ImportedModels.TokenizerPath, "-o", _dir));
        Assert.Equal(ExitCodes.Usage, Run("import", "llama2c", ImportedModels.CheckpointPath, "--tokenizer", ImportedModels.TokenizerPath, "-o", _dir, "--dtype", "int8"));
        Assert.NotEqual(0, Run("import", "llama2c", ImportedModels.CheckpointPath, "-o", _dir)); // --tokenizer is required (a parse error)
        Assert.False(File.Exists(Path.Combine(_dir, "model.onnx")));
    }

    [Fact]
    public void Synth_is_deterministic_per_seed_and_changes_with_the_seed()
    {
        string[] Args(string folder, string seed) =>
            ["synth", "llama", "-o", Path.Combine(_dir, folder), "--layers", "2", "--hidden", "64", "--intermediate", "96",
             "--heads", "4", "--kv-heads", "2", "--vocab", "300", "--dtype", "int4", "--seed", seed];
        Assert.Equal(0, Run(Args("a", "5")));
        Assert.Equal(0, Run(Args("b", "5")));
        Assert.Equal(0, Run(Args("c", "6")));
        string Hash(string folder, string file) => Convert.ToHexString(SHA256.HashData(File.ReadAllBytes(Path.Combine(_dir, folder, file))));
        Assert.Equal(Hash("a", "model.onnx.data"), Hash("b", "model.onnx.data"));
        Assert.Equal(Hash("a", "model.onnx"), Hash("b", "model.onnx"));
        Assert.NotEqual(Hash("a", "model.onnx.data"), Hash("c", "model.onnx.data"));
        var tokenizer = TokenizerLoader.Load(Path.Combine(_dir, "a"));
        Assert.Equal(300, tokenizer.VocabSize);
        var ids = tokenizer.EncodeToIds("héllo wörld");
        Assert.Equal("héllo wörld", tokenizer.Decode(ids)); // byte fallback covers any text
    }

    [Fact]
    public void Synth_rejects_impossible_shapes_with_a_usage_error()
    {
        Assert.Equal(ExitCodes.Usage, Run("synth", "llama", "-o", _dir, "--layers", "2", "--hidden", "64", "--intermediate", "96",
            "--heads", "5", "--vocab", "300"));
        Assert.Equal(ExitCodes.Usage, Run("synth", "llama", "-o", _dir, "--layers", "2", "--hidden", "64", "--intermediate", "96",
            "--heads", "4", "--vocab", "100"));
        Assert.False(File.Exists(Path.Combine(_dir, "model.onnx")));
    }
}
