using Google.Protobuf;
using Onnx;
using OnnxSteer.Graph;
using OnnxSteer.ModelFiles;
using OnnxSteer.Sites;

namespace OnnxSteer.Recording;

/// <summary>
/// A copy of a model's graph with one extra output per steering site holding only the last real token's row of that
/// site's activation, so full [batch, sequence, width] activations never leave the runtime. Each tap is
/// <c>Reshape(site, [-1, width]) → Gather(rows, axis 0) → Cast(float)</c>, where <see cref="RowsInput"/> is a new
/// int64 [batch] input holding, for sequence b, the flat row b·T + (length_b − 1); with <see cref="TapPooling.Mean"/>,
/// <c>MatMul(pool, Cast(Reshape(site)))</c> gives each sequence's mean over its real tokens instead (DSAS probes are
/// fitted on token means). The original outputs are dropped and
/// the graph is cut to what the taps read: no LM head, no final norm, no layer after the last tapped site, and none of
/// their weights (ONNX Runtime keeps and runs a node whose output nothing reads). The source model is never modified.
/// </summary>
internal sealed class ActivationTaps
{
    /// <summary>Name of the added input: flat row index of each sequence's last real token.</summary>
    public const string RowsInput = "onnxsteer_tap_rows";

    /// <summary>Name of the added input of a <see cref="TapPooling.Mean"/> tap: float [batch, batch·T], row b holding
    /// 1/length_b at sequence b's real tokens and 0 elsewhere, so one MatMul gives each sequence's token mean.</summary>
    public const string PoolInput = "onnxsteer_tap_pool";

    /// <summary>The edited model (weights not loaded: external data still refers to the source folder).</summary>
    public ModelProto Model { get; }

    /// <summary>The tapped sites, in output order.</summary>
    public IReadOnlyList<SteeringSite> Sites { get; }

    /// <summary>Output name of each site's tap, in <see cref="Sites"/> order; each is float [batch, width].</summary>
    public IReadOnlyList<string> OutputNames { get; }

    /// <summary>Built with the KV cache kept: each past input the taps read, with the present output that continues it
    /// (kept as a graph output); empty when not asked for, or when the model has no cache or a present is missing.</summary>
    public IReadOnlyList<CacheLink> Cache { get; }

    /// <summary>Which row of a sequence each tap returns.</summary>
    public TapPooling Pooling { get; }

    private ActivationTaps(ModelProto model, IReadOnlyList<SteeringSite> sites, IReadOnlyList<string> outputs, IReadOnlyList<CacheLink> cache, TapPooling pooling)
    {
        Pooling = pooling;
        Model = model;
        Sites = sites;
        OutputNames = outputs;
        Cache = cache;
    }

    /// <summary>Builds the tapped copy of <paramref name="model"/> for <paramref name="sites"/>; with
    /// <paramref name="keepCache"/>, the present outputs of the past inputs the taps read stay graph outputs (see
    /// <see cref="Cache"/>): they are computed by nodes the taps need anyway, so keeping them costs no work.</summary>
    public static ActivationTaps Build(OnnxModel model, IReadOnlyList<SteeringSite> sites, TapPooling pooling = TapPooling.LastToken, bool keepCache = false)
    {
        if (sites.Count == 0) throw new ArgumentException("no sites to tap", nameof(sites));
        var proto = model.Proto.Clone();
        var editor = new GraphEditor(proto.Graph);
        if (editor.Names.IsUsed(RowsInput)) throw new InvalidModelException($"{model.FilePath}: the model already has a value named {RowsInput}");

        if (pooling == TapPooling.Mean)
        {
            if (editor.Names.IsUsed(PoolInput)) throw new InvalidModelException($"{model.FilePath}: the model already has a value named {PoolInput}");
            editor.AddGraphInput(TensorInfo(PoolInput, TensorProto.Types.DataType.Float, new TensorShapeProto { Dim = { Symbolic("batch"), Symbolic("rows") } }));
        }
        else
        {
            editor.AddGraphInput(TensorInfo(RowsInput, TensorProto.Types.DataType.Int64, new TensorShapeProto { Dim = { Symbolic("batch") } }));
        }
        var original = proto.Graph.Output.ToList();
        foreach (var output in original) editor.RemoveGraphOutput(output.Name);
        var outputs = new List<string>();
        foreach (var site in sites)
        {
            // Fresh names under a fresh prefix: a model (or one of its subgraphs) may already use onnxsteer_tap/...
            var prefix = editor.Names.FreePrefix($"onnxsteer_tap/{site.Id}");
            var shape = new TensorProto { Name = $"{prefix}/shape", DataType = (int)TensorProto.Types.DataType.Int64, Dims = { 2 } };
            shape.Int64Data.Add(-1);
            shape.Int64Data.Add(site.Width);
            string output;
            if (site.InBranches)
            {
                // A site inside the branches of an If (a merged decoder): each branch taps its own copy of the value
                // and returns the row as one more branch output; the If passes out whichever branch ran.
                var owner = editor.Node(site.Branches[0].IfNode)
                            ?? throw new InvalidModelException($"{model.FilePath}: site {site.Id}: If '{site.Branches[0].IfNode}' is missing");
                foreach (var branch in site.Branches)
                {
                    var body = new GraphEditor(owner.Attribute.First(a => a.Name == branch.Attribute).G, editor.Names);
                    var tapped = Tap(body, prefix, shape.Clone(), branch.ValueName, pooling);
                    body.AddGraphOutput(TensorInfo(tapped, TensorProto.Types.DataType.Float, RowShape(site)));
                }
                output = editor.AddOutput(owner, $"{prefix}/last");
                editor.Index.SubgraphReadsChanged();
            }
            else output = Tap(editor, prefix, shape, site.ValueName, pooling);
            editor.AddGraphOutput(TensorInfo(output, TensorProto.Types.DataType.Float, RowShape(site)));
            outputs.Add(output);
        }
        editor.KeepOnlyWhatComputes(outputs);
        var cache = keepCache ? KeepCache(editor, original) : [];
        return new ActivationTaps(proto, sites, outputs, cache, pooling);
    }

    /// <summary>Makes the present output of every past input still read a graph output again; none when one has no
    /// present (a name this does not know, or one the pruning removed): then the cache is not used at all.</summary>
    private static IReadOnlyList<CacheLink> KeepCache(GraphEditor editor, IReadOnlyList<ValueInfoProto> originalOutputs)
    {
        var outputs = originalOutputs.ToDictionary(o => o.Name, StringComparer.Ordinal);
        var links = new List<CacheLink>();
        foreach (var past in editor.Graph.Input.Select(i => i.Name).Where(n => n.StartsWith("past_", StringComparison.Ordinal)))
        {
            // Optimum's and onnxruntime-genai's names: past_key_values.N.key → present.N.key; else past… → present….
            var present = new[] { past.Replace("past_key_values", "present", StringComparison.Ordinal), "present" + past[4..] }
                .FirstOrDefault(n => outputs.ContainsKey(n) && editor.Index.Producer(n) is not null);
            if (present is null) return [];
            links.Add(new CacheLink(past, present));
        }
        foreach (var link in links) editor.AddGraphOutput(outputs[link.Present]);
        return links;
    }

    /// <summary>Reshape(value, [-1, width]) → Gather(rows) → Cast(float) in <paramref name="editor"/>'s graph (pooled:
    /// Reshape → Cast(float) → MatMul(pool, ·)); returns the row.</summary>
    private static string Tap(GraphEditor editor, string prefix, TensorProto shape, string value, TapPooling pooling)
    {
        var shapeName = editor.AddInitializer(shape);
        var flat = Append(editor, "Reshape", prefix, [value, shapeName], "flat");
        // fp16/bf16 → fp32 is exact, and the counter works in float; a mean is summed in float too.
        if (pooling == TapPooling.Mean)
            return Append(editor, "MatMul", prefix, [PoolInput, Append(editor, "Cast", prefix, [flat], "flat_float", ("to", (long)TensorProto.Types.DataType.Float))], "mean");
        var rows = Append(editor, "Gather", prefix, [flat, RowsInput], "rows", ("axis", 0));
        return Append(editor, "Cast", prefix, [rows], "last", ("to", (long)TensorProto.Types.DataType.Float));
    }

    private static TensorShapeProto RowShape(SteeringSite site) =>
        new() { Dim = { Symbolic("batch"), new TensorShapeProto.Types.Dimension { DimValue = site.Width } } };

    /// <summary>The edited model's bytes, for an in-memory session.</summary>
    public byte[] ToBytes() => Model.ToByteArray();

    private static TensorShapeProto.Types.Dimension Symbolic(string name) => new() { DimParam = name };

    private static ValueInfoProto TensorInfo(string name, TensorProto.Types.DataType type, TensorShapeProto shape) => new()
    {
        Name = name,
        Type = new TypeProto { TensorType = new TypeProto.Types.Tensor { ElemType = (int)type, Shape = shape } },
    };

    /// <summary>Appends node <c>prefix/op</c> writing <c>prefix/output</c> (fresh names); returns the output.</summary>
    private static string Append(GraphEditor editor, string op, string prefix, string[] inputs, string output, params (string Name, long Value)[] attributes)
    {
        var node = editor.NewNode(op, $"{prefix}/{op}", inputs, [$"{prefix}/{output}"]);
        foreach (var (n, v) in attributes)
            node.Attribute.Add(new AttributeProto { Name = n, Type = AttributeProto.Types.AttributeType.Int, I = v });
        editor.AppendNode(node);
        return node.Output[0];
    }
}

/// <summary>A past input of the KV cache and the present output that holds it extended by a run's tokens.</summary>
internal sealed record CacheLink(string Past, string Present);

/// <summary>Which row of a sequence a tap returns.</summary>
internal enum TapPooling
{
    /// <summary>The last real token's activation (what momenta are counted on).</summary>
    LastToken,
    /// <summary>The mean of the activations of all the sequence's real tokens.</summary>
    Mean,
}
