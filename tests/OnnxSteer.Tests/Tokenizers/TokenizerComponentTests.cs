using System.Text;
using System.Text.Json.Nodes;
using OnnxSteer.Tokenizers;
using Xunit;
using OnnxSteer.Cli;

namespace OnnxSteer.Tests.Tokenizers;

/// <summary>Normalizers, pre-tokenizers, decoders, added tokens and loader errors, each against documented behavior.</summary>
public sealed class TokenizerComponentTests
{
    private static List<string> PreTokenize(IPreTokenizer preTokenizer, string text, bool atStart = true)
    {
        var pieces = new List<string>();
        preTokenizer.PreTokenize(text, atStart, pieces);
        return pieces;
    }

    // The expected lists are the examples of Hugging Face's SplitDelimiterBehavior documentation.
    [Theory]
    [InlineData(SplitBehavior.Removed, new[] { "the", "final", "countdown" })]
    [InlineData(SplitBehavior.Isolated, new[] { "the", "-", "final", "-", "-", "countdown" })]
    [InlineData(SplitBehavior.MergedWithPrevious, new[] { "the-", "final-", "-", "countdown" })]
    [InlineData(SplitBehavior.MergedWithNext, new[] { "the", "-final", "-", "-countdown" })]
    [InlineData(SplitBehavior.Contiguous, new[] { "the", "-", "final", "--", "countdown" })]
    internal void Split_behaviors_match_the_documented_examples(SplitBehavior behavior, string[] expected)
    {
        Assert.Equal(expected, PreTokenize(new SplitPreTokenizer("-", isRegex: false, behavior, invert: false), "the-final--countdown"));
    }

    [Fact]
    public void Metaspace_replaces_spaces_prefixes_and_splits_before_each_marker()
    {
        var always = new MetaspacePreTokenizer("▁", PrependScheme.Always, split: true);
        Assert.Equal(["▁Hello", "▁world", "▁", "▁x"], PreTokenize(always, "Hello world  x"));
        var first = new MetaspacePreTokenizer("▁", PrependScheme.First, split: false);
        Assert.Equal(["▁Hi▁there"], PreTokenize(first, "Hi there"));
        Assert.Equal(["Hi▁there"], PreTokenize(first, "Hi there", atStart: false));
        Assert.Equal(["▁hi"], PreTokenize(new MetaspacePreTokenizer("▁", PrependScheme.Never, false), " hi"));
    }

    [Fact]
    public void Digits_whitespace_and_punctuation_pre_tokenizers()
    {
        Assert.Equal(["a", "1", "2", "3", "b"], PreTokenize(new DigitsPreTokenizer(individualDigits: true), "a123b"));
        Assert.Equal(["a", "123", "b", "4"], PreTokenize(new DigitsPreTokenizer(individualDigits: false), "a123b4"));
        Assert.Equal(["Hey", "friend", "!", "How", "are", "you", "?!?"], PreTokenize(new WhitespacePreTokenizer(), "Hey friend!     How are you?!?"));
        Assert.Equal(["a,b", "c"], PreTokenize(new WhitespaceSplitPreTokenizer(), " a,b \n c "));
        Assert.Equal(["a", ",", "b", "!"], PreTokenize(new PunctuationPreTokenizer(SplitBehavior.Isolated), "a,b!"));
    }

    [Fact]
    public void Normalizers_transform_text_as_named()
    {
        Assert.Equal("fi", new UnicodeNormalizer(NormalizationForm.FormKC).Normalize("ﬁ"));
        Assert.Equal("é", new UnicodeNormalizer(NormalizationForm.FormC).Normalize("e\u0301"));
        Assert.Equal("cafe", new SequenceNormalizer([new UnicodeNormalizer(NormalizationForm.FormD), new StripAccentsNormalizer()]).Normalize("café"));
        Assert.Equal("▁a▁b", new SequenceNormalizer([new PrependNormalizer("▁"), new ReplaceNormalizer(" ", "▁", false)]).Normalize("a b"));
        Assert.Equal("", new PrependNormalizer("▁").Normalize(""));
        Assert.Equal("a b c", new ReplaceNormalizer(" {2,}", " ", true).Normalize("a   b  c"));
        Assert.Equal("x  ", new StripNormalizer(left: true, right: false).Normalize("  x  "));
        Assert.Equal("hello", new LowercaseNormalizer().Normalize("HeLLo"));
    }

    [Fact]
    public void Decoders_undo_sentencepiece_spelling()
    {
        Assert.Equal(["é", "x", "\uFFFD", "\uFFFD"], new ByteFallbackDecoder().DecodeChain(["<0xC3>", "<0xA9>", "x", "<0xC3>", "<0x28>"]));
        Assert.Equal(["a  b "], new StripDecoder(' ', 2, 1).DecodeChain(["  a  b  "]));
        Assert.Equal([" a", "b"], new StripDecoder(' ', 1, 0).DecodeChain(["  a", " b"]));
        Assert.Equal(["Hello", " world"], new MetaspaceDecoder('▁', PrependScheme.Always).DecodeChain(["▁Hello", "▁world"]));
        Assert.Equal([" Hello", " world"], new MetaspaceDecoder('▁', PrependScheme.Never).DecodeChain(["▁Hello", "▁world"]));
        Assert.Equal(["héllo wörld"], new ByteLevelDecoder().DecodeChain(["hÃ©llo", "ĠwÃ¶rld"]));
    }

    [Fact]
    public void Added_tokens_match_longest_first_and_strip_whitespace_when_asked()
    {
        var vocabulary = new AddedVocabulary([
            new AddedToken(10, "<mask>", true, LStrip: true, RStrip: false),
            new AddedToken(11, "<m>", true),
            new AddedToken(12, "<|x|>", false, LStrip: false, RStrip: true),
        ]);
        var text = "a <mask> b<m>c<|x|>   d";
        var parts = vocabulary.Split(text).Select(s => (text.Substring(s.Start, s.Length), s.Token?.Id)).ToList();
        Assert.Equal([("a", null), (" <mask>", 10), (" b", null), ("<m>", 11), ("c", null), ("<|x|>   ", 12), ("d", null)], parts);
    }

    [Fact]
    public void Bad_files_raise_invalid_tokenizer_errors_naming_the_file()
    {
        var e = Assert.Throws<InvalidTokenizerException>(() => TokenizerLoader.FromJson("{ not json", source: "x/tokenizer.json"));
        Assert.StartsWith("x/tokenizer.json: not valid JSON", e.Message);
        Assert.Equal(ExitCodes.InvalidInput, ErrorReporter.ExitCode(e));

        var unigram = new JsonObject { ["model"] = new JsonObject { ["type"] = "Unigram", ["vocab"] = new JsonArray() } };
        e = Assert.Throws<InvalidTokenizerException>(() => TokenizerLoader.FromJson(unigram.ToJsonString(), source: "u.json"));
        Assert.Equal("u.json: model type 'Unigram' is not supported (only BPE tokenizers are)", e.Message);

        var badMerge = new JsonObject
        {
            ["model"] = new JsonObject
            {
                ["type"] = "BPE", ["vocab"] = new JsonObject { ["a"] = 0, ["b"] = 1 }, ["merges"] = new JsonArray("a b"),
            },
        };
        e = Assert.Throws<InvalidTokenizerException>(() => TokenizerLoader.FromJson(badMerge.ToJsonString(), source: "m.json"));
        Assert.StartsWith("m.json: merge 0 ('a' 'b') makes 'ab', which is not in the vocabulary", e.Message);

        var missing = Path.Combine(Path.GetTempPath(), "onnxsteer-no-such-" + Guid.NewGuid().ToString("N"));
        e = Assert.Throws<InvalidTokenizerException>(() => TokenizerLoader.Load(missing));
        Assert.Contains(missing, e.Message);
    }

    [Fact]
    public void Unknown_characters_become_one_fused_unk_without_byte_fallback()
    {
        var json = new JsonObject
        {
            ["model"] = new JsonObject
            {
                ["type"] = "BPE", ["unk_token"] = "<unk>", ["fuse_unk"] = true,
                ["vocab"] = new JsonObject { ["<unk>"] = 0, ["a"] = 1, ["b"] = 2, ["ab"] = 3 },
                ["merges"] = new JsonArray("a b"),
            },
        };
        var tokenizer = TokenizerLoader.FromJson(json.ToJsonString());
        Assert.Equal([3, 0, 1], tokenizer.EncodeToIds("abxyza"));
    }
}
