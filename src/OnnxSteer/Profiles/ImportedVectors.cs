using static OnnxSteer.ErrorText;

namespace OnnxSteer.Profiles;

/// <summary>Profiles imported from a control vector (<see cref="SteeringProfile.ControlVector"/>): their vectors are data, not statistics.</summary>
internal static class ImportedVectors
{
    /// <summary>
    /// An imported control vector profile re-scaled to strength <paramref name="alpha"/>: each vector × strength / the
    /// strength it was imported with (exact when that was 1, the default). Other re-selection (k, sites) does not apply.
    /// </summary>
    public static SteeringProfile Rescale(SteeringProfile profile, double alpha, string profilePath)
    {
        var origin = profile.ControlVector ?? throw new ArgumentException("not an imported control vector", nameof(profile));
        if (!double.IsFinite(alpha)) throw new InvalidParameterException("alpha", $"{Param("alpha")} {alpha}: must be a finite number");
        if (origin.Strength == 0)
            throw new InvalidProfileException($"{profilePath}: imported with strength 0, so the directions are lost; import {origin.File} again with {Param("alpha")}");
        var result = profile.Clone();
        var factor = alpha / origin.Strength;
        foreach (var v in result.Caa)
            for (var i = 0; i < v.Vector.Length; i++) v.Vector[i] = (float)(v.Vector[i] * factor);
        result.Selection = result.Selection with { Alpha = alpha };
        result.ControlVector!.Strength = alpha;
        return result;
    }
}
