using System.Net;
using System.Text;
using System.Text.Json.Nodes;
using OnnxSteer.Server;
using OnnxSteer.Tests.Infrastructure;
using OnnxSteer.Tokenizers;
using Xunit;

namespace OnnxSteer.Tests.Serve;

/// <summary>A model with a chat template (tiny-random-llama, a Llama-2 template) gets chat messages rendered by it.</summary>
public sealed class ChatTemplateTests
{
    [SharedFact]
    public async Task Chat_messages_go_through_the_models_chat_template()
    {
        var folder = SharedData.TinyGenaiModelDir;
        await using var server = await SteeringServer.StartAsync(new ServeOptions { Model = folder, Port = 0, Log = _ => { } });
        using var http = new HttpClient { BaseAddress = server.BaseAddress };
        var body = new JsonObject
        {
            ["model"] = server.ModelId, ["max_tokens"] = 3, ["temperature"] = 0,
            ["messages"] = new JsonArray(new JsonObject { ["role"] = "user", ["content"] = "Hi there" }),
        };
        using var response = await http.PostAsync("v1/chat/completions", new StringContent(body.ToJsonString(), Encoding.UTF8, "application/json"));
        var json = JsonNode.Parse(await response.Content.ReadAsStringAsync())!;
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        // The Llama-2 template, written out by hand: BOS, then [INST] ... [/INST].
        var tokenizer = TokenizerLoader.Load(folder);
        var expected = tokenizer.EncodeToIds("<s>[INST] Hi there [/INST]", addBos: false);
        Assert.Equal(tokenizer.BosTokenId, expected[0]);
        Assert.Equal(expected.Count, json["usage"]!["prompt_tokens"]!.GetValue<int>());
        Assert.NotEqual(tokenizer.EncodeToIds("Hi there").Count, expected.Count);
    }
}
