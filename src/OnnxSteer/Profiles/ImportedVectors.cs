namespace OnnxSteer.Profiles;

/// <summary>Profiles imported from a control vector (<see cref="SteeringProfile.ControlVector"/>): their vectors are data, not statistics.</summary>
internal static class ImportedVectors
{
    /// <summary>
    /// An imported control vector profile re-scaled to strength <paramref name="strength"/>: each vector × strength / the
    /// strength it was imported with (exact when that was 1, the default). Other re-selection (k, sites) does not apply.
    /// </summary>
    public static SteeringProfile Rescale(SteeringProfile profile, double strength, string profilePath)
    {
        var origin = profile.ControlVector ?? throw new ArgumentException("not an imported control vector", nameof(profile));
        if (!double.IsFinite(strength)) throw new OnnxSteerException($"--alpha {strength}: must be a finite number", ExitCodes.Usage);
        if (origin.Strength == 0)
            throw new InvalidProfileException($"{profilePath}: imported with strength 0, so the directions are lost; import {origin.File} again with --alpha");
        var result = profile.Clone();
        var factor = strength / origin.Strength;
        foreach (var v in result.Caa)
            for (var i = 0; i < v.Vector.Length; i++) v.Vector[i] = (float)(v.Vector[i] * factor);
        result.Selection.Alpha = strength;
        result.ControlVector!.Strength = strength;
        return result;
    }
}
