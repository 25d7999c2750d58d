using System.ClientModel;
using Microsoft.Extensions.AI;
using OpenAI;
using OpenAI.Chat;
using OnnxSteer.Server;
using OnnxSteer.Tests.Infrastructure;
using Xunit;
using ChatMessage = OpenAI.Chat.ChatMessage;

namespace OnnxSteer.Tests.Serve;

/// <summary>
/// The server through clients no one here wrote: the official OpenAI .NET library (2.15.0) and a
/// Microsoft.Extensions.AI <see cref="IChatClient"/> over it (Microsoft.Extensions.AI.OpenAI 11.0.0), as docs/serve.md
/// shows. Answers are checked against in-process greedy generation of the same steering setting.
/// </summary>
[Collection(ServeCollection.Name)]
public sealed class OpenAiDotnetClientTests(ServeFixture f)
{
    private const string Prompt = "Once upon a time, there was a little";

    private ChatClient Client(string? model = null) => new(model ?? f.ModelId, new ApiKeyCredential("unused"),
        new OpenAIClientOptions { Endpoint = new Uri(f.Server.BaseAddress, "v1") });

    private string Expected(SteeringChoice steering, int maxTokens) => f.SequentialGreedyText(Prompt, steering, maxTokens);

    [SharedFact]
    public async Task A_vanilla_chat_completion_is_the_greedy_continuation()
    {
        var result = await Client().CompleteChatAsync([new UserChatMessage(Prompt)], new ChatCompletionOptions { Temperature = 0, MaxOutputTokenCount = 12 });
        Assert.Equal(Expected(SteeringChoice.Vanilla, 12), result.Value.Content[0].Text);
        Assert.Equal(12, result.Value.Usage.OutputTokenCount);
        Assert.Equal(OpenAI.Chat.ChatFinishReason.Length, result.Value.FinishReason);
    }

    [SharedFact]
    public async Task A_steered_chat_completion_carries_the_steering_field_through_the_request_patch()
    {
        var options = new ChatCompletionOptions { Temperature = 0, MaxOutputTokenCount = 12 };
#pragma warning disable SCME0001 // JsonPatch: the documented way to add a field the library does not model
        options.Patch.Set("$.steering"u8, BinaryData.FromString("""{"profile": "happy", "strength": 1.5}"""));
#pragma warning restore SCME0001
        var result = await Client().CompleteChatAsync([new UserChatMessage(Prompt)], options);
        var expected = Expected(new SteeringChoice("happy", 1.5f), 12);
        Assert.Equal(expected, result.Value.Content[0].Text);
        Assert.NotEqual(Expected(SteeringChoice.Vanilla, 12), expected);
    }

    [SharedFact]
    public async Task Streaming_through_the_library_gives_the_steered_text_of_a_model_id_naming_the_profile()
    {
        var pieces = new List<string>();
        ChatTokenUsage? usage = null;
        await foreach (var update in Client($"{f.ModelId}:calm").CompleteChatStreamingAsync([new UserChatMessage(Prompt)],
                           new ChatCompletionOptions { Temperature = 0, MaxOutputTokenCount = 16 }))
        {
            pieces.AddRange(update.ContentUpdate.Select(c => c.Text));
            usage ??= update.Usage;
        }
        Assert.True(pieces.Count > 2, "the answer did not stream");
        Assert.Equal(Expected(new SteeringChoice("calm", 1f), 16), string.Concat(pieces));
        Assert.NotNull(usage);
    }

    [SharedFact]
    public async Task An_unknown_profile_is_a_client_error_with_the_servers_message()
    {
        var e = await Assert.ThrowsAsync<ClientResultException>(() => Client($"{f.ModelId}:angry").CompleteChatAsync([new UserChatMessage(Prompt)]));
        Assert.Equal(400, e.Status);
        Assert.Contains("unknown profile 'angry'", e.Message);
    }

    [SharedFact]
    public async Task An_IChatClient_from_Microsoft_Extensions_AI_gets_vanilla_and_steered_answers()
    {
        // As in docs/serve.md.
        IChatClient chat = new ChatClient(f.ModelId, new ApiKeyCredential("unused"),
            new OpenAIClientOptions { Endpoint = new Uri(f.Server.BaseAddress, "v1") }).AsIChatClient();
        var vanilla = await chat.GetResponseAsync(Prompt, new ChatOptions { Temperature = 0, MaxOutputTokens = 10 });
        var steered = await chat.GetResponseAsync(Prompt, new ChatOptions { Temperature = 0, MaxOutputTokens = 10, ModelId = $"{f.ModelId}:happy" });
        Assert.Equal(Expected(SteeringChoice.Vanilla, 10), vanilla.Text);
        Assert.Equal(Expected(new SteeringChoice("happy", 1f), 10), steered.Text);
        Assert.NotEqual(vanilla.Text, steered.Text);
    }
}
