using System.Security.Cryptography;
using System.Text.Json;
using OnnxSteer.Tests.Infrastructure;
using OnnxSteer.Tokenizers;
using Xunit;

namespace OnnxSteer.Tests.Tokenizers;

/// <summary>
/// The real Llama-2 tokenizer.json against ids produced by an independent implementation (@huggingface/tokenizers,
/// see tests/tokenizer-fixture/generate.mjs) on a committed set of varied strings.
/// </summary>
public sealed class Llama2FixtureTests
{
    private sealed record Case(string Text, int[] Ids, bool RoundTrips);

    private static readonly string FixturePath =
        Path.Combine(SharedData.RepoRoot, "tests", "OnnxSteer.Tests", "Tokenizers", "Fixtures", "llama2-expected.json");

    private static (string Sha256, List<Case> Cases) ReadFixture()
    {
        using var doc = JsonDocument.Parse(File.ReadAllText(FixturePath));
        var cases = doc.RootElement.GetProperty("cases").EnumerateArray().Select(c => new Case(
            c.GetProperty("text").GetString()!,
            c.GetProperty("ids").EnumerateArray().Select(x => x.GetInt32()).ToArray(),
            c.GetProperty("roundTrips").GetBoolean())).ToList();
        return (doc.RootElement.GetProperty("tokenizerSha256").GetString()!, cases);
    }

    private static string TokenizerJsonPath => Path.Combine(SharedData.TinyGenaiModelDir, "tokenizer.json");

    [SharedFact]
    public void Fixture_was_made_from_this_tokenizer_file_and_has_at_least_200_strings()
    {
        var (sha, cases) = ReadFixture();
        Assert.Equal(sha, Convert.ToHexStringLower(SHA256.HashData(File.ReadAllBytes(TokenizerJsonPath))));
        Assert.True(cases.Count >= 200, $"only {cases.Count} cases");
        Assert.Contains(cases, c => c.Text.Length == 0);
    }

    [SharedFact]
    public void Encoding_matches_the_independent_implementation_on_every_string()
    {
        var tokenizer = LoadedTokenizers.Llama2;
        var (_, cases) = ReadFixture();
        var mismatches = cases
            .Select(c => (c, Actual: tokenizer.EncodeToIds(c.Text, addBos: true).ToArray()))
            .Where(x => !x.c.Ids.SequenceEqual(x.Actual))
            .Select(x => $"{JsonSerializer.Serialize(x.c.Text)}: expected [{string.Join(',', x.c.Ids)}] got [{string.Join(',', x.Actual)}]")
            .ToList();
        Assert.True(mismatches.Count == 0, $"{mismatches.Count}/{cases.Count} differ:\n" + string.Join('\n', mismatches.Take(15)));
    }

    [SharedFact]
    public void Decoding_inverts_encoding_on_every_string_that_can_round_trip()
    {
        var tokenizer = LoadedTokenizers.Llama2;
        var (_, cases) = ReadFixture();
        var roundTripping = cases.Where(c => c.RoundTrips).ToList();
        Assert.True(roundTripping.Count >= 200, $"only {roundTripping.Count} round-trip cases");
        var failures = roundTripping
            .Select(c => (c.Text, Back: tokenizer.Decode(tokenizer.EncodeToIds(c.Text))))
            .Where(x => x.Text != x.Back)
            .Select(x => $"{JsonSerializer.Serialize(x.Text)} -> {JsonSerializer.Serialize(x.Back)}")
            .ToList();
        Assert.True(failures.Count == 0, $"{failures.Count} do not round-trip:\n" + string.Join('\n', failures.Take(15)));
    }

    [SharedFact]
    public void Special_tokens_come_from_tokenizer_config_not_the_exporters_genai_config()
    {
        var tokenizer = LoadedTokenizers.Llama2;
        // genai_config.json of this export says bos 0 / eos 1; tokenizer_config.json names <s> (1) and </s> (2).
        Assert.Equal(1, tokenizer.BosTokenId);
        Assert.Equal(2, tokenizer.EosTokenId);
        Assert.Equal(32000, tokenizer.VocabSize);
        Assert.Equal([1], tokenizer.PrefixIds);
        Assert.Empty(tokenizer.SuffixIds);
        Assert.Equal("<s>", tokenizer.IdToToken(1));
        Assert.True(tokenizer.IsSpecial(2));
    }

    [SharedFact]
    public void Byte_fallback_tokens_decode_to_utf8_and_special_tokens_are_skipped_on_request()
    {
        var tokenizer = TokenizerLoader.LoadBpe(Path.Combine(SharedData.TinyGenaiModelDir, "tokenizer.json"));
        var ids = tokenizer.EncodeToIds("😀 ok");
        var tokens = tokenizer.EncodeToTokens("😀 ok");
        // The emoji is not in the vocabulary, so it falls back to its four UTF-8 bytes.
        Assert.Equal(["▁", "<0xF0>", "<0x9F>", "<0x98>", "<0x80>", "▁ok"], tokens);
        Assert.Equal("😀 ok", tokenizer.Decode(ids));
        Assert.Equal("<s> 😀 ok", tokenizer.Decode(ids, skipSpecialTokens: false));
        Assert.Equal(tokens.Count + 1, tokenizer.CountTokens("😀 ok"));
    }

    [SharedFact]
    public void Long_words_use_the_priority_queue_and_agree_with_the_pair_scan()
    {
        var tokenizer = LoadedTokenizers.Llama2;
        var (_, cases) = ReadFixture();
        foreach (var text in cases.Select(c => "▁" + c.Text.Replace(' ', '▁')).Where(t => t.Length > 1))
        {
            var (scan, queue) = tokenizer.Model.EncodeBothWays(text);
            Assert.Equal(scan, queue);
        }
    }
}
