namespace OnnxSteer.Graph;

/// <summary>A graph that breaks ONNX's rules: each problem is one line, the message names the first ones.</summary>
public sealed class GraphValidationException(IReadOnlyList<string> problems, string? source = null)
    : InvalidModelException(Format(problems, source))
{
    /// <summary>Every problem found, one line each.</summary>
    public IReadOnlyList<string> Problems { get; } = problems;

    private static string Format(IReadOnlyList<string> problems, string? source)
    {
        var prefix = source is null ? "" : $"{source}: ";
        return problems.Count switch
        {
            0 => $"{prefix}invalid graph",
            1 => prefix + problems[0],
            _ => $"{prefix}{problems[0]} (and {problems.Count - 1} more problem{(problems.Count == 2 ? "" : "s")})",
        };
    }
}
