namespace OnnxSteer.Import;

/// <summary>Which graph conventions an exported model follows.</summary>
internal enum ExportStyle
{
    /// <summary>What onnxruntime-genai's model builder emits: GroupQueryAttention, SkipSimplifiedLayerNormalization, MatMulNBits.</summary>
    Genai,
    /// <summary>Default-domain operators only, decomposed attention, Hugging Face Optimum-like names.</summary>
    Standard,
}

/// <summary>Weight precision of an exported model.</summary>
internal enum ExportDType
{
    /// <summary>fp32 weights and activations.</summary>
    Fp32,
    /// <summary>fp16 weights, activations, inputs and outputs.</summary>
    Fp16,
    /// <summary>4-bit block-quantised projection weights (block 32 along K, symmetric), fp32 activations.</summary>
    Int4,
}

/// <summary>Parsing of style and dtype names as the CLI spells them.</summary>
internal static class ExportNames
{
    /// <summary>Parses "genai" or "standard"; throws <see cref="OnnxSteerException"/> otherwise.</summary>
    public static ExportStyle ParseStyle(string text) => text.ToLowerInvariant() switch
    {
        "genai" => ExportStyle.Genai,
        "standard" => ExportStyle.Standard,
        _ => throw new InvalidParameterException("style", $"unknown style '{text}' (expected genai or standard)"),
    };

    /// <summary>Parses "fp32", "fp16" or "int4"; throws <see cref="OnnxSteerException"/> otherwise.</summary>
    public static ExportDType ParseDType(string text) => text.ToLowerInvariant() switch
    {
        "fp32" or "float32" => ExportDType.Fp32,
        "fp16" or "float16" => ExportDType.Fp16,
        "int4" => ExportDType.Int4,
        _ => throw new InvalidParameterException("dtype", $"unknown dtype '{text}' (expected fp32, fp16 or int4)"),
    };

    /// <summary>The lower-case name used on the command line and in folder names.</summary>
    public static string Name(this ExportStyle style) => style == ExportStyle.Genai ? "genai" : "standard";

    /// <summary>The lower-case name used on the command line and in folder names.</summary>
    public static string Name(this ExportDType dtype) => dtype switch
    {
        ExportDType.Fp32 => "fp32",
        ExportDType.Fp16 => "fp16",
        _ => "int4",
    };
}
