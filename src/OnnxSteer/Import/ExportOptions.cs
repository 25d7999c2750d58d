namespace OnnxSteer.Import;

/// <summary>Which graph conventions an exported model follows.</summary>
public enum ExportStyle
{
    /// <summary>What onnxruntime-genai's model builder emits: GroupQueryAttention, SkipSimplifiedLayerNormalization, MatMulNBits.</summary>
    Genai,
    /// <summary>Default-domain operators only, decomposed attention, Hugging Face Optimum-like names.</summary>
    Standard,
}

/// <summary>Weight precision of an exported model.</summary>
public enum ExportDType
{
    /// <summary>fp32 weights and activations.</summary>
    Fp32,
    /// <summary>fp16 weights, activations, inputs and outputs.</summary>
    Fp16,
    /// <summary>4-bit block-quantised projection weights (block 32 along K, symmetric), fp32 activations.</summary>
    Int4,
}

/// <summary>The lower-case names of styles and dtypes, as written into the model's metadata and folder names.</summary>
internal static class ExportNames
{
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
