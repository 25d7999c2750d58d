using System.Text.Json.Serialization;
using OnnxSteer.Sites;

namespace OnnxSteer.Profiles;

/// <summary>
/// The result of profiling a model on contrastive pairs (schema <c>onnxsteer.profile/2</c>, documented in the README;
/// <c>/1</c> files, which lack the sums of squares and per-side activation sums, still load):
/// which model and sites it was recorded on, the exact per-unit statistics, and the units (or CAA vectors) selected
/// from them. The statistics are integers, so profiles of disjoint pair sets merge exactly (<see cref="ProfileMerger"/>)
/// and <see cref="UnitSelector"/> can re-select without running the model again.
/// Read and write it with <see cref="ProfileJson"/>.
/// </summary>
public sealed class SteeringProfile
{
    /// <summary>The schema identifier this version reads and writes.</summary>
    public const string SchemaId = "onnxsteer.profile/2";

    /// <summary>The previous schema: readable, without <see cref="SiteStatistics.SumSqDiff"/> and the activation sums.</summary>
    internal const string SchemaIdV1 = "onnxsteer.profile/1";

    /// <summary><see cref="SchemaId"/> (written always) or <see cref="SchemaIdV1"/> (read from older files).</summary>
    [JsonPropertyOrder(0), JsonRequired, JsonInclude] public string Schema { get; internal set; } = SchemaId;

    /// <summary>Version of the tool that wrote the file.</summary>
    [JsonPropertyOrder(1), JsonInclude] public string ToolVersion { get; internal set; } = ToolInfo.Version;

    /// <summary><see cref="Profiles.ModelFingerprint"/> of the model: graph structure and site shapes, not weights.</summary>
    [JsonPropertyOrder(2), JsonRequired, JsonInclude] public string ModelFingerprint { get; internal set; } = "";

    /// <summary>File name of the profiled model, for people; not checked.</summary>
    [JsonPropertyOrder(3), JsonInclude] public string? ModelFile { get; internal set; }

    /// <summary>Every site recorded, in the order of <see cref="Counts"/>.</summary>
    [JsonPropertyOrder(4), JsonRequired, JsonInclude] public IReadOnlyList<ProfileSite> Sites { get; internal set; } = [];

    /// <summary>N: number of contrastive pairs the statistics are over.</summary>
    [JsonPropertyOrder(5), JsonRequired, JsonInclude] public int Pairs { get; internal set; }

    /// <summary>Where the pairs came from (file or task and range), for people.</summary>
    [JsonPropertyOrder(6), JsonInclude] public string? Source { get; internal set; }

    /// <summary>Shards ("i/n", 0-based i) of the source this profile covers; null when it covers all of it.</summary>
    [JsonPropertyOrder(7), JsonInclude] public IReadOnlyList<string>? Shards { get; internal set; }

    /// <summary>Sequences whose prompt was truncated from the left to fit the model's context.</summary>
    [JsonPropertyOrder(8), JsonInclude] public int Truncated { get; internal set; }

    /// <summary>Input lines skipped as bad (with --skip-bad).</summary>
    [JsonPropertyOrder(9), JsonInclude] public int SkippedBad { get; internal set; }

    /// <summary>The selection method.</summary>
    [JsonPropertyOrder(10), JsonRequired, JsonInclude] public SteeringMethod Method { get; internal set; } = SteeringMethod.AuSteer;

    /// <summary>The settings <see cref="Units"/> / <see cref="Caa"/> were selected with.</summary>
    [JsonPropertyOrder(11), JsonInclude] public SelectionSettings Selection { get; internal set; } = new();

    /// <summary>Selected units, best first (austeer, actdiff) or in site order (random); empty for caa.</summary>
    [JsonPropertyOrder(12), JsonInclude] public IReadOnlyList<SelectedUnit> Units { get; internal set; } = [];

    /// <summary>CAA vectors (mean difference × alpha) per chosen site; empty for the unit methods.</summary>
    [JsonPropertyOrder(13), JsonInclude] public IReadOnlyList<CaaVector> Caa { get; internal set; } = [];

    /// <summary>log2 of the fixed-point scale of <see cref="SiteStatistics.SumDiff"/> (always <see cref="FixedPoint.ScaleLog2"/>).</summary>
    [JsonPropertyOrder(14), JsonInclude] public int SumScaleLog2 { get; internal set; } = FixedPoint.ScaleLog2;

    /// <summary>Per-site exact statistics, one entry per site in <see cref="Sites"/> order.</summary>
    [JsonPropertyOrder(15), JsonRequired, JsonInclude] public IReadOnlyList<SiteStatistics> Counts { get; internal set; } = [];

    /// <summary>
    /// Set when the profile was imported from a llama.cpp / repeng control vector (GGUF): where it came from and the
    /// strength its <see cref="Caa"/> vectors were scaled by. Absent (null) for profiles recorded by OnnxSteer.
    /// </summary>
    [JsonPropertyOrder(16), JsonInclude] public ControlVectorOrigin? ControlVector { get; internal set; }

    /// <summary>
    /// DSAS probes per site (<c>profile --probes</c>), for <c>patch --dynamic</c>; absent (null) otherwise. A probe is
    /// a fit over this profile's pairs, not a sum over them, so merged shards carry none (see <see cref="ProfileMerger"/>).
    /// </summary>
    [JsonPropertyOrder(17), JsonInclude] public ProbeSet? Probes { get; internal set; }

    /// <summary>
    /// True when the profile was read by <see cref="ProfileJson.LoadSelection"/> without its <see cref="Counts"/>: its
    /// stored selection can be applied, but it cannot be re-selected, merged or saved.
    /// </summary>
    [JsonIgnore] internal bool CountsOmitted { get; set; }

    /// <summary>The site with identifier <paramref name="id"/> (e.g. <c>attn.3</c>), or null.</summary>
    public ProfileSite? Site(string id) => Sites.FirstOrDefault(s => s.Id == id);

    /// <summary>The statistics of site <paramref name="id"/>, or null.</summary>
    public SiteStatistics? StatisticsOf(string id) => Counts.FirstOrDefault(c => c.Site == id);

    /// <summary>Loads and validates a profile file (see <see cref="ProfileJson.Load"/>).</summary>
    internal static SteeringProfile Load(string path) => ProfileJson.Load(path);

    /// <summary>Validates and writes this profile atomically (see <see cref="ProfileJson.Save"/>).</summary>
    internal void Save(string path) => ProfileJson.Save(this, path);

    /// <summary>A deep copy (statistics arrays included), so selection never mutates its input.</summary>
    internal SteeringProfile Clone() => ProfileJson.Deserialize(ProfileJson.Serialize(this), "(copy)");

    /// <summary>
    /// A deep copy without the selection (units and caa vectors empty), for re-selecting. Only the statistics are big
    /// (a 7B model's JSON round trip takes seconds, issue 9 B1), so they are copied array by array and everything
    /// else goes through the JSON round trip of <see cref="Clone"/>: a property added later is copied either way.
    /// </summary>
    internal SteeringProfile CloneWithoutSelection()
    {
        var head = (SteeringProfile)MemberwiseClone();
        head.Counts = [];
        head.Units = [];
        head.Caa = [];
        var copy = ProfileJson.Deserialize(ProfileJson.Serialize(head), "(copy)", countsOmitted: true);
        copy.Counts = Counts.Select(c => c.DeepCopy()).ToList();
        copy.CountsOmitted = CountsOmitted;
        return copy;
    }
}

/// <summary>One recorded site, as found by the site finder.</summary>
public sealed class ProfileSite
{
    /// <summary>Identifier <c>kind.layer</c>, e.g. <c>mlp-out.2</c>.</summary>
    [JsonPropertyOrder(0), JsonInclude] public string Id { get; internal set; } = "";
    /// <summary>Which projection input the site is.</summary>
    [JsonPropertyOrder(1), JsonInclude] public SiteKind Kind { get; internal set; }
    /// <summary>Decoder layer, 0-based.</summary>
    [JsonPropertyOrder(2), JsonInclude] public int Layer { get; internal set; }
    /// <summary>Name of the projection node (o_proj / down_proj MatMul, MatMulNBits or Gemm).</summary>
    [JsonPropertyOrder(3), JsonInclude] public string ProjectionNode { get; internal set; } = "";
    /// <summary>Op type of the projection node.</summary>
    [JsonPropertyOrder(4), JsonInclude] public string ProjectionOpType { get; internal set; } = "";
    /// <summary>The graph value holding the activation.</summary>
    [JsonPropertyOrder(5), JsonInclude] public string Value { get; internal set; } = "";
    /// <summary>Number of units (scalars) at this site.</summary>
    [JsonPropertyOrder(6), JsonInclude] public int Width { get; internal set; }
    /// <summary>ONNX element type name, lower case (float, float16, bfloat16, double).</summary>
    [JsonPropertyOrder(7), JsonInclude] public string Dtype { get; internal set; } = "";

    /// <summary>The profile form of a site found in a graph.</summary>
    internal static ProfileSite From(SteeringSite site) => new()
    {
        Id = site.Id,
        Kind = site.Kind,
        Layer = site.Layer,
        ProjectionNode = site.ProjectionNode,
        ProjectionOpType = site.ProjectionOpType,
        Value = site.ValueName,
        Width = site.Width,
        Dtype = DtypeName(site.ElementType),
    };

    /// <summary>Lower-case ONNX name of an element type, e.g. 1 → float, 10 → float16.</summary>
    internal static string DtypeName(int elementType) =>
        Enum.IsDefined(typeof(Onnx.TensorProto.Types.DataType), elementType)
            ? ((Onnx.TensorProto.Types.DataType)elementType).ToString().ToLowerInvariant()
            : $"type{elementType}";
}

/// <summary>
/// The settings a selection is made with: a value (a record; change it with <c>with</c>, which makes a new one). A
/// profile's units and gammas are what <see cref="UnitSelector"/> derives from its counts and these settings; the one
/// way to another selection is the front door's Select with <c>profile.Selection with { ... }</c>, which derives them anew,
/// so a profile never holds settings its gammas were not made with.
/// </summary>
public sealed record SelectionSettings
{
    /// <summary>Units to keep (per site kind unless <see cref="RankJointly"/>); unused by caa.</summary>
    [JsonPropertyOrder(0)] public int K { get; init; }
    /// <summary>Global steering strength.</summary>
    [JsonPropertyOrder(1)] public double Alpha { get; init; }
    /// <summary>Site kinds the units are chosen from; empty = every kind the profile recorded.</summary>
    [JsonPropertyOrder(2)] public IReadOnlyList<SiteKind> Sites { get; init; } = [];
    /// <summary>Whether several kinds are ranked in one list (otherwise top k in each kind).</summary>
    [JsonPropertyOrder(3)] public bool RankJointly { get; init; }
    /// <summary>Seed of the random method.</summary>
    [JsonPropertyOrder(4)] public int Seed { get; init; }
    /// <summary>caa only: layers whose sites get a vector; null = the middle layer.</summary>
    [JsonPropertyOrder(5)] public IReadOnlyList<int>? Layers { get; init; }
    /// <summary>How units with equal scores are ordered (absent in older profiles: the released code's order).</summary>
    [JsonPropertyOrder(6)] public TieBreak TieBreak { get; init; } = TieBreak.Released;
    /// <summary>How the sign of gamma is chosen (absent in older profiles: the released code's rule).</summary>
    [JsonPropertyOrder(7)] public DirectionRule Direction { get; init; } = DirectionRule.Released;
}

/// <summary>One selected unit and its steering factor: the site activation x_i becomes (1 + gamma) x_i.</summary>
public sealed class SelectedUnit
{
    /// <summary>Site identifier, e.g. <c>attn.3</c>.</summary>
    [JsonPropertyOrder(0), JsonInclude] public string Site { get; internal set; } = "";
    /// <summary>Decoder layer, 0-based.</summary>
    [JsonPropertyOrder(1), JsonInclude] public int Layer { get; internal set; }
    /// <summary>Dimension within the site (for attn: head * head_dim + j).</summary>
    [JsonPropertyOrder(2), JsonInclude] public int Index { get; internal set; }
    /// <summary>Fraction of pairs with pos − neg &gt; 0.</summary>
    [JsonPropertyOrder(3), JsonInclude] public double RPos { get; internal set; }
    /// <summary>Fraction of pairs with pos − neg &lt; 0.</summary>
    [JsonPropertyOrder(4), JsonInclude] public double RNeg { get; internal set; }
    /// <summary>The ranking score: max(r_pos, r_neg) for austeer and random, |mean(pos − neg)| for actdiff.</summary>
    [JsonPropertyOrder(5), JsonInclude] public double Score { get; internal set; }
    /// <summary>alpha * r_pos when r_pos ≥ r_neg, else −alpha * r_neg; negated by the sign-aware direction rule when
    /// the unit's mean activation is negative.</summary>
    [JsonPropertyOrder(6), JsonInclude] public double Gamma { get; internal set; }
    /// <summary>Two-sided exact sign test of the positive against the negative momentum counts (zeros left out).</summary>
    [JsonPropertyOrder(7), JsonInclude] public double? P { get; internal set; }
    /// <summary><see cref="P"/> after Bonferroni correction for the number of units ranked together (<see cref="Ranked"/>).</summary>
    [JsonPropertyOrder(8), JsonInclude] public double? PAdjusted { get; internal set; }
    /// <summary>The number of units the unit was ranked among: the multiple-testing family of <see cref="PAdjusted"/>.</summary>
    [JsonPropertyOrder(9), JsonInclude] public int? Ranked { get; internal set; }
    /// <summary>mean(m) / sd(m) over the pairs (Cohen's d_z); null when the profile lacks the sums of squares (schema /1),
    /// N &lt; 2, or sd is 0.</summary>
    [JsonPropertyOrder(10), JsonInclude] public double? EffectSize { get; internal set; }
    /// <summary>Mean activation on the positive side; null when the profile lacks the activation sums (schema /1).</summary>
    [JsonPropertyOrder(11), JsonInclude] public double? MeanPos { get; internal set; }
    /// <summary>Mean activation on the negative side; null likewise.</summary>
    [JsonPropertyOrder(12), JsonInclude] public double? MeanNeg { get; internal set; }
}

/// <summary>Exact statistics of one site over the profile's N pairs.</summary>
public sealed class SiteStatistics
{
    /// <summary>Site identifier.</summary>
    [JsonPropertyOrder(0), JsonInclude] public string Site { get; internal set; } = "";
    /// <summary>Per unit: number of pairs with x(pos) − x(neg) &gt; 0.</summary>
    [JsonPropertyOrder(1), JsonInclude] public int[] Positive { get; internal set; } = [];
    /// <summary>Per unit: number of pairs with x(pos) − x(neg) &lt; 0.</summary>
    [JsonPropertyOrder(2), JsonInclude] public int[] Negative { get; internal set; } = [];
    /// <summary>Per unit: sum over pairs of (x(pos) − x(neg)) in fixed point (value / 2^sumScaleLog2); null if not recorded.</summary>
    [JsonPropertyOrder(3), JsonInclude] public long[]? SumDiff { get; internal set; }
    /// <summary>Per unit: sum over pairs of (x(pos) − x(neg))², each square of the fixed-point difference rounded once to
    /// the same scale (<see cref="FixedPoint.Square"/>); null in schema /1 profiles.</summary>
    [JsonPropertyOrder(4), JsonInclude] public Int128[]? SumSqDiff { get; internal set; }
    /// <summary>Per unit: sum over pairs of x(pos) in fixed point; null in schema /1 profiles.</summary>
    [JsonPropertyOrder(5), JsonInclude] public long[]? SumActivationPos { get; internal set; }
    /// <summary>Per unit: sum over pairs of x(neg) in fixed point; null in schema /1 profiles.</summary>
    [JsonPropertyOrder(6), JsonInclude] public long[]? SumActivationNeg { get; internal set; }

    /// <summary>True when the sums the evidence rules need (squares and per-side activations) are present.</summary>
    [JsonIgnore] public bool HasEvidenceSums => SumDiff is not null && SumSqDiff is not null && SumActivationPos is not null && SumActivationNeg is not null;

    /// <summary>A copy whose arrays are copies too, whatever arrays the statistics hold.</summary>
    internal SiteStatistics DeepCopy()
    {
        var copy = (SiteStatistics)MemberwiseClone();
        foreach (var p in typeof(SiteStatistics).GetProperties())
            if (p.PropertyType.IsArray && p.GetValue(this) is Array a) p.SetValue(copy, a.Clone());
        return copy;
    }
}

/// <summary>A CAA steering vector for one site: added to the site's activation at every position.</summary>
public sealed class CaaVector
{
    /// <summary>Site identifier, e.g. <c>mlp.3</c>.</summary>
    [JsonPropertyOrder(0), JsonInclude] public string Site { get; internal set; } = "";
    /// <summary>Decoder layer, 0-based.</summary>
    [JsonPropertyOrder(1), JsonInclude] public int Layer { get; internal set; }
    /// <summary>alpha × mean(pos − neg), one entry per unit of the site.</summary>
    [JsonPropertyOrder(2), JsonInclude] public float[] Vector { get; internal set; } = [];
}

/// <summary>
/// Where an imported control vector came from. Its direction for layer N is stored, times <see cref="Strength"/>, as the
/// caa vector of site <c>mlp-out.N</c>: adding c to the MLP's output before the residual add is adding c to layer N's
/// output (h + (m + c) = (h + m) + c up to one float rounding), which is where llama.cpp and repeng add it.
/// </summary>
public sealed class ControlVectorOrigin
{
    /// <summary>File name of the GGUF it was imported from.</summary>
    [JsonPropertyOrder(0), JsonInclude] public string File { get; internal set; } = "";
    /// <summary><c>controlvector.model_hint</c> of the file (e.g. llama), if any.</summary>
    [JsonPropertyOrder(1), JsonInclude] public string? ModelHint { get; internal set; }
    /// <summary><c>controlvector.layer_count</c> of the file, if any.</summary>
    [JsonPropertyOrder(2), JsonInclude] public long? LayerCount { get; internal set; }
    /// <summary>The factor the directions were multiplied by (llama.cpp's --control-vector-scaled strength).</summary>
    [JsonPropertyOrder(3), JsonInclude] public double Strength { get; internal set; } = 1;
    /// <summary>The 0-based layers that had a direction.</summary>
    [JsonPropertyOrder(4), JsonInclude] public IReadOnlyList<int> Layers { get; internal set; } = [];
}

/// <summary>Facts about this build of the tool.</summary>
internal static class ToolInfo
{
    /// <summary>The informational version of the OnnxSteer assembly.</summary>
    public static string Version { get; } =
        typeof(ToolInfo).Assembly.GetName().Version?.ToString(3) ?? "0.0.0";
}
