using System.Text.Encodings.Web;
using System.Text.Json;
using System.Text.Json.Serialization;
using OnnxSteer.Diffing;

namespace OnnxSteer.Cli.Reports;

/// <summary>The <c>--json</c> form of a <see cref="DiffReport"/> (README, "diff --json schema").</summary>
internal static class DiffJson
{
    /// <summary>snake_case names, every field present (null where absent), indented, non-ASCII text kept readable.</summary>
    public static JsonSerializerOptions Options { get; } = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        DefaultIgnoreCondition = JsonIgnoreCondition.Never,
        NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals,
        Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
        WriteIndented = true,
        // Compile-time metadata: the Native AOT executable (`make tool`) cannot build serializers for records of value
        // types at run time.
        TypeInfoResolver = DiffJsonContext.Default,
    };

    /// <summary>The report as JSON text, ending with a newline.</summary>
    public static string Serialize(DiffReport report) => JsonSerializer.Serialize(report, Options) + "\n";
}

[JsonSerializable(typeof(DiffReport))]
internal sealed partial class DiffJsonContext : JsonSerializerContext;
