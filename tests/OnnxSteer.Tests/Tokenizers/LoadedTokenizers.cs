using OnnxSteer.Tests.Infrastructure;
using OnnxSteer.Tokenizers;

namespace OnnxSteer.Tests.Tokenizers;

/// <summary>Tokenizers read once per test run (the 32000-token Llama-2 file takes a moment to load).</summary>
internal static class LoadedTokenizers
{
    private static readonly Lazy<BpeTokenizer> TinyLlama = new(() => TokenizerLoader.LoadBpe(SharedData.TinyGenaiModelDir));

    /// <summary>The real Llama-2 tokenizer of ../shared/models/tiny-random-llama-genai-fp16.</summary>
    public static BpeTokenizer Llama2 => TinyLlama.Value;
}
