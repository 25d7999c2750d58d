namespace OnnxSteer.Runtime;

/// <summary>ONNX tensor element types, with ONNX Runtime's numbering (ONNXTensorElementDataType).</summary>
public enum TensorElementType
{
    Undefined = 0,
    Float = 1,
    UInt8 = 2,
    Int8 = 3,
    UInt16 = 4,
    Int16 = 5,
    Int32 = 6,
    Int64 = 7,
    String = 8,
    Bool = 9,
    Float16 = 10,
    Double = 11,
    UInt32 = 12,
    UInt64 = 13,
    Complex64 = 14,
    Complex128 = 15,
    BFloat16 = 16,
}

/// <summary>Kinds of ONNX values (ONNXType).</summary>
public enum OnnxValueType
{
    Unknown = 0,
    Tensor = 1,
    Sequence = 2,
    Map = 3,
    Opaque = 4,
    SparseTensor = 5,
    Optional = 6,
}

/// <summary>ONNX Runtime's error codes (OrtErrorCode).</summary>
public enum OrtErrorCode
{
    Ok = 0,
    Fail = 1,
    InvalidArgument = 2,
    NoSuchFile = 3,
    NoModel = 4,
    EngineError = 5,
    RuntimeException = 6,
    InvalidProtobuf = 7,
    ModelLoaded = 8,
    NotImplemented = 9,
    InvalidGraph = 10,
    EpFail = 11,
    ModelLoadCanceled = 12,
    ModelRequiresCompilation = 13,
    NotFound = 14,
}

/// <summary>Log severity (OrtLoggingLevel).</summary>
public enum OrtLoggingLevel
{
    Verbose = 0,
    Info = 1,
    Warning = 2,
    Error = 3,
    Fatal = 4,
}

/// <summary>Graph optimisation level (GraphOptimizationLevel).</summary>
public enum GraphOptimizationLevel
{
    DisableAll = 0,
    EnableBasic = 1,
    EnableExtended = 2,
    EnableAll = 99,
}

/// <summary>Helpers for element types.</summary>
public static class TensorElementTypes
{
    /// <summary>Bytes per element, or 0 for types without a fixed size (string, undefined).</summary>
    public static int SizeOf(TensorElementType type) => type switch
    {
        TensorElementType.Float or TensorElementType.Int32 or TensorElementType.UInt32 => 4,
        TensorElementType.UInt8 or TensorElementType.Int8 or TensorElementType.Bool => 1,
        TensorElementType.UInt16 or TensorElementType.Int16 or TensorElementType.Float16 or TensorElementType.BFloat16 => 2,
        TensorElementType.Int64 or TensorElementType.UInt64 or TensorElementType.Double or TensorElementType.Complex64 => 8,
        TensorElementType.Complex128 => 16,
        _ => 0,
    };

    /// <summary>The element type that a managed type <typeparamref name="T"/> stands for.</summary>
    public static TensorElementType Of<T>() where T : unmanaged
    {
        var t = typeof(T);
        if (t == typeof(float)) return TensorElementType.Float;
        if (t == typeof(byte)) return TensorElementType.UInt8;
        if (t == typeof(sbyte)) return TensorElementType.Int8;
        if (t == typeof(ushort)) return TensorElementType.UInt16;
        if (t == typeof(short)) return TensorElementType.Int16;
        if (t == typeof(int)) return TensorElementType.Int32;
        if (t == typeof(long)) return TensorElementType.Int64;
        if (t == typeof(bool)) return TensorElementType.Bool;
        if (t == typeof(Half)) return TensorElementType.Float16;
        if (t == typeof(double)) return TensorElementType.Double;
        if (t == typeof(uint)) return TensorElementType.UInt32;
        if (t == typeof(ulong)) return TensorElementType.UInt64;
        if (t == typeof(BFloat16)) return TensorElementType.BFloat16;
        throw new NotSupportedException($"{t.Name} is not a tensor element type");
    }
}
