using System.Text;
using System.Text.Json.Nodes;
using OnnxSteer.Tokenizers;
using Xunit;

namespace OnnxSteer.Tests.Tokenizers;

/// <summary>
/// Byte-level BPE (GPT-2, Llama-3, Qwen, SmolLM layout) on tokenizer.json files built here, checked against a naive
/// string-based BPE written in the test and against hand-worked splits of the GPT-2 and Llama-3 regexes.
/// </summary>
public sealed class ByteLevelBpeTests
{
    private const string Llama3Pattern =
        @"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";

    /// <summary>Merges over byte-level text ("Ġ" is a space, "Ċ" a newline).</summary>
    private static readonly (string, string)[] Merges =
    [
        ("Ġ", "t"), ("h", "e"), ("Ġt", "he"), ("Ġ", "w"), ("o", "r"), ("Ġw", "or"), ("l", "d"), ("Ġwor", "ld"),
        ("H", "e"), ("l", "l"), ("He", "ll"), ("Hell", "o"), ("i", "n"), ("Ġ", "a"), ("Ġa", "n"), ("Ġan", "d"),
        ("Ċ", "Ċ"), ("Ġ", "Ġ"), ("ĠĠ", "ĠĠ"), ("1", "2"), ("12", "3"), ("Ã", "©"), ("c", "a"), ("ca", "f"), ("caf", "Ã©"),
        ("'", "s"), ("i", "t"), ("Ġ", "i"), ("Ġi", "t"), ("ä", "½"), ("ä½", "ł"), ("e", "r"), ("Ġ", "h"), ("Ġh", "er"),
    ];

    /// <summary>A GPT-2 style tokenizer.json: 256 byte characters, the merges above, one special token.</summary>
    private static JsonObject ByteLevelJson(JsonNode preTokenizer, bool ignoreMerges = false)
    {
        var vocab = new JsonObject();
        var next = 0;
        foreach (var c in ByteLevelMapping.ByteToChar) vocab[c.ToString()] = next++;
        foreach (var (l, r) in Merges) vocab[l + r] = next++;
        return new JsonObject
        {
            ["version"] = "1.0",
            ["added_tokens"] = new JsonArray(new JsonObject
            {
                ["id"] = next, ["content"] = "<|endoftext|>", ["special"] = true, ["normalized"] = false,
                ["lstrip"] = false, ["rstrip"] = false, ["single_word"] = false,
            }),
            ["normalizer"] = null,
            ["pre_tokenizer"] = preTokenizer,
            ["post_processor"] = new JsonObject { ["type"] = "ByteLevel", ["add_prefix_space"] = false, ["trim_offsets"] = true },
            ["decoder"] = new JsonObject { ["type"] = "ByteLevel" },
            ["model"] = new JsonObject
            {
                ["type"] = "BPE", ["byte_fallback"] = false, ["ignore_merges"] = ignoreMerges, ["vocab"] = vocab,
                ["merges"] = new JsonArray(Merges.Select(m => (JsonNode)new JsonArray(m.Item1, m.Item2)).ToArray()),
            },
        };
    }

    private static JsonObject Gpt2PreTokenizer => new() { ["type"] = "ByteLevel", ["add_prefix_space"] = false, ["use_regex"] = true };

    private static JsonObject Llama3PreTokenizer => new()
    {
        ["type"] = "Sequence",
        ["pretokenizers"] = new JsonArray(
            new JsonObject { ["type"] = "Split", ["pattern"] = new JsonObject { ["Regex"] = Llama3Pattern }, ["behavior"] = "Isolated", ["invert"] = false },
            new JsonObject { ["type"] = "ByteLevel", ["add_prefix_space"] = false, ["use_regex"] = false }),
    };

    private static BpeTokenizer Gpt2() => TokenizerLoader.FromJson(ByteLevelJson(Gpt2PreTokenizer).ToJsonString());

    private static List<string> PreTokenize(IPreTokenizer preTokenizer, string text)
    {
        var pieces = new List<string>();
        preTokenizer.PreTokenize(text, true, pieces);
        return pieces;
    }

    /// <summary>Naive BPE on strings: find the lowest-rank adjacent pair, merge its leftmost occurrence, repeat.</summary>
    private static List<string> NaiveBpe(string word)
    {
        var ranks = Merges.Select((m, i) => (m, i)).ToDictionary(x => x.m, x => x.i);
        var symbols = word.Select(c => c.ToString()).ToList();
        while (true)
        {
            var best = -1;
            var bestRank = int.MaxValue;
            for (var i = 0; i + 1 < symbols.Count; i++)
                if (ranks.TryGetValue((symbols[i], symbols[i + 1]), out var r) && r < bestRank) { bestRank = r; best = i; }
            if (best < 0) return symbols;
            symbols[best] += symbols[best + 1];
            symbols.RemoveAt(best + 1);
        }
    }

    private static string RandomText(Random random, int length)
    {
        const string alphabet = "Hello world the and it's café 你好 123\n\t  éà😀";
        var builder = new StringBuilder();
        for (var i = 0; i < length; i++)
        {
            var c = alphabet[random.Next(alphabet.Length)];
            if (char.IsSurrogate(c)) builder.Append("😀");
            else builder.Append(c);
        }
        return builder.ToString();
    }

    [Fact]
    public void Gpt2_regex_splits_as_worked_out_by_hand()
    {
        var pieces = PreTokenize(new ByteLevelPreTokenizer(addPrefixSpace: false, useRegex: true), "Hello, I'm 12345!\n\n  ok");
        Assert.Equal(["Hello", ",", "ĠI", "'m", "Ġ12345", "!", "ĊĊĠ", "Ġok"], pieces);
    }

    [Fact]
    public void Llama3_split_regex_groups_digits_by_three_and_keeps_newlines_with_punctuation()
    {
        var tokenizer = TokenizerLoader.FromJson(ByteLevelJson(Llama3PreTokenizer).ToJsonString());
        var pieces = PreTokenize(tokenizer.PreTokenizer!, "Hello, I'm 12345!\n\n  ok");
        Assert.Equal(["Hello", ",", "ĠI", "'m", "Ġ", "123", "45", "!ĊĊ", "Ġ", "Ġok"], pieces);
    }

    [Fact]
    public void Encodes_to_the_merged_tokens_and_splits_out_special_tokens()
    {
        var tokenizer = Gpt2();
        Assert.Equal(["Hello", "Ġworld", "Ġthe", "Ġand", "<|endoftext|>", "cafÃ©"], tokenizer.EncodeToTokens("Hello world the and<|endoftext|>café"));
        Assert.Equal("Hello world", tokenizer.Decode(tokenizer.EncodeToIds("Hello world<|endoftext|>")));
        Assert.Equal("Hello world<|endoftext|>", tokenizer.Decode(tokenizer.EncodeToIds("Hello world<|endoftext|>"), skipSpecialTokens: false));
        Assert.Null(tokenizer.BosTokenId);
        Assert.Empty(tokenizer.PrefixIds);
        Assert.Equal(tokenizer.TokenToId("<|endoftext|>"), tokenizer.EosTokenId);
        Assert.Equal(256 + Merges.Length + 1, tokenizer.VocabSize);
    }

    [Fact]
    public void Ids_equal_a_naive_string_bpe_on_random_text_and_decoding_inverts_them()
    {
        var tokenizer = Gpt2();
        var preTokenizer = new ByteLevelPreTokenizer(false, true);
        var random = new Random(1234);
        for (var n = 0; n < 300; n++)
        {
            var text = RandomText(random, random.Next(0, 60));
            var expected = PreTokenize(preTokenizer, text).SelectMany(NaiveBpe).ToList();
            Assert.Equal(expected, tokenizer.EncodeToTokens(text));
            Assert.Equal(text, tokenizer.Decode(tokenizer.EncodeToIds(text)));
        }
    }

    [Fact]
    public void Long_words_merge_the_same_with_the_queue_and_the_scan()
    {
        var tokenizer = Gpt2();
        var random = new Random(99);
        for (var n = 0; n < 100; n++)
        {
            var word = ByteLevelPreTokenizer.ToByteLevel(RandomText(random, random.Next(40, 400)));
            var (scan, queue) = tokenizer.Model.EncodeBothWays(word);
            Assert.Equal(scan, queue);
            Assert.Equal(NaiveBpe(word).Select(t => tokenizer.TokenToId(t)!.Value), scan);
        }
    }

    [Fact]
    public void Ignore_merges_takes_whole_words_found_in_the_vocabulary()
    {
        // "Ġhe" is no token but "Ġher" is: with ignore_merges the word goes straight to it; otherwise merges decide.
        var json = ByteLevelJson(Llama3PreTokenizer, ignoreMerges: true);
        var withIgnore = TokenizerLoader.FromJson(json.ToJsonString());
        Assert.Equal(["Ġher"], withIgnore.EncodeToTokens(" her"));
        Assert.Equal(["Ġw", "h"], withIgnore.EncodeToTokens(" wh"));
    }

    [Fact]
    public void Add_prefix_space_prepends_one_space_only_when_missing()
    {
        var pre = new ByteLevelPreTokenizer(addPrefixSpace: true, useRegex: true);
        Assert.Equal(["Ġhi"], PreTokenize(pre, "hi"));
        Assert.Equal(["Ġhi"], PreTokenize(pre, " hi"));
    }
}
