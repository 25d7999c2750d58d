using System.Collections.Concurrent;
using OnnxSteer.Generation;
using OnnxSteer.ModelFiles;
using OnnxSteer.Patching;
using OnnxSteer.Runtime;
using OnnxSteer.Server;
using OnnxSteer.Sites;
using OnnxSteer.Tests.Infrastructure;
using OnnxSteer.Tests.Patching;
using OnnxSteer.Tokenizers;
using Xunit;

namespace OnnxSteer.Tests.Serve;

/// <summary>
/// One <c>onnxsteer serve</c> server for the Serve tests: stories260K (genai export, fp32) with two profiles, "happy"
/// and "calm" (seeded test profiles), on a free loopback port; its log lines are kept. Also the references: the same
/// profiles patched --switchable here and run in-process, one request at a time, with OnnxSteer's own generator.
/// </summary>
public sealed class ServeFixture : IAsyncLifetime
{
    private readonly TempDir _tmp = new();
    private readonly ConcurrentDictionary<string, DecoderModel> _references = new();

    public SteeringServer Server { get; private set; } = null!;
    public HttpClient Http { get; private set; } = null!;
    public ConcurrentQueue<string> Log { get; } = new();
    public string ModelFolder { get; private set; } = "";
    public Dictionary<string, string> ProfileFiles { get; } = new();
    internal ITokenizer Tokenizer { get; private set; } = null!;
    public string ModelId => Server.ModelId;

    public async Task InitializeAsync()
    {
        if (!SharedData.Available) return;
        ModelFolder = ImportedModels.Get("genai", "fp32");
        var model = OnnxModel.Load(Path.Combine(ModelFolder, "model.onnx"));
        var sites = SiteFinder.Find(model).Sites;
        ProfileFiles["happy"] = TestProfiles.Save(TestProfiles.Make(model, sites, k: 24, alpha: 8, seed: 3), _tmp.Path, "happy.json");
        ProfileFiles["calm"] = TestProfiles.Save(TestProfiles.Make(model, sites, k: 24, alpha: 8, seed: 11), _tmp.Path, "calm.json");
        Tokenizer = TokenizerLoader.Load(ModelFolder);
        Server = await SteeringServer.StartAsync(new ServeOptions
        {
            Model = ModelFolder,
            Profiles = ProfileFiles,
            Port = 0,
            Log = Log.Enqueue,
            Limits = new ServeLimits { MaxTokens = 256, MaxBodyBytes = 64 * 1024 },
        });
        Http = new HttpClient { BaseAddress = Server.BaseAddress, Timeout = TimeSpan.FromMinutes(2) };
    }

    /// <summary>Greedy ids of <paramref name="prompt"/> under <paramref name="steering"/>, generated in-process, alone.</summary>
    public IReadOnlyList<int> SequentialGreedy(string prompt, SteeringChoice steering, int maxTokens) =>
        Reference(steering, decoder => new Generator(decoder).Generate(Tokenizer.EncodeToIds(prompt), new SamplingSettings { MaxTokens = maxTokens }).GeneratedIds);

    /// <summary>
    /// Runs <paramref name="run"/> on OnnxSteer's own decoder of <paramref name="steering"/> (the base model, or the
    /// profile patched --switchable here with the strength fed), one caller at a time.
    /// </summary>
    internal T Reference<T>(SteeringChoice steering, Func<DecoderModel, T> run)
    {
        var key = steering.Profile ?? "";
        var decoder = _references.GetOrAdd(key, k =>
        {
            if (k.Length == 0) return DecoderModel.Open(ModelFolder);
            var folder = _tmp[$"ref-{k}"];
            Steerer.Patch(ModelFolder, ProfileFiles[k], folder, new PatchSettings { Switchable = true });
            return DecoderModel.Open(folder);
        });
        lock (decoder)
        {
            using var strength = OrtValue.CreateTensorValueFromMemory(new[] { steering.Strength }, SwitchableSteering.StrengthShape);
            if (steering.Profile is not null) decoder.SetModelInput(SwitchableSteering.StrengthName, strength);
            try
            {
                return run(decoder);
            }
            finally
            {
                if (steering.Profile is not null) decoder.SetModelInput(SwitchableSteering.StrengthName, null);
            }
        }
    }

    /// <summary>
    /// The text of <see cref="SequentialGreedy"/>'s answer as it continues the prompt (decode(prompt + answer) minus
    /// decode(prompt): the first token's leading space kept), what the server's text must equal.
    /// </summary>
    public string SequentialGreedyText(string prompt, SteeringChoice steering, int maxTokens) =>
        TextStreamer.Continuation(Tokenizer, Tokenizer.EncodeToIds(prompt), SequentialGreedy(prompt, steering, maxTokens));

    public async Task DisposeAsync()
    {
        Http?.Dispose();
        if (Server is not null) await Server.DisposeAsync();
        foreach (var d in _references.Values) d.Dispose();
        _tmp.Dispose();
    }
}

[CollectionDefinition(Name)]
public sealed class ServeCollection : ICollectionFixture<ServeFixture>
{
    public const string Name = "serve";
}
