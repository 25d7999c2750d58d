using System.Security.Cryptography;
using OnnxSteer.Profiles;

namespace OnnxSteer.Patching;

/// <summary>A profile ready to plan from, and what reading it found.</summary>
/// <param name="Profile">The profile, as the planner plans from it.</param>
/// <param name="Warnings">What reading the profile found, for the user (parameters as mentions).</param>
/// <param name="Sha256">The sha256 recorded in the steered model: of the file, or of a profile's serialized bytes.</param>
/// <param name="StrengthApplied">True when the source already applied the request's alpha (a control vector's
/// strength), so the planner does not re-select.</param>
internal sealed record LoadedProfile(SteeringProfile Profile, IReadOnlyList<WarningText> Warnings, string Sha256, bool StrengthApplied = false);

/// <summary>
/// Where a patch's profile comes from: a profile file (<see cref="ProfileFile"/>), a profile in memory
/// (<see cref="InMemoryProfile"/>), or another format turned into a profile for the model being patched (a GGUF control
/// vector, in Interop), picked by the front door.
/// </summary>
internal interface IProfileSource
{
    /// <summary>The profile's name in messages: its path, or a description.</summary>
    string Name { get; }

    /// <summary>The profile for <paramref name="target"/> (its sites are those of the unsteered model).</summary>
    LoadedProfile Load(SteeringTarget target, PatchRequest request);
}

/// <summary>A profile JSON file: read whole when the request re-selects, else only its stored selection.</summary>
internal sealed class ProfileFile(string path) : IProfileSource
{
    /// <inheritdoc/>
    public string Name => path;

    /// <inheritdoc/>
    public LoadedProfile Load(SteeringTarget target, PatchRequest request)
    {
        // One read: the sha256 the steered model records is of the very bytes parsed. Applying the stored selection
        // needs no counts: a large profile is then parsed in a fraction of the time.
        var bytes = File.ReadAllBytes(path);
        var sha = Convert.ToHexStringLower(SHA256.HashData(bytes));
        return new(ProfileJson.Parse(bytes, path, selectionOnly: !request.Reselects), [], sha);
    }

    /// <summary>sha256 of a file, lower-case hex.</summary>
    public static string Sha256Of(string file)
    {
        using var stream = File.OpenRead(file);
        return Convert.ToHexStringLower(SHA256.HashData(stream));
    }
}

/// <summary>
/// A profile held in memory. The model records <paramref name="sha256"/> when given (e.g. the file a selection was made
/// from), else the sha256 of the profile's serialized bytes, as a saved copy would have.
/// </summary>
internal sealed class InMemoryProfile(SteeringProfile profile, string? sha256 = null, string name = InMemoryProfile.DefaultName) : IProfileSource
{
    /// <summary>How a profile in memory is named in messages.</summary>
    public const string DefaultName = "(profile in memory)";

    /// <inheritdoc/>
    public string Name => name;

    /// <inheritdoc/>
    public LoadedProfile Load(SteeringTarget target, PatchRequest request) =>
        new(profile, [], sha256 ?? Convert.ToHexStringLower(SHA256.HashData(ProfileJson.Serialize(profile))));
}
