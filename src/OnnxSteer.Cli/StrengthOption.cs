using Microsoft.ML.OnnxRuntime;
using System.CommandLine;
using OnnxSteer.Cli.Options;
using OnnxSteer.Generation;
using OnnxSteer.HostFormats;
using OnnxSteer.Runtime;

namespace OnnxSteer.Cli;

/// <summary>
/// <c>--strength S</c> for commands that run a model patched with <c>patch --switchable</c>: feeds
/// <see cref="StrengthAdapter.InputName"/> so the same file runs with its steering scaled by S.
/// </summary>
public sealed class StrengthOption(string? description = null)
{
    /// <summary>The option itself: a finite number (checked when the command line is parsed).</summary>
    public Option<float?> Option { get; } = new Option<float?>("--strength")
    {
        Description = description ?? "For a model patched with --switchable: scale its steering by S for this run (1 = as patched, 0 = off, " +
                      "2 = twice alpha), without re-patching.",
        HelpName = "S",
    }.Check(s => s is not { } v || float.IsFinite(v), "must be a finite number");

    /// <summary>The strength given, or null.</summary>
    public float? Read(ParseResult parse) => parse.GetValue(Option);

    /// <summary>
    /// Feeds <paramref name="strength"/> to <paramref name="model"/>; returns the value to dispose after the model (null
    /// when no strength was given).
    /// </summary>
    /// <exception cref="OnnxSteerException">The model was not patched with --switchable.</exception>
    internal static OrtValue? Apply(float? strength, DecoderModel model)
    {
        if (strength is not { } s) return null;
        if (!model.Session.OverridableInitializerMetadata.TryGetValue(StrengthAdapter.InputName, out var declared))
            throw new CommandLineException(
                $"{model.ModelPath}: --strength needs a model patched with --switchable (it has no '{StrengthAdapter.InputName}' input)",
                ExitCodes.Usage);
        // Models patched before the strength became [1] (for .onnx_adapter files) declare it as a scalar: feed what it declares.
        var value = OrtValue.CreateTensorValueFromMemory(new[] { s }, declared.Dimensions.Select(d => (long)d).ToArray());
        model.SetModelInput(StrengthAdapter.InputName, value);
        return value;
    }

    /// <summary>
    /// Writes an .onnx_adapter setting the strength of the switchable model at <paramref name="modelPath"/> to
    /// <paramref name="strength"/> (what <c>onnxsteer adapter</c> and <c>generate --engine genai --strength</c> use).
    /// </summary>
    /// <exception cref="OnnxSteerException">S is not finite, or the model has no [1] strength input.</exception>
    public static void WriteAdapter(string modelPath, float strength, string adapterFile)
    {
        if (!float.IsFinite(strength)) throw new CommandLineException($"--strength {strength.ToString(System.Globalization.CultureInfo.InvariantCulture)}: must be a finite number", ExitCodes.Usage);
        StrengthAdapter.RequireStrengthInput(modelPath);
        StrengthAdapter.Write(adapterFile, strength);
    }
}
