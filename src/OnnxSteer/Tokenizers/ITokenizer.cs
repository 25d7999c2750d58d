namespace OnnxSteer.Tokenizers;

/// <summary>Text to token ids and back (<see cref="TokenizerLoader.Load"/> reads one). Shaped after
/// Microsoft.ML.Tokenizers' <c>Tokenizer</c> so it can be swapped in.</summary>
public interface ITokenizer
{
    /// <summary>Encodes text to ids; <paramref name="addBos"/> prepends the BOS token when the tokenizer has one.</summary>
    IReadOnlyList<int> EncodeToIds(string text, bool addBos = true);

    /// <summary>Decodes ids back to text; special tokens are skipped when <paramref name="skipSpecialTokens"/>.</summary>
    string Decode(IEnumerable<int> ids, bool skipSpecialTokens = true);

    /// <summary>The BOS id, if any.</summary>
    int? BosTokenId { get; }

    /// <summary>The EOS id, if any.</summary>
    int? EosTokenId { get; }

    /// <summary>Number of ids, added tokens included.</summary>
    int VocabSize { get; }

    /// <summary>Number of ids <see cref="EncodeToIds"/> returns for <paramref name="text"/>.</summary>
    int CountTokens(string text, bool addBos = true) => EncodeToIds(text, addBos).Count;
}
