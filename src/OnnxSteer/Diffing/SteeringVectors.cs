using System.Text.RegularExpressions;
using Onnx;
using OnnxSteer.ModelFiles;

namespace OnnxSteer.Diffing;

/// <summary>
/// Recognises and reads steering vectors: initializers named <c>…/steer.scale</c> or <c>…/steer.bias</c> (stacked
/// patches use <c>steer_2</c>, …) that multiply or shift a site's activation. A scale entry of 1 and a bias entry of 0
/// leave their unit alone.
/// </summary>
internal static partial class SteeringVectors
{
    /// <summary>True when a node or initializer name lies in a <c>steer</c> scope.</summary>
    public static bool IsSteeringName(string name) => SteerScope().IsMatch(name);

    /// <summary>"add" for a bias vector, else "scale".</summary>
    public static string OperationOf(string name) => name.EndsWith(".bias", StringComparison.OrdinalIgnoreCase) ? "add" : "scale";

    [GeneratedRegex(@"(^|/)steer(_\d+)?(\.scale$|\.bias$|/)", RegexOptions.IgnoreCase)]
    private static partial Regex SteerScope();

    /// <summary>Statistics of <paramref name="t"/> when it is a numeric steering vector, else null.</summary>
    public static SteeringVectorStats? StatsIfSteering(TensorProto t, ModelSource side)
    {
        if (!IsSteeringName(t.Name) || !ElementTypes.IsNumeric(t.DataType)) return null;
        var operation = OperationOf(t.Name);
        var units = Units(t, side, operation);
        var gammas = units.Where(u => u.Gamma is not null).Select(u => u.Gamma!.Value).ToList();
        var offsets = units.Where(u => u.Offset is not null).Select(u => u.Offset!.Value).ToList();
        return new SteeringVectorStats(operation, (int)DataTypes.ElementCount(t.Dims), units.Count,
            gammas.Count == 0 ? null : gammas.Min(), gammas.Count == 0 ? null : gammas.Max(),
            offsets.Count == 0 ? null : offsets.Min(), offsets.Count == 0 ? null : offsets.Max());
    }

    /// <summary>The steered entries: for "scale" those ≠ 1 with gamma = v - 1; for "add" those ≠ 0 with their offset.</summary>
    public static List<SteeredUnit> Units(TensorProto t, ModelSource side, string operation)
    {
        var bytes = TensorBytes.Of(t, side.BaseDirectory, side.Path).ReadAll();
        var count = DataTypes.ElementCount(t.Dims);
        var units = new List<SteeredUnit>();
        for (var i = 0; i < count; i++)
        {
            var v = ElementTypes.Decode(t.DataType, bytes, i);
            if (operation == "add" && v != 0) units.Add(new SteeredUnit(i, null, v));
            else if (operation == "scale" && v != 1) units.Add(new SteeredUnit(i, v - 1, null));
        }
        return units;
    }
}
