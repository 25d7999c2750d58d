using Microsoft.ML.OnnxRuntime;
using System.CommandLine;
using OnnxSteer.Generation;
using OnnxSteer.Patching;
using OnnxSteer.Runtime;

namespace OnnxSteer.Cli;

/// <summary>
/// <c>--strength S</c> for commands that run a model patched with <c>patch --switchable</c>: feeds
/// <see cref="SwitchableSteering.StrengthName"/> so the same file runs with its steering scaled by S.
/// </summary>
public sealed class StrengthOption
{
    /// <summary>The option itself.</summary>
    public Option<float?> Option { get; } = new("--strength")
    {
        Description = "For a model patched with --switchable: scale its steering by S for this run (1 = as patched, 0 = off, " +
                      "2 = twice alpha), without re-patching.",
        HelpName = "S",
    };

    /// <summary>
    /// Feeds the parsed strength to <paramref name="model"/>; returns the value to dispose after the model (null when the
    /// option was not given).
    /// </summary>
    /// <exception cref="OnnxSteerException">The model was not patched with --switchable, or S is not finite.</exception>
    public OrtValue? Apply(ParseResult parse, DecoderModel model)
    {
        if (parse.GetValue(Option) is not { } strength) return null;
        if (!float.IsFinite(strength)) throw new OnnxSteerException($"--strength must be a finite number, not {strength}", ExitCodes.Usage);
        if (!model.Session.OverridableInitializerMetadata.ContainsKey(SwitchableSteering.StrengthName))
            throw new OnnxSteerException(
                $"{model.ModelPath}: --strength needs a model patched with --switchable (it has no '{SwitchableSteering.StrengthName}' input)",
                ExitCodes.InvalidInput);
        var value = OrtValue.CreateTensorValueFromMemory(new[] { strength }, []);
        model.SetModelInput(SwitchableSteering.StrengthName, value);
        return value;
    }
}
