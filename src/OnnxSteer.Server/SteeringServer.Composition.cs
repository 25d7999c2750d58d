using System.Text.Json;

namespace OnnxSteer.Server;

/// <summary>
/// Composed steering on the HTTP side: a request's steps, checked and put in the order the composed model applies them
/// (see <see cref="ComposedModel"/>), and reported back as they ran.
/// </summary>
public sealed partial class SteeringServer
{
    /// <summary>
    /// <paramref name="steering"/> with its steps (if it composes several) in the composed model's order. Profiles given
    /// as patched folders cannot be composed (the server stacks profile files): 400.
    /// </summary>
    private SteeringChoice ComposedOrder(SteeringChoice steering)
    {
        if (steering.Steps is not { } steps) return steering;
        var composable = _models.Composed?.Profiles ?? [];
        if (steps.FirstOrDefault(s => !composable.Contains(s.Profile)) is { } missing)
            throw ApiError.Bad($"profile '{missing.Profile}' cannot be composed with others: only profiles given as files (.json, .gguf) compose " +
                               $"({(composable.Count == 0 ? "none here" : string.Join(", ", composable))})", "steering", "profile_not_composable");
        var ordered = steps.OrderBy(s => IndexOf(composable, s.Profile)).ToList();
        return steering with { Profile = string.Join("+", ordered.Select(s => s.Profile)), Steps = ordered };
    }

    private static int IndexOf(IReadOnlyList<string> list, string item)
    {
        for (var i = 0; i < list.Count; i++) if (list[i] == item) return i;
        return -1;
    }

    /// <summary>A composed setting in the response: the joined name and each step as it ran, in order.</summary>
    private static void WriteSteps(Utf8JsonWriter w, SteeringChoice steering)
    {
        w.WriteString("profile", steering.Profile);
        w.WriteNull("strength");
        w.WriteStartArray("steps");
        foreach (var step in steering.Steps!)
        {
            w.WriteStartObject();
            w.WriteString("profile", step.Profile);
            w.WriteNumber("strength", step.Strength);
            w.WriteEndObject();
        }
        w.WriteEndArray();
    }
}
