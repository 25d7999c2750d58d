using OnnxSteer.Generation;
using OnnxSteer.ModelFiles;
using OnnxSteer.Tests.Infrastructure;
using OnnxSteer.Tests.Patching;
using OnnxSteer.Tokenizers;
using Xunit;

namespace OnnxSteer.Tests.Conformance;

/// <summary>
/// Hugging Face ONNX repository folders given as the model, laid out as users download them: transformers.js
/// (<c>onnx/model*.onnx</c>, tokenizer at the root), Optimum (<c>decoder_model_merged.onnx</c> beside
/// <c>decoder_with_past_model.onnx</c>), onnxruntime-genai (genai_config.json names the file); several models and no
/// default give an error that lists them.
/// </summary>
public sealed class FolderLayoutTests : IDisposable
{
    private readonly TempDir _tmp = new();

    public void Dispose() => _tmp.Dispose();

    /// <summary>A copy of the stories260K standard export under <paramref name="names"/> in <paramref name="folder"/>, tokenizer at the root.</summary>
    private string Repository(string folder, params string[] names)
    {
        var source = ImportedModels.Get("standard", "fp32");
        var root = Directory.CreateDirectory(_tmp[folder]).FullName;
        File.Copy(Path.Combine(source, "tokenizer.json"), Path.Combine(root, "tokenizer.json"));
        foreach (var name in names)
        {
            var file = Path.Combine(root, name);
            Directory.CreateDirectory(Path.GetDirectoryName(file)!);
            File.Copy(Path.Combine(source, "model.onnx"), file);
            var data = Path.Combine(Path.GetDirectoryName(file)!, "model.onnx.data");
            if (!File.Exists(data)) File.Copy(Path.Combine(source, "model.onnx.data"), data);
        }
        return root;
    }

    [SharedFact]
    public void A_transformers_js_folder_runs_its_onnx_model_with_the_tokenizer_at_the_root()
    {
        var root = Repository("tjs", "onnx/model.onnx", "onnx/model_quantized.onnx", "onnx/model_fp16.onnx");
        Assert.Equal(Path.Combine(root, "onnx", "model.onnx"), OnnxModel.Load(root).FilePath);
        using (var model = DecoderModel.Open(root)) Assert.Equal(Path.Combine(root, "onnx", "model.onnx"), model.ModelPath);
        // Stages that look for the tokenizer beside the model file find it one folder up.
        Assert.Equal(TokenizerLoader.Load(root).EncodeToIds("Once upon a time"), TokenizerLoader.Load(Path.Combine(root, "onnx")).EncodeToIds("Once upon a time"));

        var (code, stdout, stderr) = CliProcess.Run(null, "generate", root, "--prompt", "Once upon a", "--max-new-tokens", "4");
        Assert.True(code == 0, stderr);
        Assert.StartsWith("Once upon a", stdout);
    }

    [SharedFact]
    public void Several_models_without_a_default_are_listed_in_the_error()
    {
        var root = Repository("q", "onnx/model_quantized.onnx", "onnx/model_q4.onnx", "onnx/model_fp16.onnx");
        var error = Assert.Throws<InvalidModelException>(() => OnnxModel.Load(root));
        Assert.Contains("3 models and none is the default", error.Message);
        Assert.Contains("onnx/model_fp16.onnx, onnx/model_q4.onnx, onnx/model_quantized.onnx", error.Message);
        var (code, _, stderr) = CliProcess.Run(null, "inspect", root);
        Assert.NotEqual(0, code);
        Assert.Contains("onnx/model_q4.onnx", stderr);
        // Naming the file picks it.
        Assert.Equal(Path.Combine(root, "onnx", "model_q4.onnx"), OnnxModel.Load(Path.Combine(root, "onnx", "model_q4.onnx")).FilePath);
    }

    [SharedFact]
    public void An_Optimum_folder_takes_its_merged_decoder_and_a_genai_folder_the_file_its_config_names()
    {
        var optimum = Repository("optimum", "decoder_with_past_model.onnx", "decoder_model.onnx");
        Assert.Throws<InvalidModelException>(() => OnnxModel.Load(optimum));
        OptimumMerged.Write(Path.Combine(optimum, "decoder_with_past_model.onnx"));
        Assert.Equal(Path.Combine(optimum, "decoder_model_merged.onnx"), OnnxModel.Load(optimum).FilePath);
        using (var model = DecoderModel.Open(optimum)) Assert.Equal("use_cache_branch", model.Layout.UseCacheBranch);

        var genai = Repository("genai", "decoder.onnx", "other.onnx");
        File.WriteAllText(Path.Combine(genai, "genai_config.json"), """{"model": {"decoder": {"filename": "decoder.onnx"}}}""");
        Assert.Equal(Path.Combine(genai, "decoder.onnx"), OnnxModel.Load(genai).FilePath);
    }

    [SharedFact]
    public void A_variant_picks_one_of_the_models_side_by_side_and_a_wrong_one_lists_them()
    {
        var tjs = Repository("tjs-variants", "onnx/model.onnx", "onnx/model_quantized.onnx", "onnx/model_q4f16.onnx", "onnx/model_fp16.onnx");
        string Pick(string root, string variant) => Path.GetRelativePath(root, ModelLocator.Resolve(root, variant)).Replace('\\', '/');
        Assert.Equal("onnx/model_q4f16.onnx", Pick(tjs, "q4f16"));
        Assert.Equal("onnx/model_quantized.onnx", Pick(tjs, "q8"));
        Assert.Equal("onnx/model_quantized.onnx", Pick(tjs, "quantized"));
        Assert.Equal("onnx/model.onnx", Pick(tjs, "fp32"));
        Assert.Equal("onnx/model_fp16.onnx", Pick(tjs, "model_fp16"));
        Assert.Equal("onnx/model_fp16.onnx", Pick(tjs, "onnx/model_fp16.onnx"));
        // Without a variant the default (onnx/model.onnx) stays.
        Assert.Equal("onnx/model.onnx", Path.GetRelativePath(tjs, ModelLocator.Resolve(tjs)).Replace('\\', '/'));

        var none = Assert.Throws<InvalidParameterException>(() => ModelLocator.Resolve(tjs, "q4"));
        Assert.Equal("variant", none.ParamName);
        Assert.Contains("'q4' names none of its 4 models: onnx/model.onnx, onnx/model_fp16.onnx, onnx/model_q4f16.onnx, onnx/model_quantized.onnx", none.Message);
        Assert.Throws<InvalidParameterException>(() => ModelLocator.Resolve(Path.Combine(tjs, "onnx", "model.onnx"), "q4f16"));

        var optimum = Repository("optimum-variants", "decoder_model.onnx", "decoder_with_past_model.onnx", "decoder_model_merged.onnx");
        Assert.Equal("decoder_with_past_model.onnx", Pick(optimum, "decoder_with_past_model"));
        Assert.Equal("decoder_model.onnx", Pick(optimum, "decoder_model.onnx"));
        var several = Assert.Throws<InvalidParameterException>(() => ModelLocator.Resolve(optimum, "fp32"));
        Assert.Contains("names 3 models (decoder_model.onnx, decoder_model_merged.onnx, decoder_with_past_model.onnx)", several.Message);
        // The picked file loads and runs.
        Assert.Equal(Path.Combine(optimum, "decoder_with_past_model.onnx"), OnnxModel.Load(ModelLocator.Resolve(optimum, "decoder_with_past_model")).FilePath);
    }
    /// <summary>
    /// The CLI's --variant on a transformers.js folder: without it, a folder of variants and no default fails with one
    /// line listing them and naming --variant (exit 3); with it, inspect and patch take the file it names; a name that
    /// picks none is a usage error listing them (64); next to model.onnx, the default stays unless --variant says otherwise.
    /// </summary>
    [SharedFact]
    public void The_variant_flag_picks_the_file_inspect_and_patch_run_on_and_without_it_the_error_lists_the_variants()
    {
        var root = Repository("tjs-cli", "onnx/model_q4f16.onnx", "onnx/model_quantized.onnx");
        var (code, stdout, stderr) = CliProcess.Run(null, "inspect", root);
        Assert.Equal(3, code);
        var line = Assert.Single(stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.Contains("2 models and none is the default", line);
        Assert.Contains("onnx/model_q4f16.onnx, onnx/model_quantized.onnx", line);
        Assert.Contains("--variant", line);

        (code, stdout, stderr) = CliProcess.Run(null, "inspect", root, "--variant", "q4f16");
        Assert.True(code == 0, stderr);
        Assert.Contains($"model:        {Path.Combine(root, "onnx", "model_q4f16.onnx")}", stdout);

        var model = OnnxModel.Load(Path.Combine(root, "onnx", "model_quantized.onnx"));
        var profile = TestProfiles.Save(TestProfiles.Make(model, OnnxSteer.Sites.SiteFinder.Find(model).Sites, k: 4, alpha: 1), _tmp.Path);
        var output = _tmp["tjs-cli-steered"];
        (code, stdout, stderr) = CliProcess.Run(null, "patch", root, profile, "--variant", "quantized", "-o", output);
        Assert.True(code == 0, stderr);
        Assert.True(File.Exists(Path.Combine(output, "model_quantized.onnx")));
        Assert.Contains("wrote " + Path.Combine(output, "model_quantized.onnx"), stdout);

        (code, _, stderr) = CliProcess.Run(null, "patch", root, profile, "--variant", "q4", "-o", _tmp["tjs-cli-none"]);
        Assert.Equal(64, code);
        Assert.Contains("--variant 'q4' names none of its 2 models: onnx/model_q4f16.onnx, onnx/model_quantized.onnx", stderr);
        Assert.False(Directory.Exists(_tmp["tjs-cli-none"]));
        (code, _, stderr) = CliProcess.Run(null, "inspect", root, "--variant", "../x");
        Assert.Equal(64, code);
        Assert.Contains("--variant ../x: must name a model inside the folder", stderr);

        var withDefault = Repository("tjs-cli-default", "onnx/model.onnx", "onnx/model_q4f16.onnx", "onnx/model_quantized.onnx");
        Assert.Contains($"model:        {Path.Combine(withDefault, "onnx", "model.onnx")}", CliProcess.Run(null, "inspect", withDefault).Stdout);
        Assert.Contains($"model:        {Path.Combine(withDefault, "onnx", "model_q4f16.onnx")}", CliProcess.Run(null, "inspect", withDefault, "--variant", "onnx/model_q4f16.onnx").Stdout);
    }

    /// <summary>
    /// transformers.js keeps the tokenizer one folder above onnx/: a steered copy written elsewhere carries it beside the
    /// model, so it generates without --tokenizer; a different tokenizer.json already in the output is not replaced
    /// without --force.
    /// </summary>
    [SharedFact]
    public void Patching_a_transformers_js_model_carries_the_tokenizer_from_the_repository_root()
    {
        var root = Repository("tjs-carry", "onnx/model.onnx");
        var model = OnnxModel.Load(Path.Combine(root, "onnx", "model.onnx"));
        var profile = TestProfiles.Save(TestProfiles.Make(model, OnnxSteer.Sites.SiteFinder.Find(model).Sites, k: 4, alpha: 1), _tmp.Path);
        var output = _tmp["tjs-carry-steered"];
        var (code, _, stderr) = CliProcess.Run(null, "patch", root, profile, "-o", output);
        Assert.True(code == 0, stderr);
        Assert.Equal(File.ReadAllBytes(Path.Combine(root, "tokenizer.json")), File.ReadAllBytes(Path.Combine(output, "tokenizer.json")));
        (code, var stdout, stderr) = CliProcess.Run(null, "generate", output, "--prompt", "Once upon a", "--max-new-tokens", "4");
        Assert.True(code == 0, stderr);
        Assert.StartsWith("Once upon a", stdout);

        var occupied = Directory.CreateDirectory(_tmp["tjs-carry-occupied"]).FullName;
        File.WriteAllText(Path.Combine(occupied, "tokenizer.json"), "{}");
        (code, _, stderr) = CliProcess.Run(null, "patch", root, profile, "-o", occupied);
        Assert.Equal(64, code);
        Assert.Contains(Path.Combine(occupied, "tokenizer.json") + ": already exists and differs", stderr);
        Assert.Equal("{}", File.ReadAllText(Path.Combine(occupied, "tokenizer.json")));
        Assert.False(File.Exists(Path.Combine(occupied, "model.onnx")));
    }
}
