using System.Globalization;
using System.Text.Json.Serialization;
using Google.Protobuf;
using Onnx;
using OnnxSteer.Graph;
using OnnxSteer.Profiles;
using static OnnxSteer.ErrorText;

namespace OnnxSteer.Patching;

/// <summary>
/// What <c>patch --dynamic</c> added at one site: the gate value g = sigmoid(w·h + b) ([batch, seq, 1], in the site's
/// element type), the value the steering node reads instead of its vector, the helper nodes and constants, and the
/// probe's held-out accuracy.
/// </summary>
internal sealed record GateEdit
{
    /// <summary>The value holding the gate (the Sigmoid's output).</summary>
    [JsonPropertyName("gate")] public required string Gate { get; init; }
    /// <summary>The activation the probe reads (the unsteered site value).</summary>
    [JsonPropertyName("reads")] public required string Reads { get; init; }
    /// <summary>The value the steering node reads: 1 + g·(v − 1) for scaling, g·c for adding.</summary>
    [JsonPropertyName("factor")] public required string Factor { get; init; }
    /// <summary>The steering vector the gate scales (the plain constant, or the switch's factor).</summary>
    [JsonPropertyName("vector")] public required string Vector { get; init; }
    [JsonPropertyName("nodes")] public required List<string> Nodes { get; init; }
    [JsonPropertyName("initializers")] public required List<string> Initializers { get; init; }
    [JsonPropertyName("probe_accuracy")] public double ProbeAccuracy { get; init; }
}

/// <summary>
/// DSAS in the graph (<c>patch --dynamic</c>): per steered site, a probe's gate g = sigmoid(w·h + b) is computed from the
/// site's unsteered activation h at every position and scales the steering there: x ⊙ (1 + g·(v − 1)) for a scale
/// vector v = 1 + gamma, x + g·c for an added vector c. Standard ONNX ops only (MatMul, Add, Sigmoid, Sub, Mul), in the
/// site's element type. A gate of exactly 1 gives the uniform patch (up to one rounding of 1 + (v − 1)); exactly 0 gives
/// x·1 or x + 0, the vanilla value.
/// </summary>
internal static class DynamicGate
{
    /// <summary>
    /// Gives each site of <paramref name="plan"/> its probe from <paramref name="profile"/> and drops the sites whose
    /// probe's held-out accuracy is below <paramref name="threshold"/>; the notes name every dropped site.
    /// </summary>
    /// <exception cref="InvalidProfileException">The profile has no probes, a steered site has none, or no site passes.</exception>
    public static (SteeringPlan Plan, IReadOnlyList<string> Notes) Attach(SteeringPlan plan, SteeringProfile profile, double threshold, string source)
    {
        var probes = profile.Probes
            ?? throw new InvalidProfileException($"{source}: the profile has no probes; profile with {Param("probes")} to fit them ({Param("dynamic")} needs them)");
        var kept = new List<SiteSteering>();
        var notes = new List<string>();
        foreach (var site in plan.Sites)
        {
            var probe = probes.Of(site.Site.Id)
                ?? throw new InvalidProfileException($"{source}: the profile has no probe for site {site.Site.Id}");
            if (probe.Weights.Length != site.Site.Width)
                throw new InvalidProfileException($"{source}: the probe of {site.Site.Id} has {probe.Weights.Length} weights, the site's width is {site.Site.Width}");
            if (probe.HeldOutAccuracy < threshold)
            {
                notes.Add($"{site.Site.Id}: probe held-out accuracy {Fmt(probe.HeldOutAccuracy)} < {Fmt(threshold)}: left unsteered");
                continue;
            }
            kept.Add(site with { Gate = probe });
        }
        if (kept.Count == 0)
        {
            var best = plan.Sites.Select(s => probes.Of(s.Site.Id)!).MaxBy(p => p.HeldOutAccuracy)!;
            throw new InvalidProfileException(
                $"{source}: no steered site has a probe with held-out accuracy ≥ {Fmt(threshold)} (best: {best.Site} {Fmt(best.HeldOutAccuracy)}); lower {Param("probeThreshold")} or steer other sites");
        }
        return (plan.WithSites(kept), notes);
    }

    /// <summary>
    /// Adds the gate of <paramref name="steering"/> reading <paramref name="activation"/> and the gated factor of
    /// <paramref name="vector"/> (the site's constant, or a switch's factor); the steering node then reads
    /// <see cref="GateEdit.Factor"/>. Nodes go right after their inputs' producers, so the graph stays sorted.
    /// </summary>
    internal static GateEdit Insert(GraphEditor editor, SiteSteering steering, SteeringOperation op, string vector, string activation, string prefix)
    {
        var probe = steering.Gate ?? throw new ArgumentException("the site has no probe", nameof(steering));
        var type = steering.Site.ElementType;
        var nodes = new List<string>();
        var constants = new List<string>();
        string Constant(string suffix, float[] values, params long[] dims)
        {
            var tensor = new TensorProto { Name = prefix + suffix, DataType = type, RawData = ByteString.CopyFrom(ElementEncoding.Encode(values, type)) };
            tensor.Dims.Add(dims);
            var name = editor.AddInitializer(tensor);
            constants.Add(name);
            return name;
        }
        string Node(string opType, params string[] inputs)
        {
            var node = editor.NewNode(opType, $"{prefix}/gate/{opType}", inputs);
            editor.AddNode(node);
            nodes.Add(node.Name);
            return node.Output[0];
        }

        var weights = Constant(".gate_weight", probe.Weights, probe.Weights.Length, 1);
        var bias = Constant(".gate_bias", [(float)probe.Bias], 1);
        var gate = Node("Sigmoid", Node("Add", Node("MatMul", activation, weights), bias));
        string factor;
        if (op == SteeringOperation.Scale)
        {
            var one = Constant(".gate_one", [1f]);
            factor = Node("Add", Node("Mul", gate, Node("Sub", vector, one)), one);
        }
        else
        {
            factor = Node("Mul", gate, vector);
        }
        return new GateEdit
        {
            Gate = gate, Reads = activation, Factor = factor, Vector = vector, Nodes = nodes, Initializers = constants,
            ProbeAccuracy = probe.HeldOutAccuracy,
        };
    }

    /// <summary>Removes what <see cref="Insert"/> added (the steering node reading the factor must be gone already).</summary>
    internal static void Remove(GraphEditor editor, GateEdit gate, Func<string, Exception> mismatch)
    {
        foreach (var name in gate.Nodes)
            editor.RemoveNode(editor.Node(name) ?? throw mismatch($"gate node '{name}' is missing"));
        foreach (var name in gate.Initializers)
            if (!editor.RemoveInitializer(name)) throw mismatch($"gate constant '{name}' is missing");
    }

    private static string Fmt(double v) => v.ToString("0.###", CultureInfo.InvariantCulture);
}
