using OnnxSteer.Generation;
using OnnxSteer.Patching;
using OnnxSteer.Server;
using OnnxSteer.Tests.Infrastructure;
using OnnxSteer.Tests.Patching;
using Xunit;

namespace OnnxSteer.Tests.Serve;

/// <summary>
/// The genai engine's strength adapters: each strength is loaded once and kept up to the bound; a new strength unloads
/// an idle one, never one a running generator holds; every answer still equals our own greedy run at that strength.
/// </summary>
[Collection(ServeCollection.Name)]
public sealed class StrengthAdapterTests(ServeFixture f) : IDisposable
{
    private const string Prompt = "Once upon a time, there was a little";
    private const int MaxTokens = 16;
    private readonly TempDir _tmp = new();

    public void Dispose() => _tmp.Dispose();

    private GenaiEngine Engine(int capacity)
    {
        var folder = _tmp["happy"];
        if (!Directory.Exists(folder)) Steerer.Patch(f.ModelFolder, f.ProfileFiles["happy"], folder, new PatchSettings { Switchable = true });
        return new GenaiEngine(f.ModelFolder, new Dictionary<string, string> { ["happy"] = folder }, capacity);
    }

    private static IReadOnlyList<int> Greedy(IEnumerable<int> tokens) => tokens.ToList();

    private static SamplingSettings Settings => new() { MaxTokens = MaxTokens };

    [SharedFact]
    public void Strengths_beyond_the_bound_unload_the_least_recently_used_idle_adapter()
    {
        using var engine = Engine(capacity: 2);
        var ids = f.Tokenizer.EncodeToIds(Prompt);
        foreach (var s in new[] { 0.5f, 2f, 0.5f, 1.5f, -1f })
        {
            var steering = new SteeringChoice("happy", s);
            Assert.Equal(f.SequentialGreedy(Prompt, steering, MaxTokens), Greedy(engine.Generate(ids, steering, Settings, default)));
        }
        // 0.5 was used again after 2, so 2 went first, then 0.5; strength 1 runs as patched and loads nothing.
        Assert.Equal([-1f, 1.5f], engine.LoadedStrengths("happy").Order());
        Assert.Equal(f.SequentialGreedy(Prompt, new("happy", 1f), MaxTokens), Greedy(engine.Generate(ids, new("happy", 1f), Settings, default)));
        Assert.Equal(2, engine.LoadedStrengths("happy").Count);
    }

    [SharedFact]
    public void An_adapter_a_generator_holds_stays_loaded_past_the_bound_until_it_finishes()
    {
        using var engine = Engine(capacity: 1);
        var ids = f.Tokenizer.EncodeToIds(Prompt);
        var held = new SteeringChoice("happy", 2f);
        using var running = engine.Generate(ids, held, Settings, default).GetEnumerator();
        var first = new List<int>();
        for (var i = 0; i < MaxTokens / 2 && running.MoveNext(); i++) first.Add(running.Current);

        // Two more strengths while 2 is in use: each loads past the bound and is unloaded when its run ends; 2 stays.
        foreach (var s in new[] { 0.5f, -1f })
        {
            var steering = new SteeringChoice("happy", s);
            Assert.Equal(f.SequentialGreedy(Prompt, steering, MaxTokens), Greedy(engine.Generate(ids, steering, Settings, default)));
            Assert.Equal([2f], engine.LoadedStrengths("happy"));
        }
        while (running.MoveNext()) first.Add(running.Current);
        Assert.Equal(f.SequentialGreedy(Prompt, held, MaxTokens), first);
        running.Dispose();
        Assert.Equal([2f], engine.LoadedStrengths("happy")); // idle now, and within the bound: kept for the next request
        var again = Greedy(engine.Generate(ids, new("happy", 0.5f), Settings, default));
        Assert.Equal(f.SequentialGreedy(Prompt, new("happy", 0.5f), MaxTokens), again);
        Assert.Equal([0.5f], engine.LoadedStrengths("happy")); // the idle 2 made room
    }
}
