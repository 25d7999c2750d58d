using Google.Protobuf;
using OnnxSteer.ModelFiles;

namespace OnnxSteer.Patching;

/// <summary>
/// A model patched in memory, as the front door's <c>Steer</c> returns it: serialize it with <see cref="ToBytes"/> for a
/// runtime (its external data stays in <see cref="ExternalDataFolder"/>), or put it on disk with <see cref="Write"/>.
/// </summary>
public sealed class PatchedModel
{
    internal PatchedModel(OnnxModel source, PatchResult patch, SteeringPlan plan, IReadOnlyList<WarningText> warnings)
    {
        Source = source;
        Patch = patch;
        Plan = plan;
        Warnings = warnings;
    }

    /// <summary>The model as loaded (steering of earlier patches included): the writer carries its files.</summary>
    internal OnnxModel Source { get; }

    /// <summary>The rewritten graph, the step it records, the folded tensors and the patcher's notes.</summary>
    internal PatchResult Patch { get; }

    /// <summary>The plan that was applied.</summary>
    internal SteeringPlan Plan { get; }

    /// <summary>Every warning about the profile and the plan (a forced mismatch, factors 1 + gamma below zero, ...);
    /// <c>ToString()</c> words one.</summary>
    public IReadOnlyList<WarningText> Warnings { get; }

    /// <summary>The steered model; its external data is read from <see cref="Source"/>'s folder.</summary>
    internal OnnxModel Model => Patch.Model;

    /// <summary>What this patch added: the step it records in the model's metadata.</summary>
    public AppliedSteering Step => new(Patch.Step, Plan.Sites.Sum(s => s.Units.Count));

    /// <summary>The suffix of the data file a folded patch (<c>patch --fold</c>) writes beside its model:
    /// <c>model.onnx.steer.data</c> (<see cref="WriteResult.DataFile"/>).</summary>
    public const string FoldedDataSuffix = SteeredModelWriter.SteerDataSuffix;

    /// <summary>The folder the model's external data (weights) is read from, or null when it has none.</summary>
    public string? ExternalDataFolder => Model.BaseDirectory;

    /// <summary>The steered model's protobuf bytes (the graph; weights in external data stay in <see cref="ExternalDataFolder"/>).</summary>
    public byte[] ToBytes() => Model.Proto.ToByteArray();

    /// <summary>Writes the steered model to <paramref name="output"/> (a folder or a .onnx path), atomically.</summary>
    public WriteResult Write(string output, Action<WarningText>? notice = null) =>
        SteeredModelWriter.Write(Source, Patch.Model, Patch.FoldedTensors, output, notice);
}

/// <summary>What a patch run did: where the steered model went and what the user should know.</summary>
public sealed record PatchOutcome
{
    // The rewritten graph and the plan stay internal: the CLI reports from them, a library user reads the files.
    internal PatchOutcome(WriteResult written, PatchedModel patched) =>
        (Written, Patch, Plan, Warnings, Step) = (written, patched.Patch, patched.Plan, patched.Warnings, patched.Step);

    /// <summary>The files written.</summary>
    public WriteResult Written { get; }
    /// <summary>What was steered and how: the step recorded in the model's metadata.</summary>
    public AppliedSteering Step { get; }
    internal PatchResult Patch { get; }
    internal SteeringPlan Plan { get; }
    /// <summary>Every warning about the profile and the plan (a forced mismatch, factors 1 + gamma below zero, ...);
    /// <c>ToString()</c> words one.</summary>
    public IReadOnlyList<WarningText> Warnings { get; }
}

/// <summary>What an unpatch run did: where the unsteered model went and the steps it removed.</summary>
/// <param name="Written">The files written.</param>
/// <param name="Removed">The steering steps removed, oldest first.</param>
public sealed record UnpatchOutcome(WriteResult Written, IReadOnlyList<AppliedSteering> Removed);

/// <summary>A gated site of a dynamic step (<c>patch --dynamic</c>) and its probe's held-out accuracy.</summary>
/// <param name="Site">The site id, e.g. <c>mlp.3</c>.</param>
/// <param name="ProbeAccuracy">The accuracy of the probe that gates it, on held-out pairs or texts.</param>
public sealed record GatedSite(string Site, double ProbeAccuracy);

/// <summary>
/// One steering step as a steered model records it in its metadata (<c>onnxsteer.steering</c>): each patch adds one,
/// unpatching removes them all. A read-only summary; the record itself stays in the model.
/// </summary>
public sealed class AppliedSteering
{
    internal AppliedSteering(SteeringStep step, int units)
    {
        Method = step.Method;
        K = step.K;
        Alpha = step.Alpha;
        Operation = step.Operation;
        Apply = step.Apply;
        Sites = [.. step.Sites];
        Units = units;
        Switchable = step.Switchable == true;
        Dynamic = step.Dynamic == true;
        SiteVectors = Switchable ? [.. step.Edits.Select(e => e.Initializer ?? "")] : [];
        Gates = [.. step.Edits.Where(e => e.Gate is not null).Select(e => new GatedSite(e.Site, e.Gate!.ProbeAccuracy))];
    }

    /// <summary>The method: austeer, actdiff, random or caa (a control vector is caa).</summary>
    public string Method { get; }
    /// <summary>k of the selection, or null (caa).</summary>
    public int? K { get; }
    /// <summary>The steering strength alpha.</summary>
    public double Alpha { get; }
    /// <summary>scale (x·(1 + gamma)) or add (x + c).</summary>
    public string Operation { get; }
    /// <summary>How it was applied: mul, add, fold, or a mix of them.</summary>
    public string Apply { get; }
    /// <summary>The steered site ids, e.g. <c>mlp.3</c>.</summary>
    public IReadOnlyList<string> Sites { get; }
    /// <summary>How many units (scalars) are steered in all.</summary>
    public int Units { get; }
    /// <summary>Whether the strength can be set at run time (<c>patch --switchable</c>).</summary>
    public bool Switchable { get; }
    /// <summary>For a switchable step: the overridable initializers holding each site's vector, in site order; else empty.</summary>
    public IReadOnlyList<string> SiteVectors { get; }
    /// <summary>Whether probes gate the steering per token (<c>patch --dynamic</c>).</summary>
    public bool Dynamic { get; }
    /// <summary>For a dynamic step: the gated sites; else empty.</summary>
    public IReadOnlyList<GatedSite> Gates { get; }
}
