using OnnxSteer.Interop;
using OnnxSteer.Patching;

namespace OnnxSteer.Tests.Infrastructure;

/// <summary>Patches with a profile file or a GGUF control vector, as the CLI and Steerer do (the patcher itself reads profiles only).</summary>
internal static class AnyProfilePatch
{
    public static PatchOutcome Run(PatchJob job, Action<ErrorText>? notice = null) =>
        ModelPatcher.Patch(job with { Source = job.Source ?? ControlVectorSource.For(job.ProfilePath) }, notice);
}
