using Onnx;
using OnnxSteer.ModelFiles;
using OnnxSteer.Profiles;
using OnnxSteer.Sites;

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
    internal PatchOutcome(WriteResult written, PatchResult patch, SteeringPlan plan, IReadOnlyList<string> warnings) =>
        (Written, Patch, Plan, Warnings) = (written, patch, plan, warnings);

    /// <summary>The files written.</summary>
    public WriteResult Written { get; }
    internal PatchResult Patch { get; }
    internal SteeringPlan Plan { get; }
    /// <summary>Warnings about the profile and the plan (e.g. a profile recorded on another model under Force).</summary>
    public IReadOnlyList<string> Warnings { get; }
}

/// <summary>
/// The whole patch and unpatch flows: load, resolve earlier steering (--replace/--stack), check the profile against
/// the model, rewrite the graph, and write the output. Nothing is written unless every check passes.
/// </summary>
internal static class ModelPatcher
{
    /// <summary>Runs <paramref name="job"/>; <paramref name="notice"/> receives lines for the user as they happen.</summary>
    public static PatchOutcome Patch(PatchJob job, Action<string>? notice = null)
    {
        // Without --fold no weight is read: inline weights stay in the file and are copied through by the writer.
        var model = job.Options.Fold ? OnnxModel.Load(job.ModelPath) : StreamingModelRewriter.LoadLean(job.ModelPath);
        var source = model.FilePath!;
        var steered = SteeringMetadata.IsSteered(model.Proto);
        if (steered && job.Options.Existing == ExistingSteering.Refuse)
        {
            var last = SteeringMetadata.Read(model.Proto, source)[^1];
            throw new OnnxSteerException(
                $"{source}: the model is already steered ({last.Method}, sites {string.Join(",", last.Sites)}); " +
                "use --replace to remove that steering first, or --stack to add to it", ExitCodes.InvalidInput);
        }

        // Profiles are recorded on unsteered models: fingerprint and sites come from the model without its steering.
        var clean = steered ? GraphUnpatcher.Remove(model) : model;
        var sites = SiteFinder.Find(clean).Sites;
        var (profile, request, loadWarnings, sha) = (job.Source ?? new ProfileFile(job.ProfilePath)).Load(clean, sites, job.Request);
        var (plan, planWarnings) = ProfilePlanner.Build(profile, job.ProfilePath, sha, clean, sites, request);
        var warnings = loadWarnings.Concat(planWarnings).ToList();
        foreach (var w in warnings) notice?.Invoke("warning: " + w);
        if (job.Options.Dynamic)
        {
            if (job.Options.Fold) throw new OnnxSteerException("--fold and --dynamic cannot be used together: a folded weight cannot depend on the input", ExitCodes.Usage);
            (plan, var dropped) = DynamicGate.Attach(plan, profile, job.Options.ProbeThreshold, job.ProfilePath);
            foreach (var n in dropped) notice?.Invoke("note: " + n);
        }

        OnnxModel target;
        PatchOptions options;
        if (steered && job.Options.Existing == ExistingSteering.Stack)
        {
            target = model;
            plan = plan.MapSites(site => OnSteeredGraph(site, clean.Graph, model.Graph));
            options = job.Options;
        }
        else
        {
            target = clean;
            options = job.Options with { Existing = ExistingSteering.Refuse };
        }
        var result = GraphPatcher.Apply(target, plan, options);
        foreach (var n in result.Notes) notice?.Invoke("note: " + n);
        var written = SteeredModelWriter.Write(model, result.Model, result.FoldedTensors, job.Output, notice);
        return new PatchOutcome(written, result, plan, warnings);
    }

    /// <summary>Removes all recorded steering from <paramref name="modelPath"/> and writes the result to <paramref name="output"/>.</summary>
    public static (WriteResult Written, IReadOnlyList<SteeringStep> Removed) Unpatch(string modelPath, string output, Action<string>? notice = null)
    {
        var model = OnnxModel.Load(modelPath);
        var steps = SteeringMetadata.Read(model.Proto, model.FilePath!);
        var clean = GraphUnpatcher.Remove(model);
        var written = SteeredModelWriter.Write(model, clean, [], output, notice);
        return (written, steps);
    }

    /// <summary>
    /// A site found on the unsteered graph, re-addressed to the steered one: inserted nodes renamed the values at the
    /// projection's edge (input edge: the projection now reads the earlier Mul's output; output edge: the projection
    /// now writes a new name), so the new node goes on the edge as it is now.
    /// </summary>
    internal static SteeringSite OnSteeredGraph(SteeringSite site, GraphProto clean, GraphProto steered)
    {
        var edge = GraphPatcher.EdgeNode(site);
        var before = GraphPatcher.FindNode(clean, edge);
        var after = GraphPatcher.FindNode(steered, edge);
        if (before is null || after is null) return site;
        if (site.Kind == SiteKind.MlpOut)
        {
            var i = before.Output.IndexOf(site.ValueName);
            return i >= 0 && i < after.Output.Count ? site with { ValueName = after.Output[i] } : site;
        }
        var j = before.Input.IndexOf(site.ValueName);
        return j >= 0 && j < after.Input.Count ? site with { ValueName = after.Input[j] } : site;
    }
}
