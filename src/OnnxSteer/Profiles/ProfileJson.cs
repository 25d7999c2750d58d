using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;
using OnnxSteer.IO;
using OnnxSteer.Sites;

namespace OnnxSteer.Profiles;

/// <summary>
/// Reads and writes <see cref="SteeringProfile"/> files. Reading checks everything a consumer relies on (schema,
/// site kinds, array lengths, index ranges, finite numbers, counts within N) and reports the first problem as an
/// <see cref="InvalidProfileException"/> naming the file and the field. Writing is atomic.
/// </summary>
internal static class ProfileJson
{
    private static readonly JsonSerializerOptions Options = CreateOptions();

    /// <summary>Loads and validates a profile file.</summary>
    public static SteeringProfile Load(string path) => Parse(ReadFile(path), path, selectionOnly: false);

    /// <summary>
    /// Loads a profile to apply its stored selection: the per-unit <c>counts</c>, most of a large profile's bytes (a
    /// 7B model's is ~10 MB), are stepped over unparsed, and the result has <see cref="SteeringProfile.CountsOmitted"/>
    /// set, so it cannot be re-selected or saved. Everything else is read and validated as by <see cref="Load"/>.
    /// </summary>
    public static SteeringProfile LoadSelection(string path) => Parse(ReadFile(path), path, selectionOnly: true);

    /// <summary>
    /// Parses the bytes of the profile file <paramref name="path"/>, read by the caller (who may hash the same bytes):
    /// whole as <see cref="Load"/>, or with <paramref name="selectionOnly"/> as <see cref="LoadSelection"/>.
    /// </summary>
    public static SteeringProfile Parse(byte[] bytes, string path, bool selectionOnly)
    {
        // A control vector given where a profile belongs: say what it is rather than a JSON parser's complaint.
        if (bytes.AsSpan().StartsWith("GGUF"u8))
            throw new InvalidProfileException($"{path}: is a GGUF control vector, not a profile: convert it with onnxsteer import-vector (patch also takes it directly)");
        if (!selectionOnly || CountsValueRange(bytes) is not var (start, length)) return Deserialize(bytes, path);
        var lean = new byte[bytes.Length - length + 2];
        bytes.AsSpan(0, start).CopyTo(lean);
        "[]"u8.CopyTo(lean.AsSpan(start));
        bytes.AsSpan(start + length).CopyTo(lean.AsSpan(start + 2));
        return Deserialize(lean, path, countsOmitted: true);
    }

    private static byte[] ReadFile(string path)
    {
        if (Directory.Exists(path)) throw new InvalidProfileException($"{path}: is a folder, not a profile (a .json file written by onnxsteer profile)");
        if (!File.Exists(path)) throw new InvalidProfileException($"{path}: no such file");
        byte[] bytes;
        try { bytes = File.ReadAllBytes(path); }
        catch (IOException e) { throw new InvalidProfileException($"{path}: cannot read ({e.Message})", e); }
        return bytes;
    }

    /// <summary>Where the top-level <c>counts</c> array lies in <paramref name="json"/>; null when the JSON is not an
    /// object with one (the ordinary reader then reports what is wrong).</summary>
    private static (int Start, int Length)? CountsValueRange(ReadOnlySpan<byte> json)
    {
        try
        {
            var reader = new Utf8JsonReader(json, new JsonReaderOptions { CommentHandling = JsonCommentHandling.Skip });
            if (!reader.Read() || reader.TokenType != JsonTokenType.StartObject) return null;
            while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
            {
                var isCounts = reader.ValueTextEquals("counts"u8);
                if (!reader.Read()) return null;
                if (isCounts && reader.TokenType == JsonTokenType.StartArray)
                {
                    var start = (int)reader.TokenStartIndex;
                    reader.Skip();
                    return (start, (int)reader.BytesConsumed - start);
                }
                reader.Skip();
            }
        }
        catch (JsonException) { }
        return null;
    }

    /// <summary>Writes <paramref name="profile"/> to <paramref name="path"/> atomically, after validating it.</summary>
    public static void Save(SteeringProfile profile, string path)
    {
        if (profile.CountsOmitted)
            throw new InvalidOperationException("a profile loaded without its counts (LoadSelection) cannot be saved");
        // A profile read from a /1 file is written as /2: every /1 file is a valid /2 file without the optional sums.
        profile.Schema = SteeringProfile.SchemaId;
        Validate(profile, path);
        AtomicFile.WriteAllBytes(path, Serialize(profile));
    }

    /// <summary>The JSON bytes of a profile (indented; number arrays on one line).</summary>
    public static byte[] Serialize(SteeringProfile profile) => JsonSerializer.SerializeToUtf8Bytes(profile, Options);

    /// <summary>Parses and validates profile JSON; <paramref name="name"/> names the source in error messages.</summary>
    public static SteeringProfile Deserialize(ReadOnlySpan<byte> json, string name) => Deserialize(json, name, countsOmitted: false);

    internal static SteeringProfile Deserialize(ReadOnlySpan<byte> json, string name, bool countsOmitted)
    {
        SteeringProfile? profile;
        try
        {
            profile = JsonSerializer.Deserialize<SteeringProfile>(json, Options);
        }
        catch (JsonException e)
        {
            throw new InvalidProfileException($"{name}: field '{FieldOf(e.Path)}': {IO.JsonErrorText.Of(e)}", e);
        }
        if (profile is null) throw new InvalidProfileException($"{name}: the file holds null, not a profile");
        profile.CountsOmitted = countsOmitted;
        Validate(profile, name);
        return profile;
    }

    /// <summary>Checks a profile's internal consistency; throws <see cref="InvalidProfileException"/> on the first problem.</summary>
    public static void Validate(SteeringProfile p, string name)
    {
        void Fail(string field, string problem) => throw new InvalidProfileException($"{name}: field '{field}': {problem}");

        if (p.Schema != SteeringProfile.SchemaId && p.Schema != SteeringProfile.SchemaIdV1)
            Fail("schema", $"expected '{SteeringProfile.SchemaId}' (or the older '{SteeringProfile.SchemaIdV1}'), found '{p.Schema}'");
        if (string.IsNullOrEmpty(p.ModelFingerprint)) Fail("modelFingerprint", "missing or empty");
        if (p.Pairs < 0) Fail("pairs", $"must be ≥ 0, found {p.Pairs}");
        if (p.SumScaleLog2 != FixedPoint.ScaleLog2) Fail("sumScaleLog2", $"expected {FixedPoint.ScaleLog2}, found {p.SumScaleLog2}");
        if (p.Sites is null) Fail("sites", "missing");
        if (p.Counts is null) Fail("counts", "missing");
        if (p.Truncated < 0) Fail("truncated", "must be ≥ 0");
        if (p.SkippedBad < 0) Fail("skippedBad", "must be ≥ 0");

        var ids = new HashSet<string>(StringComparer.Ordinal);
        for (var i = 0; i < p.Sites!.Count; i++)
        {
            var s = p.Sites[i];
            var f = $"sites[{i}]";
            if (s is null) Fail(f, "null");
            if (s!.Layer < 0) Fail(f + ".layer", $"must be ≥ 0, found {s.Layer}");
            if (s.Width <= 0) Fail(f + ".width", $"must be > 0, found {s.Width}");
            var expected = $"{s.Kind.ToName()}.{s.Layer}";
            if (s.Id != expected) Fail(f + ".id", $"expected '{expected}' for kind {s.Kind.ToName()} layer {s.Layer}, found '{s.Id}'");
            if (!ids.Add(s.Id)) Fail(f + ".id", $"site '{s.Id}' appears twice");
        }

        if (!p.CountsOmitted && p.Counts!.Count != p.Sites.Count) Fail("counts", $"has {p.Counts.Count} entries for {p.Sites.Count} sites");
        for (var i = 0; i < p.Counts!.Count; i++)
        {
            var c = p.Counts[i];
            var f = $"counts[{i}]";
            if (c is null) Fail(f, "null");
            var site = p.Sites[i];
            if (c!.Site != site.Id) Fail(f + ".site", $"expected '{site.Id}' (same order as sites), found '{c.Site}'");
            if (c.Positive is null || c.Positive.Length != site.Width)
                Fail(f + ".positive", $"must have {site.Width} entries (site width), found {c.Positive?.Length.ToString() ?? "none"}");
            if (c.Negative is null || c.Negative.Length != site.Width)
                Fail(f + ".negative", $"must have {site.Width} entries (site width), found {c.Negative?.Length.ToString() ?? "none"}");
            void CheckLength(int? length, string field)
            {
                if (length is { } n && n != site.Width) Fail(field, $"must have {site.Width} entries (site width), found {n}");
            }
            for (var u = 0; u < site.Width; u++)
            {
                int pos = c.Positive![u], neg = c.Negative![u];
                if (pos < 0 || pos > p.Pairs) Fail($"{f}.positive[{u}]", $"{pos} is outside 0..{p.Pairs} (pairs)");
                if (neg < 0 || neg > p.Pairs) Fail($"{f}.negative[{u}]", $"{neg} is outside 0..{p.Pairs} (pairs)");
                if ((long)pos + neg > p.Pairs) Fail($"{f}.negative[{u}]", $"positive + negative = {pos + neg} exceeds pairs ({p.Pairs})");
            }
            if (c.SumDiff is not null && c.SumDiff.Length != site.Width)
                Fail(f + ".sumDiff", $"must have {site.Width} entries (site width), found {c.SumDiff.Length}");
            CheckLength(c.SumSqDiff?.Length, f + ".sumSqDiff");
            CheckLength(c.SumActivationPos?.Length, f + ".sumActivationPos");
            CheckLength(c.SumActivationNeg?.Length, f + ".sumActivationNeg");
            if (c.SumSqDiff is not null)
                for (var u = 0; u < site.Width; u++)
                    if (c.SumSqDiff[u] < 0) Fail($"{f}.sumSqDiff[{u}]", "a sum of squares must be ≥ 0");
            if (c.SumDiff is null && p.Method.NeedsSums())
                Fail(f + ".sumDiff", $"method {p.Method.ToName()} needs the sums of differences, which are missing");
        }

        var sel = p.Selection;
        if (sel is null) Fail("selection", "missing");
        if (sel!.K < 0) Fail("selection.k", $"must be ≥ 0, found {sel.K}");
        if (!double.IsFinite(sel.Alpha)) Fail("selection.alpha", "not a finite number");
        if (sel.Sites is null) Fail("selection.sites", "missing");

        if (p.Units is null) Fail("units", "missing");
        for (var i = 0; i < p.Units!.Count; i++)
        {
            var u = p.Units[i];
            var f = $"units[{i}]";
            if (u is null) Fail(f, "null");
            var site = p.Site(u!.Site);
            if (site is null) Fail(f + ".site", $"unknown site '{u.Site}'");
            if (u.Layer != site!.Layer) Fail(f + ".layer", $"site {site.Id} is layer {site.Layer}, found {u.Layer}");
            if (u.Index < 0 || u.Index >= site.Width) Fail(f + ".index", $"{u.Index} is outside 0..{site.Width - 1} (width of {site.Id})");
            if (!double.IsFinite(u.RPos) || u.RPos < 0 || u.RPos > 1) Fail(f + ".rPos", $"must be a number in [0, 1], found {u.RPos}");
            if (!double.IsFinite(u.RNeg) || u.RNeg < 0 || u.RNeg > 1) Fail(f + ".rNeg", $"must be a number in [0, 1], found {u.RNeg}");
            if (!double.IsFinite(u.Score)) Fail(f + ".score", "not a finite number");
            if (!double.IsFinite(u.Gamma)) Fail(f + ".gamma", "not a finite number");
        }

        if (p.Caa is null) Fail("caa", "missing");
        for (var i = 0; i < p.Caa!.Count; i++)
        {
            var v = p.Caa[i];
            var f = $"caa[{i}]";
            if (v is null) Fail(f, "null");
            var site = p.Site(v!.Site);
            if (site is null) Fail(f + ".site", $"unknown site '{v.Site}'");
            if (v.Layer != site!.Layer) Fail(f + ".layer", $"site {site.Id} is layer {site.Layer}, found {v.Layer}");
            if (v.Vector is null || v.Vector.Length != site.Width)
                Fail(f + ".vector", $"must have {site.Width} entries (width of {site.Id}), found {v.Vector?.Length.ToString() ?? "none"}");
            for (var j = 0; j < v.Vector!.Length; j++)
                if (!float.IsFinite(v.Vector[j])) Fail($"{f}.vector[{j}]", "not a finite number");
        }

        if (p.ControlVector is { } cv)
        {
            if (!double.IsFinite(cv.Strength)) Fail("controlVector.strength", "not a finite number");
            if (p.Method != SteeringMethod.Caa) Fail("controlVector", $"an imported control vector is additive: method must be caa, found {p.Method.ToName()}");
        }

        if (p.Probes is { } probes) ValidateProbes(p, probes, Fail);

        if (p.Shards is not null)
            for (var i = 0; i < p.Shards.Count; i++)
                if (!ShardSpec.TryParse(p.Shards[i], out _))
                    Fail($"shards[{i}]", $"expected 'i/n' with 0 ≤ i < n, found '{p.Shards[i]}'");
    }

    private static void ValidateProbes(SteeringProfile p, ProbeSet probes, Action<string, string> fail)
    {
        if (probes.Sites is null) fail("probes.sites", "missing");
        if (!double.IsFinite(probes.L2) || probes.L2 < 0) fail("probes.l2", $"must be a finite number ≥ 0, found {probes.L2}");
        if (probes.Activation is not (ProbeSet.LastTokenSiteActivation or ProbeSet.MeanTokenSiteActivation))
            fail("probes.activation", $"expected '{ProbeSet.LastTokenSiteActivation}' or '{ProbeSet.MeanTokenSiteActivation}', found '{probes.Activation}'");
        if (probes.Pca is < 1) fail("probes.pca", $"must be at least 1, found {probes.Pca}");
        for (var i = 0; i < probes.Sites!.Count; i++)
        {
            var probe = probes.Sites[i];
            var f = $"probes.sites[{i}]";
            if (probe is null) { fail(f, "null"); return; }
            var site = p.Site(probe.Site);
            if (site is null) { fail(f + ".site", $"unknown site '{probe.Site}'"); return; }
            if (probe.Layer != site.Layer) fail(f + ".layer", $"site {site.Id} is layer {site.Layer}, found {probe.Layer}");
            if (probe.Weights is null || probe.Weights.Length != site.Width)
                fail(f + ".weights", $"must have {site.Width} entries (width of {site.Id}), found {probe.Weights?.Length.ToString() ?? "none"}");
            if (probe.Weights!.Any(w => !float.IsFinite(w))) fail(f + ".weights", "holds a non-finite number");
            if (!double.IsFinite(probe.Bias)) fail(f + ".bias", "not a finite number");
            if (!(probe.HeldOutAccuracy is >= 0 and <= 1)) fail(f + ".heldOutAccuracy", $"must be in [0, 1], found {probe.HeldOutAccuracy}");
            if (!(probe.TrainAccuracy is >= 0 and <= 1)) fail(f + ".trainAccuracy", $"must be in [0, 1], found {probe.TrainAccuracy}");
        }
    }

    private static string FieldOf(string? path) =>
        string.IsNullOrEmpty(path) || path == "$" ? "(root)" : path.StartsWith("$.", StringComparison.Ordinal) ? path[2..] : path.TrimStart('$');

    private static JsonSerializerOptions CreateOptions()
    {
        var o = new JsonSerializerOptions
        {
            WriteIndented = true,
            PropertyNamingPolicy = JsonNamingPolicy.CamelCase,
            DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
            ReadCommentHandling = JsonCommentHandling.Disallow,
            NumberHandling = JsonNumberHandling.Strict,
            TypeInfoResolver = System.Text.Json.Serialization.Metadata.JsonTypeInfoResolver.Combine(ProfileJsonContext.Default, new System.Text.Json.Serialization.Metadata.DefaultJsonTypeInfoResolver()),
        };
        o.Converters.Add(new SiteKindConverter());
        o.Converters.Add(new MethodConverter());
        o.Converters.Add(new NameConverter<TieBreak>(SelectionRules.TryParseTieBreak, r => r.ToName(), "released or effect"));
        o.Converters.Add(new NameConverter<DirectionRule>(SelectionRules.TryParseDirection, r => r.ToName(), "released or sign-aware"));
        o.Converters.Add(new CompactArrayConverter<Int128>(
            ReadInt128,
            (sb, v) => sb.Append(v.ToString(CultureInfo.InvariantCulture))));
        o.Converters.Add(new CompactArrayConverter<int>(r => r.GetInt32(), (sb, v) => sb.Append(v.ToString(CultureInfo.InvariantCulture))));
        o.Converters.Add(new CompactArrayConverter<long>(r => r.GetInt64(), (sb, v) => sb.Append(v.ToString(CultureInfo.InvariantCulture))));
        o.Converters.Add(new CompactArrayConverter<float>(r => r.GetSingle(), (sb, v) =>
        {
            if (!float.IsFinite(v)) throw new InvalidProfileException($"cannot write non-finite value {v} to a profile");
            sb.Append(v.ToString("R", CultureInfo.InvariantCulture));
        }));
        return o;
    }

    private sealed class SiteKindConverter : JsonConverter<SiteKind>
    {
        public override SiteKind Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options)
        {
            if (reader.TokenType != JsonTokenType.String) throw new JsonException("expected a site kind string (attn, mlp or mlp-out)");
            var s = reader.GetString()!;
            return SiteKinds.TryParse(s, out var kind) ? kind : throw new JsonException($"unknown site kind '{s}': expected attn, mlp or mlp-out");
        }

        public override void Write(Utf8JsonWriter writer, SiteKind value, JsonSerializerOptions options) => writer.WriteStringValue(value.ToName());
    }

    private sealed class MethodConverter : JsonConverter<SteeringMethod>
    {
        public override SteeringMethod Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options)
        {
            if (reader.TokenType != JsonTokenType.String) throw new JsonException("expected a method string (austeer, actdiff, random or caa)");
            var s = reader.GetString()!;
            return SteeringMethods.TryParse(s, out var m) ? m : throw new JsonException($"unknown method '{s}': expected austeer, actdiff, random or caa");
        }

        public override void Write(Utf8JsonWriter writer, SteeringMethod value, JsonSerializerOptions options) => writer.WriteStringValue(value.ToName());
    }

    // Utf8JsonReader has no GetInt128; the token's digits are parsed as they are (integers only, like GetInt64).
    private static Int128 ReadInt128(Utf8JsonReader reader) => reader.HasValueSequence
        ? Int128.Parse(System.Buffers.BuffersExtensions.ToArray(reader.ValueSequence), NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture)
        : Int128.Parse(reader.ValueSpan, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture);

    private delegate bool TryParseName<T>(string name, out T value);

    /// <summary>An enum written as one of its lower-case names.</summary>
    private sealed class NameConverter<T>(TryParseName<T> tryParse, Func<T, string> name, string expected) : JsonConverter<T>
    {
        public override T Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options)
        {
            if (reader.TokenType != JsonTokenType.String) throw new JsonException($"expected a string ({expected})");
            var s = reader.GetString()!;
            return tryParse(s, out var value) ? value : throw new JsonException($"unknown value '{s}': expected {expected}");
        }

        public override void Write(Utf8JsonWriter writer, T value, JsonSerializerOptions options) => writer.WriteStringValue(name(value));
    }

    /// <summary>Numeric arrays on one line: profiles hold hundreds of thousands of counts, one per line would be unreadable.</summary>
    private sealed class CompactArrayConverter<T>(Func<Utf8JsonReader, T> read, Action<StringBuilder, T> format) : JsonConverter<T[]>
    {
        public override T[]? Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options)
        {
            if (reader.TokenType == JsonTokenType.Null) return null;
            if (reader.TokenType != JsonTokenType.StartArray) throw new JsonException($"expected an array of {typeof(T).Name} numbers");
            var list = new List<T>();
            while (reader.Read() && reader.TokenType != JsonTokenType.EndArray)
            {
                if (reader.TokenType != JsonTokenType.Number)
                    throw new JsonException($"element {list.Count}: expected a number, found {reader.TokenType}");
                try { list.Add(read(reader)); }
                catch (Exception e) when (e is FormatException or OverflowException) { throw new JsonException($"element {list.Count}: not a valid {typeof(T).Name}"); }
            }
            return list.ToArray();
        }

        public override void Write(Utf8JsonWriter writer, T[] value, JsonSerializerOptions options)
        {
            var sb = new StringBuilder(value.Length * 4 + 2).Append('[');
            for (var i = 0; i < value.Length; i++)
            {
                if (i > 0) sb.Append(',');
                format(sb, value[i]);
            }
            writer.WriteRawValue(sb.Append(']').ToString(), skipInputValidation: true);
        }
    }
}
