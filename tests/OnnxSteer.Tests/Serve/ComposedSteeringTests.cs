using System.Net;
using System.Text;
using System.Text.Json.Nodes;
using OnnxSteer.Generation;
using OnnxSteer.Patching;
using OnnxSteer.Server;
using OnnxSteer.Tests.Infrastructure;
using OnnxSteer.Tests.Patching;
using Xunit;

namespace OnnxSteer.Tests.Serve;

/// <summary>
/// Several profiles in one request: the answer equals, token for token, OnnxSteer's own greedy run of a model patched
/// with both steps stacked, each re-selected at its strength (alpha × strength: a plain patch, not a switch); the
/// response lists the steps that ran; changing one strength alone changes the tokens (the adapter cache key holds every
/// strength, unlike EasySteer's issue #20).
/// </summary>
[Collection(ServeCollection.Name)]
public sealed class ComposedSteeringTests(ServeFixture f) : IDisposable
{
    private const string Prompt = "Once upon a time, there was a little";
    private const int MaxTokens = 24;
    private const double ProfileAlpha = 8; // ServeFixture's profiles
    private readonly TempDir _tmp = new();

    public void Dispose() => _tmp.Dispose();

    /// <summary>Greedy ids from the base model patched with each (profile, strength) in turn, stacked, by OnnxSteer's generator.</summary>
    private IReadOnlyList<int> StackedReference(params (string Profile, float Strength)[] steps)
    {
        var model = f.ModelFolder;
        foreach (var (profile, strength) in steps)
        {
            var output = _tmp[$"{Path.GetFileName(model)}+{profile}{strength}"];
            Steerer.Patch(model, f.ProfileFiles[profile], output, new PatchSettings
            {
                Alpha = ProfileAlpha * strength, Existing = model == f.ModelFolder ? ExistingSteering.Refuse : ExistingSteering.Stack,
            });
            model = output;
        }
        using var decoder = DecoderModel.Open(model);
        return new Generator(decoder).Generate(f.Tokenizer.EncodeToIds(Prompt), new SamplingSettings { MaxTokens = MaxTokens }).GeneratedIds;
    }

    private async Task<JsonNode> Complete(JsonNode steering)
    {
        var body = new JsonObject { ["model"] = f.ModelId, ["prompt"] = Prompt, ["max_tokens"] = MaxTokens, ["temperature"] = 0, ["steering"] = steering };
        using var response = await f.Http.PostAsync("v1/completions", new StringContent(body.ToJsonString(), Encoding.UTF8, "application/json"));
        var text = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == HttpStatusCode.OK, text);
        return JsonNode.Parse(text)!;
    }

    private static JsonArray Steps(params (string Profile, float Strength)[] steps) =>
        new([.. steps.Select(s => (JsonNode)new JsonObject { ["profile"] = s.Profile, ["strength"] = s.Strength })]);

    private static int[] Ids(JsonNode answer) => [.. answer["choices"]![0]!["token_ids"]!.AsArray().Select(n => n!.GetValue<int>())];

    [SharedFact]
    public async Task Two_profiles_at_their_strengths_equal_a_model_patched_with_both_stacked_and_the_answer_says_what_ran()
    {
        var expected = StackedReference(("calm", 1.5f), ("happy", -0.5f));
        var answer = await Complete(Steps(("happy", -0.5f), ("calm", 1.5f)));
        Assert.Equal(expected, Ids(answer));
        // Applied in the server's order (calm, then happy: names sorted), which the answer reports.
        var ran = answer["steering"]!["steps"]!.AsArray().Select(s => (s!["profile"]!.GetValue<string>(), s["strength"]!.GetValue<float>())).ToList();
        Assert.Equal([("calm", 1.5f), ("happy", -0.5f)], ran);
        Assert.Equal("genai", answer["steering"]!["engine"]!.GetValue<string>());
        // Both steps matter: neither profile alone gives these tokens.
        Assert.NotEqual(expected, Ids(await Complete(new JsonObject { ["profile"] = "calm", ["strength"] = 1.5 })));
        Assert.NotEqual(expected, Ids(await Complete(new JsonObject { ["profile"] = "happy", ["strength"] = -0.5 })));
    }

    [SharedFact]
    public async Task Changing_only_one_strength_changes_the_tokens_and_each_setting_keeps_its_own_adapter()
    {
        var first = Ids(await Complete(Steps(("calm", 1f), ("happy", 1f))));
        var second = Ids(await Complete(Steps(("calm", 1f), ("happy", 2f))));
        Assert.NotEqual(first, second);
        Assert.Equal(StackedReference(("calm", 1f), ("happy", 2f)), second);
        Assert.Equal(first, Ids(await Complete(Steps(("calm", 1f), ("happy", 1f))))); // and back: not the cached 2
        Assert.Equal(StackedReference(("calm", 1f), ("happy", 1f)), first);
    }

    [SharedFact]
    public async Task Steps_at_strength_0_drop_out_and_a_profile_twice_is_refused()
    {
        var single = await Complete(Steps(("happy", 0.5f), ("calm", 0f)));
        Assert.Equal("happy", single["steering"]!["profile"]!.GetValue<string>());
        Assert.Equal(f.SequentialGreedy(Prompt, new SteeringChoice("happy", 0.5f), MaxTokens), Ids(single));

        var body = new JsonObject { ["model"] = f.ModelId, ["prompt"] = Prompt, ["steering"] = Steps(("happy", 1f), ("happy", 2f)) };
        using var twice = await f.Http.PostAsync("v1/completions", new StringContent(body.ToJsonString(), Encoding.UTF8, "application/json"));
        Assert.Equal(HttpStatusCode.BadRequest, twice.StatusCode);
        Assert.Equal("steering[1].profile", JsonNode.Parse(await twice.Content.ReadAsStringAsync())!["error"]!["param"]!.GetValue<string>());
    }
}
