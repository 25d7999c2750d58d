using Microsoft.ML.OnnxRuntimeGenAI;
using OnnxSteer.Generation;
using OnnxSteer.Runtime;

namespace OnnxSteer.Cli.Hosts;

/// <summary>
/// Generation through onnxruntime-genai (Microsoft.ML.OnnxRuntimeGenAI), the host most users of a genai-style model run:
/// <c>generate --engine genai</c> shows exactly what that host does with a (steered) model folder. The prompt goes in as
/// ids (genai's Tokenizer.Encode would drop the BOS a llama tokenizer needs), the search options come from
/// <see cref="GenerationOptions"/>, and an .onnx_adapter (e.g. from <c>onnxsteer adapter</c>) can be active per call.
/// </summary>
internal sealed class GenaiEngine : IDisposable
{
    private readonly Model _model;
    private readonly Adapters _adapters;
    private readonly HashSet<string> _loaded = new(StringComparer.Ordinal);
    private readonly Lock _adapterLock = new();

    private readonly GenaiConfigFile _config;

    private GenaiEngine(Model model, string folder, GenaiConfigFile config)
    {
        _model = model;
        _config = config;
        _adapters = new Adapters(model);
        Folder = folder;
    }

    /// <summary>The model folder genai reads (genai_config.json and the files it names).</summary>
    public string Folder { get; }

    /// <summary>
    /// Opens a model folder, or the folder of a .onnx file; genai needs its genai_config.json and runs the file it names.
    /// Its decoder session gets <paramref name="runtime"/>'s intra-op threads (the usable CPUs by default), laid over
    /// the folder's config in memory; the file is not changed.
    /// </summary>
    /// <exception cref="OnnxSteerException">No genai_config.json (exit 3), or genai refused the model (exit 4, its message).</exception>
    public static GenaiEngine Open(string modelDirOrFile, RuntimeSettings? runtime = null)
    {
        var folder = Directory.Exists(modelDirOrFile) ? modelDirOrFile : Path.GetDirectoryName(Path.GetFullPath(modelDirOrFile))!;
        var config = GenaiConfigFile.TryRead(folder)
            ?? throw new CommandLineException($"{modelDirOrFile}: onnxruntime-genai needs a {GenaiConfigFile.FileName} beside the model", ExitCodes.InvalidInput);
        if (File.Exists(modelDirOrFile) && !string.Equals(Path.GetFileName(modelDirOrFile), config.ModelFileName ?? "model.onnx", StringComparison.Ordinal))
            throw new CommandLineException($"{modelDirOrFile}: {GenaiConfigFile.FileName} beside it names {config.ModelFileName ?? "model.onnx"}; onnxruntime-genai runs that file",
                ExitCodes.InvalidInput);
        return new GenaiEngine(Wrap(() => OpenModel(folder, runtime ?? RuntimeSettings.Default), folder), folder, config);
    }

    /// <summary>genai's model for <paramref name="folder"/>, its config overlaid with the runtime settings' threads.</summary>
    internal static Model OpenModel(string folder, RuntimeSettings runtime)
    {
        using var config = new Config(folder);
        config.Overlay(runtime.GenaiConfigOverlay());
        return new Model(config);
    }

    /// <summary>
    /// Generates after <paramref name="promptIds"/>, greedy or sampled as <paramref name="options"/> say; genai stops at
    /// the EOS of genai_config.json. <paramref name="adapterFile"/>, when given, is loaded once and active for this call only.
    /// </summary>
    public GenerationResult Generate(IReadOnlyList<int> promptIds, GenerationOptions options, string? adapterFile = null,
        Action<int>? onToken = null, CancellationToken cancellationToken = default)
    {
        options.Validate();
        if (promptIds.Count == 0) throw new CommandLineException("the prompt has no tokens; generation needs at least one (e.g. BOS)", ExitCodes.Usage);
        return Wrap(() =>
        {
            using var parameters = new GeneratorParams(_model);
            parameters.SetSearchOption("max_length", promptIds.Count + options.MaxNewTokens);
            parameters.SetSearchOption("do_sample", options.IsSampling);
            if (options.IsSampling)
            {
                parameters.SetSearchOption("temperature", options.Temperature);
                parameters.SetSearchOption("top_k", options.TopK);
                parameters.SetSearchOption("top_p", options.TopP);
                if (options.Seed is { } seed) parameters.SetSearchOption("random_seed", seed);
            }
            using var generator = new Microsoft.ML.OnnxRuntimeGenAI.Generator(_model, parameters);
            if (adapterFile is not null) generator.SetActiveAdapter(_adapters, Load(adapterFile));
            generator.AppendTokens(promptIds.ToArray());
            var generated = new List<int>();
            while (!generator.IsDone() && generated.Count < options.MaxNewTokens)
            {
                cancellationToken.ThrowIfCancellationRequested();
                generator.GenerateNextToken();
                var sequence = generator.GetSequence(0);
                var id = sequence[^1];
                generated.Add(id);
                onToken?.Invoke(id);
            }
            // Reported as OnnxSteer's own loop does: EOS wins even when it is also the last allowed token.
            var reason = generated.Count > 0 && _config.EosTokenIds.Contains(generated[^1]) ? StopReason.EndOfSequence
                : generated.Count == options.MaxNewTokens ? StopReason.TokenLimit : StopReason.ContextLength;
            return new GenerationResult(promptIds.ToArray(), generated, reason);
        }, Folder);
    }

    /// <summary>Loads an adapter file once (named by its full path) into this model's adapter set.</summary>
    private string Load(string adapterFile)
    {
        var name = Path.GetFullPath(adapterFile);
        lock (_adapterLock)
        {
            if (_loaded.Add(name))
            {
                try { _adapters.LoadAdapter(name, name); }
                catch { _loaded.Remove(name); throw; }
            }
        }
        return name;
    }

    private static T Wrap<T>(Func<T> call, string source)
    {
        try
        {
            return call();
        }
        catch (OnnxRuntimeGenAIException e)
        {
            throw new CommandLineException($"{source}: onnxruntime-genai: {e.Message.Trim()}", ExitCodes.Runtime, e);
        }
    }

    public void Dispose()
    {
        _adapters.Dispose();
        _model.Dispose();
    }
}
