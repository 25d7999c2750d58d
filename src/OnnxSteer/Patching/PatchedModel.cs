using Google.Protobuf;
using OnnxSteer.ModelFiles;

namespace OnnxSteer.Patching;

/// <summary>
/// A model patched in memory, as the front door's <c>Steer</c> returns it: serialize it with <see cref="ToBytes"/> for a
/// runtime (its external data stays in <see cref="ExternalDataFolder"/>), or put it on disk with <see cref="Write"/>.
/// </summary>
public sealed class PatchedModel
{
    internal PatchedModel(OnnxModel source, PatchResult patch, SteeringPlan plan, IReadOnlyList<ErrorText> warnings)
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
    public IReadOnlyList<ErrorText> Warnings { get; }

    /// <summary>The steered model; its external data is read from <see cref="Source"/>'s folder.</summary>
    internal OnnxModel Model => Patch.Model;

    /// <summary>The folder the model's external data (weights) is read from, or null when it has none.</summary>
    public string? ExternalDataFolder => Model.BaseDirectory;

    /// <summary>The steered model's protobuf bytes (the graph; weights in external data stay in <see cref="ExternalDataFolder"/>).</summary>
    public byte[] ToBytes() => Model.Proto.ToByteArray();

    /// <summary>Writes the steered model to <paramref name="output"/> (a folder or a .onnx path), atomically.</summary>
    public WriteResult Write(string output, Action<ErrorText>? notice = null) =>
        SteeredModelWriter.Write(Source, Patch.Model, Patch.FoldedTensors, output, notice);
}

/// <summary>What a patch run did: where the steered model went and what the user should know.</summary>
public sealed record PatchOutcome
{
    // The rewritten graph and the plan stay internal: the CLI reports from them, a library user reads the files.
    internal PatchOutcome(WriteResult written, PatchedModel patched) =>
        (Written, Patch, Plan, Warnings) = (written, patched.Patch, patched.Plan, patched.Warnings);

    /// <summary>The files written.</summary>
    public WriteResult Written { get; }
    internal PatchResult Patch { get; }
    internal SteeringPlan Plan { get; }
    /// <summary>Every warning about the profile and the plan (a forced mismatch, factors 1 + gamma below zero, ...);
    /// <c>ToString()</c> words one.</summary>
    public IReadOnlyList<ErrorText> Warnings { get; }
}
