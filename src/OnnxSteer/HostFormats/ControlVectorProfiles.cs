using OnnxSteer.ModelFiles;
using OnnxSteer.Profiles;
using OnnxSteer.Sites;
using static OnnxSteer.ErrorText;

namespace OnnxSteer.HostFormats;

/// <summary>A profile made from a control vector, and what the user should know about it.</summary>
/// <param name="Profile">The additive (caa) profile: one vector per layer the control vector has, at that layer's mlp-out site.</param>
/// <param name="Warnings">What the user should know (the vector was exported from another model, ...), one line each.</param>
public sealed record ImportedControlVector(SteeringProfile Profile, IReadOnlyList<WarningText> Warnings);

/// <summary>
/// Converts between control vectors (GGUF) and additive (caa) profiles. A direction for layer N becomes, times the
/// strength, the caa vector of site <c>mlp-out.N</c>, which <c>patch</c> applies as an Add right after the MLP output
/// and so adds it to layer N's output (see <see cref="ResidualSites"/> for why that is the same place); exporting does the
/// reverse for a profile's mlp-out caa vectors.
/// </summary>
public static class ControlVectorProfiles
{
    /// <summary>True when <paramref name="path"/> is a file that starts with the GGUF magic bytes.</summary>
    internal static bool IsGguf(string path)
    {
        if (!File.Exists(path)) return false;
        try
        {
            using var stream = File.OpenRead(path);
            Span<byte> magic = stackalloc byte[4];
            return stream.Read(magic) == 4 && magic.SequenceEqual(GgufFile.Magic);
        }
        catch (IOException) { return false; }
        catch (UnauthorizedAccessException) { return false; }
    }

    /// <summary>
    /// Reads the llama.cpp / repeng control vector <paramref name="ggufPath"/> and makes an additive (caa) profile for
    /// <paramref name="model"/> (an unsteered .onnx file or its folder) whose vectors are <paramref name="strength"/> ×
    /// each direction, which a patch applies as an Add after layer N's MLP output. Save it as any profile
    /// (the front door's Save).
    /// </summary>
    /// <exception cref="InvalidModelException">The model is missing or malformed, or its MLP output does not feed the residual sum directly.</exception>
    /// <exception cref="InvalidGgufException">The file is not a control vector, or a direction does not fit the model (layer, width).</exception>
    /// <exception cref="InvalidParameterException"><paramref name="strength"/> is not finite.</exception>
    public static ImportedControlVector Import(string ggufPath, string model, double strength)
    {
        var onnx = OnnxModel.Load(model);
        return Import(ggufPath, onnx, SiteFinder.Find(onnx).Sites, strength);
    }

    /// <summary>
    /// Reads the control vector <paramref name="ggufPath"/> and makes a profile for <paramref name="model"/> (unsteered;
    /// <paramref name="sites"/> are its sites) whose caa vectors are <paramref name="strength"/> × each direction.
    /// Refuses, naming the file, a direction for a layer the model lacks, a width other than the model's hidden size,
    /// and a model whose MLP output does not feed the residual sum directly.
    /// </summary>
    internal static ImportedControlVector Import(string ggufPath, OnnxModel model, IReadOnlyList<SteeringSite> sites, double strength)
    {
        if (!double.IsFinite(strength)) throw new InvalidParameterException("strength", $"strength {strength}: must be a finite number");
        var read = ControlVectorFile.Read(ggufPath);
        var warnings = new List<string>(read.Warnings);
        var source = model.FilePath ?? "model";
        var residual = ResidualSites.Find(model.Graph, sites, source);
        var fingerprint = ModelFingerprint.Compute(model, sites);
        if (read.ModelFingerprint is { } recorded && recorded != fingerprint)
            warnings.Add($"{ggufPath}: was exported from another model ({Short(recorded)}; this one is {Short(fingerprint)}); its widths fit, so it is applied anyway");

        var vector = read.Vector;
        var layers = residual.Select(r => r.Layer).ToList();
        foreach (var (layer, direction) in vector.Directions)
        {
            var site = residual.FirstOrDefault(r => r.Layer == layer)
                       ?? throw new InvalidGgufException(
                           $"{ggufPath}: {ControlVector.TensorName(layer)} is for layer {layer}, but the model has {layers.Count} decoder layers ({layers.First()}..{layers.Last()})");
            if (direction.Length != site.Width)
                throw new InvalidGgufException(
                    $"{ggufPath}: {ControlVector.TensorName(layer)} has {direction.Length} elements, but the model's hidden size is {site.Width}: it was made for another model");
        }
        if (vector.LayerCount is { } count && count != vector.Directions.Count && count != layers.Count && count != layers.Count - 1)
            warnings.Add($"{ggufPath}: {ControlVector.LayerCountKey} is {count}, but it holds {vector.Directions.Count} directions and the model has {layers.Count} layers");

        var mlpOut = residual.Select(r => r.MlpOut).ToList();
        var profile = new SteeringProfile
        {
            ModelFingerprint = fingerprint,
            ModelFile = model.FilePath is null ? null : Path.GetFileName(model.FilePath),
            Sites = mlpOut.Select(ProfileSite.From).ToList(),
            Pairs = 0,
            Source = "control vector " + Path.GetFileName(ggufPath),
            Method = SteeringMethod.Caa,
            Selection = new SelectionSettings { Alpha = strength, Sites = [SiteKind.MlpOut], Layers = vector.Directions.Keys.Order().ToList() },
            Caa = vector.Directions.OrderBy(d => d.Key).Select(d => new CaaVector
            {
                Site = $"{SiteKind.MlpOut.ToName()}.{d.Key}",
                Layer = d.Key,
                Vector = Scale(d.Value, strength),
            }).ToList(),
            // No pairs were recorded: zero counts keep the schema's per-site arrays and say so honestly.
            Counts = mlpOut.Select(s => new SiteStatistics { Site = s.Id, Positive = new int[s.Width], Negative = new int[s.Width], SumDiff = new long[s.Width] }).ToList(),
            ControlVector = new ControlVectorOrigin
            {
                File = Path.GetFileName(ggufPath),
                ModelHint = vector.ModelHint,
                LayerCount = vector.LayerCount,
                Strength = strength,
                Layers = vector.Directions.Keys.Order().ToList(),
            },
        };
        ProfileJson.Validate(profile, ggufPath);
        return new ImportedControlVector(profile, [.. warnings.Select(w => (WarningText)w)]);
    }

    /// <summary>
    /// The control vector of an additive profile: its caa vectors at mlp-out sites, one direction per layer (the vectors
    /// as they are added, strength included). Refuses unit profiles (they scale units; export them as CSV or JSON) and
    /// caa vectors at attn or mlp sites (another space than the residual stream).
    /// </summary>
    internal static ControlVector Export(SteeringProfile profile, string profilePath, string? modelHint = null)
    {
        if (profile.Method != SteeringMethod.Caa)
            throw new InvalidProfileException(
                $"{profilePath}: a control vector is added to layer outputs, but this profile ({profile.Method.ToName()}) scales units by 1 + gamma; export it as .csv or .json instead");
        if (profile.Caa.Count == 0) throw new InvalidProfileException($"{profilePath}: the caa profile holds no vectors; select them first (onnxsteer select {Param("method")} caa {Param("alpha")} A)");
        var directions = new SortedDictionary<int, float[]>();
        foreach (var v in profile.Caa)
        {
            var site = profile.Site(v.Site) ?? throw new InvalidProfileException($"{profilePath}: caa vector on unknown site '{v.Site}'");
            if (site.Kind != SiteKind.MlpOut)
                throw new InvalidProfileException(
                    $"{profilePath}: the caa vector at {site.Id} lives in the {site.Kind.ToName()} activations, not the residual stream; only mlp-out vectors can be exported as a control vector");
            if (!directions.TryAdd(site.Layer, (float[])v.Vector.Clone()))
                throw new InvalidProfileException($"{profilePath}: two caa vectors for layer {site.Layer}");
        }
        var hint = modelHint ?? profile.ControlVector?.ModelHint ?? ModelHintFromFile(profile.ModelFile);
        return new ControlVector(hint, directions.Count, directions);
    }

    private static float[] Scale(float[] direction, double strength)
    {
        var v = new float[direction.Length];
        for (var i = 0; i < v.Length; i++) v[i] = (float)(direction[i] * strength);
        return v;
    }

    /// <summary>A model hint from the profiled model's file name, when the profile has no better one.</summary>
    private static string ModelHintFromFile(string? modelFile) =>
        string.IsNullOrEmpty(modelFile) ? "onnxsteer" : Path.GetFileNameWithoutExtension(modelFile);

    private static string Short(string fingerprint) => fingerprint.Length > 19 ? fingerprint[..19] + "…" : fingerprint;
}
