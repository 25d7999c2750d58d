using System.Globalization;

namespace OnnxSteer.HostFormats;

/// <summary>
/// A llama.cpp / repeng control vector: one direction of width n_embd per decoder layer, added to that layer's
/// output (the residual stream after the layer's MLP residual add) at every position.
/// <para><b>Layer numbering</b> (checked against the sources): tensor <c>direction.N</c> belongs to the 0-based decoder
/// layer N. repeng's <c>ControlVector.export_gguf</c> writes <c>direction.{layer}</c> for the keys of its directions,
/// which are indices into <c>model.layers</c> (0-based), and its <c>ControlModule</c> adds the vector to output[0] of
/// that layer's module. llama.cpp's <c>common_control_vector_load_one</c> rejects <c>direction.0</c> and stores
/// <c>direction.N</c> at row N−1; <c>llama_adapter_cvec::apply</c> copies row il−1 into the tensor of layer il (there is
/// never a tensor for layer 0), and each model graph calls <c>cvec.apply_to(cur, il)</c> (a ggml_add) right after
/// <c>cur = ffn_out + ffn_inp</c> inside <c>for (il = 0; il &lt; n_layer; ++il)</c>, where il is 0-based. So both
/// add <c>direction.N</c> to the output of 0-based layer N; llama.cpp cannot steer layer 0.</para>
/// </summary>
/// <param name="ModelHint"><c>controlvector.model_hint</c>: the model type it was made for (repeng writes the HF
/// model_type, e.g. <c>llama</c>, <c>mistral</c>); informational.</param>
/// <param name="LayerCount"><c>controlvector.layer_count</c> as stored (repeng: the number of directions; llama.cpp's
/// generator: n_layer − 1, also the number it writes); informational, llama.cpp's loader ignores it.</param>
/// <param name="Directions">0-based layer → direction (all the same width).</param>
internal sealed record ControlVector(string? ModelHint, long? LayerCount, IReadOnlyDictionary<int, float[]> Directions)
{
    /// <summary><c>general.architecture</c> of a control vector file.</summary>
    public const string Architecture = "controlvector";

    /// <summary>Metadata key of the model hint.</summary>
    public const string ModelHintKey = "controlvector.model_hint";

    /// <summary>Metadata key of the layer count.</summary>
    public const string LayerCountKey = "controlvector.layer_count";

    /// <summary>OnnxSteer's own key (community namespace, as the spec asks): the fingerprint of the model it was made on.</summary>
    public const string FingerprintKey = "onnxsteer.model_fingerprint";

    /// <summary>Tensor name prefix; the rest is the 0-based layer in decimal.</summary>
    public const string TensorPrefix = "direction.";

    /// <summary>The width of every direction (n_embd); 0 when there are none.</summary>
    public int Width => Directions.Count == 0 ? 0 : Directions.Values.First().Length;

    /// <summary>The tensor name of a layer's direction, e.g. <c>direction.3</c>.</summary>
    public static string TensorName(int layer) => TensorPrefix + layer.ToString(CultureInfo.InvariantCulture);

    /// <summary>
    /// The layer of a <c>direction.N</c> tensor name: N as plain decimal (no sign, no leading zeros, fits an int),
    /// else null.
    /// </summary>
    public static int? LayerOf(string tensorName)
    {
        if (!tensorName.StartsWith(TensorPrefix, StringComparison.Ordinal)) return null;
        var digits = tensorName[TensorPrefix.Length..];
        if (digits.Length == 0 || digits.Length > 9 || !digits.All(char.IsAsciiDigit) || (digits.Length > 1 && digits[0] == '0')) return null;
        return int.Parse(digits, CultureInfo.InvariantCulture);
    }
}

/// <summary>What reading a control vector file found besides the directions (things the user should know).</summary>
internal sealed record ControlVectorRead(ControlVector Vector, string? ModelFingerprint, IReadOnlyList<string> Warnings);

/// <summary>Reads and writes control vector GGUF files (see <see cref="ControlVector"/> for the conventions).</summary>
internal static class ControlVectorFile
{
    /// <summary>
    /// Reads <paramref name="path"/>: <c>general.architecture</c> must be <c>controlvector</c>; every <c>direction.N</c>
    /// tensor must be F32, 1-D, finite, and all of one width. Other tensors are ignored with a warning (llama.cpp's loader
    /// ignores them too); a file without a direction is refused.
    /// </summary>
    public static ControlVectorRead Read(string path)
    {
        var file = GgufReader.Read(path);
        var arch = file.Get(GgufFile.ArchitectureKey);
        if (arch is null) throw new InvalidGgufException($"{path}: no {GgufFile.ArchitectureKey}; a control vector file says '{ControlVector.Architecture}'");
        if (arch.Value is not string archName || archName != ControlVector.Architecture)
            throw new InvalidGgufException($"{path}: {GgufFile.ArchitectureKey} is '{arch}', not '{ControlVector.Architecture}': this is not a control vector (a model file?)");

        var warnings = new List<string>();
        var directions = new SortedDictionary<int, float[]>();
        foreach (var t in file.Tensors)
        {
            var layer = ControlVector.LayerOf(t.Name);
            if (layer is null)
            {
                if (t.Name.StartsWith(ControlVector.TensorPrefix, StringComparison.Ordinal))
                    throw new InvalidGgufException($"{path}: tensor '{t.Name}': the part after 'direction.' must be a layer number");
                warnings.Add($"{path}: tensor '{t.Name}' is not a direction.N tensor; ignored");
                continue;
            }
            if (t.Type != GgmlType.F32)
                throw new InvalidGgufException($"{path}: tensor '{t.Name}' is {t.TypeName}; control vector directions must be F32");
            if (t.Dimensions.Count != 1)
                throw new InvalidGgufException($"{path}: tensor '{t.Name}' has {t.Dimensions.Count} dimensions [{string.Join(", ", t.Dimensions)}]; a direction is 1-D");
            var data = GgufReader.ReadF32(file, t);
            if (directions.Count > 0 && directions.Values.First().Length != data.Length)
                throw new InvalidGgufException($"{path}: tensor '{t.Name}' has {data.Length} elements, the others {directions.Values.First().Length}; all directions must have one width");
            for (var i = 0; i < data.Length; i++)
                if (!float.IsFinite(data[i])) throw new InvalidGgufException($"{path}: tensor '{t.Name}' element {i} is {data[i]} (not finite)");
            directions[layer.Value] = data;
        }
        if (directions.Count == 0) throw new InvalidGgufException($"{path}: no direction.N tensors: the control vector is empty");

        var hint = file.Get(ControlVector.ModelHintKey);
        if (hint is not null && hint.Value is not string) warnings.Add($"{path}: {ControlVector.ModelHintKey} is a {hint.Type}, not a string; ignored");
        var count = file.Get(ControlVector.LayerCountKey);
        long? layerCount = count?.AsInteger();
        if (count is not null && layerCount is null) warnings.Add($"{path}: {ControlVector.LayerCountKey} is a {count.Type}, not an integer; ignored");
        if (directions.ContainsKey(0))
            warnings.Add($"{path}: has direction.0 (layer 0); llama.cpp refuses such files, repeng and OnnxSteer apply it to layer 0's output");
        return new ControlVectorRead(new ControlVector(hint?.Value as string, layerCount, directions), file.GetString(ControlVector.FingerprintKey), warnings);
    }

    /// <summary>
    /// Writes <paramref name="vector"/> as repeng does: <c>general.architecture = controlvector</c>,
    /// <c>controlvector.model_hint</c> (string), <c>controlvector.layer_count</c> (uint32: <see cref="ControlVector.LayerCount"/>, or the number of directions when null),
    /// then F32 1-D tensors <c>direction.N</c> in layer order; plus <c>onnxsteer.model_fingerprint</c> when given.
    /// </summary>
    public static void Write(string path, ControlVector vector, string? modelFingerprint = null) =>
        GgufWriter.Write(path, Metadata(vector, modelFingerprint), Tensors(vector));

    /// <summary>The metadata <see cref="Write"/> stores.</summary>
    public static List<KeyValuePair<string, GgufValue>> Metadata(ControlVector vector, string? modelFingerprint = null)
    {
        var metadata = new List<KeyValuePair<string, GgufValue>>
        {
            new(GgufFile.ArchitectureKey, GgufValue.Of(ControlVector.Architecture)),
            new(ControlVector.ModelHintKey, GgufValue.Of(vector.ModelHint ?? "")),
            new(ControlVector.LayerCountKey, GgufValue.Of(vector.LayerCount is >= 0 and <= uint.MaxValue ? (uint)vector.LayerCount.Value : (uint)vector.Directions.Count)),
        };
        if (modelFingerprint is not null) metadata.Add(new(ControlVector.FingerprintKey, GgufValue.Of(modelFingerprint)));
        return metadata;
    }

    /// <summary>The tensors <see cref="Write"/> stores, in layer order.</summary>
    public static List<GgufF32Tensor> Tensors(ControlVector vector) =>
        vector.Directions.OrderBy(d => d.Key).Select(d => GgufF32Tensor.Vector(ControlVector.TensorName(d.Key), d.Value)).ToList();
}
