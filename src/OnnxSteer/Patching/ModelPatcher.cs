using OnnxSteer.ModelFiles;

namespace OnnxSteer.Patching;

/// <summary>One <c>onnxsteer patch</c> run.</summary>
/// <param name="ModelPath">The model file (or its folder, holding model.onnx).</param>
/// <param name="ProfilePath">The profile JSON.</param>
/// <param name="Output">A folder or a file path.</param>
/// <param name="Request">Re-selection and --force.</param>
/// <param name="Options">--fold and the policy for an already-steered model.</param>
/// <param name="Source">How to read <paramref name="ProfilePath"/>; null = a profile file (Interop supplies control vectors).</param>
internal sealed record PatchJob(string ModelPath, string ProfilePath, string Output, PlanRequest Request, PatchOptions Options,
    IProfileSource? Source = null);

/// <summary>What a patch run did: where the steered model went and what the user should know.</summary>
public sealed record PatchOutcome
{
    // The rewritten graph and the plan stay internal: the CLI reports from them, a library user reads the files.
    internal PatchOutcome(WriteResult written, PatchResult patch, SteeringPlan plan, IReadOnlyList<ErrorText> warnings) =>
        (Written, Patch, Plan, Warnings) = (written, patch, plan, warnings);

    /// <summary>The files written.</summary>
    public WriteResult Written { get; }
    internal PatchResult Patch { get; }
    internal SteeringPlan Plan { get; }
    /// <summary>Warnings about the profile and the plan (e.g. a profile recorded on another model under Force); <c>ToString()</c> words one.</summary>
    public IReadOnlyList<ErrorText> Warnings { get; }
}

/// <summary>
/// The patch and unpatch flows from file to file: load, run the <see cref="ProfilePatcher"/> chain (resolve earlier
/// steering, check the profile against the model, rewrite the graph), and write the output. Nothing is written unless
/// every check passes.
/// </summary>
internal static class ModelPatcher
{
    /// <summary>Runs <paramref name="job"/>; <paramref name="notice"/> receives lines for the user as they happen.</summary>
    public static PatchOutcome Patch(PatchJob job, Action<ErrorText>? notice = null)
    {
        // Without --fold no weight is read: inline weights stay in the file and are copied through by the writer.
        var model = job.Options.Fold ? OnnxModel.Load(job.ModelPath) : StreamingModelRewriter.LoadLean(job.ModelPath);
        var patched = new ProfilePatcher(model).Apply(job.Source ?? new ProfileFile(job.ProfilePath), job.ProfilePath, job.Request, job.Options, notice);
        var written = patched.Write(job.Output, notice);
        return new PatchOutcome(written, patched.Patch, patched.Plan, patched.Warnings);
    }

    /// <summary>Removes all recorded steering from <paramref name="modelPath"/> and writes the result to <paramref name="output"/>.</summary>
    public static (WriteResult Written, IReadOnlyList<SteeringStep> Removed) Unpatch(string modelPath, string output, Action<ErrorText>? notice = null)
    {
        var model = OnnxModel.Load(modelPath);
        var steps = SteeringMetadata.Read(model.Proto, model.FilePath!);
        var clean = GraphUnpatcher.Remove(model);
        var written = SteeredModelWriter.Write(model, clean, [], output, notice);
        return (written, steps);
    }
}
