using OnnxSteer.Patching;
using static OnnxSteer.ErrorText;

namespace OnnxSteer.HostFormats;

/// <summary>
/// A llama.cpp / repeng control vector (GGUF) as the profile of a patch: converted for the model being patched, with
/// the request's alpha as its strength (default 1); k and sites do not apply.
/// </summary>
internal sealed class ControlVectorSource(string ggufPath) : IProfileSource
{
    /// <summary>A <see cref="ControlVectorSource"/> when <paramref name="path"/> is a GGUF file, else null (a profile file).</summary>
    public static IProfileSource? For(string path) => ControlVectorProfiles.IsGguf(path) ? new ControlVectorSource(path) : null;

    /// <inheritdoc/>
    public string Name => ggufPath;

    /// <inheritdoc/>
    public LoadedProfile Load(SteeringTarget target, PatchRequest request)
    {
        if (request.K is not null || request.Sites is not null)
            throw new InvalidParameterException(request.K is not null ? "k" : "sites",
                $"{ggufPath}: a control vector adds one vector per layer output; {Param("k")} and {Param("sites")} do not apply (only {Param("alpha")}, its strength)");
        var sha = ProfileFile.Sha256Of(ggufPath);
        var cv = ControlVectorProfiles.Import(ggufPath, target.Unsteered, target.Sites, request.Alpha ?? 1.0);
        return new LoadedProfile(cv.Profile, cv.Warnings, sha, StrengthApplied: true);
    }
}
