using OnnxSteer.ModelFiles;
using OnnxSteer.Profiles;
using OnnxSteer.Sites;

namespace OnnxSteer.Patching;

/// <summary>A profile ready to plan from, the request it is to be planned with, and what the user should be told.</summary>
/// <param name="Profile">The profile, as the patcher plans from it.</param>
/// <param name="Request">The request to plan with (a source may drop what does not apply to it).</param>
/// <param name="Warnings">What reading the profile found, for the user (parameters as mentions).</param>
/// <param name="Sha256">The sha256 recorded in the steered model: of the file, or of a profile's serialized bytes.</param>
internal sealed record LoadedProfile(SteeringProfile Profile, PlanRequest Request, IReadOnlyList<ErrorText> Warnings, string Sha256);

/// <summary>
/// Where a patch's profile comes from. The patcher knows profile files (<see cref="ProfileFile"/>); other formats
/// (a GGUF control vector, in Interop) are turned into a profile before the patcher sees it, by a source the caller picks.
/// </summary>
internal interface IProfileSource
{
    /// <summary>The profile for the unsteered <paramref name="model"/> with <paramref name="sites"/>.</summary>
    LoadedProfile Load(OnnxModel model, IReadOnlyList<SteeringSite> sites, PlanRequest request);
}

/// <summary>A profile JSON file: read whole when the request re-selects, else only its stored selection.</summary>
internal sealed class ProfileFile(string path) : IProfileSource
{
    /// <inheritdoc/>
    public LoadedProfile Load(OnnxModel model, IReadOnlyList<SteeringSite> sites, PlanRequest request)
    {
        var sha = ProfilePlanner.Sha256OfFile(path);
        // Applying the stored selection needs no counts: a large profile is then read in a fraction of the time.
        return new(request.Reselects ? SteeringProfile.Load(path) : ProfileJson.LoadSelection(path), request, [], sha);
    }
}

/// <summary>
/// A profile held in memory. The model records <paramref name="sha256"/> when given (e.g. the file a selection was made
/// from), else the sha256 of the profile's serialized bytes, as a saved copy would have.
/// </summary>
internal sealed class InMemoryProfile(SteeringProfile profile, string? sha256 = null) : IProfileSource
{
    /// <inheritdoc/>
    public LoadedProfile Load(OnnxModel model, IReadOnlyList<SteeringSite> sites, PlanRequest request) =>
        new(profile, request, [], sha256 ?? Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(ProfileJson.Serialize(profile))));
}
