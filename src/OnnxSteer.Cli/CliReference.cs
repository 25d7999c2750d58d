using System.CommandLine;
using OnnxSteer.Sites;
using System.Text;

namespace OnnxSteer.Cli;

/// <summary>
/// The CLI reference (docs/cli.md) written from the command tree itself, so the document says exactly what
/// <c>--help</c> says. A test keeps the committed file current; <c>make docs</c> rewrites it.
/// </summary>
public static class CliReference
{
    /// <summary>Markdown for every command under <paramref name="root"/>, in name order.</summary>
    public static string Markdown(Command root)
    {
        var md = new StringBuilder();
        md.Append("# onnxsteer command reference\n\n");
        md.Append("Generated from the commands' own `--help` text by `make docs`; a test fails when it is out of date.\n");
        md.Append(root.Description).Append("\n\n");
        md.Append("Every command takes `-h`/`--help` and `--verbose` (full error details when something fails) and `--no-color` (plain text; see [errors.md](errors.md#colour)); ")
          .Append("`onnxsteer --version` prints the version. Exit codes, the overwrite rule and the sign of alpha are in [errors.md](errors.md).\n\n");
        var leaves = new List<(string Words, Command Command)>();
        Collect(root, root.Name, leaves);
        md.Append("| command | what it does |\n|---|---|\n");
        foreach (var (words, command) in leaves) md.Append($"| [`{words}`](#{Anchor(words)}) | {Cell(FirstSentence(command.Description))} |\n");
        foreach (var (words, command) in leaves) Section(md, words, command);
        return md.ToString();
    }

    private static void Collect(Command command, string words, List<(string, Command)> leaves)
    {
        foreach (var sub in command.Subcommands.Where(c => !c.Hidden).OrderBy(c => c.Name, StringComparer.Ordinal))
        {
            var subWords = $"{words} {sub.Name}";
            if (sub.Subcommands.Count == 0) leaves.Add((subWords, sub));
            else Collect(sub, subWords, leaves);
        }
    }

    private static void Section(StringBuilder md, string words, Command command)
    {
        md.Append($"\n## {words}\n\n");
        var usage = new StringBuilder(words);
        foreach (var a in command.Arguments.Where(a => !a.Hidden))
            usage.Append(a.Arity.MaximumNumberOfValues > 1 ? $" {a.Name.ToUpperInvariant()}..." : $" {a.Name.ToUpperInvariant()}");
        foreach (var o in command.Options.Where(o => o.Required)) usage.Append($" {o.Name} {Value(o)}");
        usage.Append(" [options]");
        md.Append("<!-- docs-test: illustrative: synopsis -->\n```sh\n").Append(usage).Append("\n```\n\n").Append(command.Description).Append("\n\n");
        if (command.Arguments.Any(a => !a.Hidden))
        {
            md.Append("| argument | description |\n|---|---|\n");
            foreach (var a in command.Arguments.Where(a => !a.Hidden)) md.Append($"| `{a.Name.ToUpperInvariant()}` | {Cell(a.Description)} |\n");
            md.Append('\n');
        }
        var options = command.Options.Where(o => !o.Hidden).ToList();
        if (options.Count == 0) return;
        md.Append("| option | description |\n|---|---|\n");
        foreach (var o in options)
        {
            var names = string.Join(", ", new[] { o.Name }.Concat(o.Aliases.Order(StringComparer.Ordinal)).Select(n => $"`{n}`"));
            var value = Value(o);
            var text = Cell(o.Description);
            if (o.Required) text += " **Required.**";
            if (o.HasDefaultValue && o.GetDefaultValue() is { } d && d is not false) text += $" Default: `{Format(d)}`.";
            md.Append($"| {names}{(value.Length > 0 ? " " + value : "")} | {text} |\n");
        }
    }

    /// <summary>The placeholder after an option (<c>&lt;N&gt;</c>); empty for a flag.</summary>
    private static string Value(Option o) =>
        o.ValueType == typeof(bool) || o.Arity.MinimumNumberOfValues == 0 ? "" : $"<{o.HelpName ?? o.Name.TrimStart('-').ToUpperInvariant()}>";

    private static string Format(object value) => value switch
    {
        string s => s,
        SiteKind kind => kind.ToName(),
        System.Collections.IEnumerable e => string.Join(",", e.Cast<object>().Select(Format)),
        IFormattable f => f.ToString(null, System.Globalization.CultureInfo.InvariantCulture),
        _ => value.ToString() ?? "",
    };

    private static string FirstSentence(string? text)
    {
        if (string.IsNullOrEmpty(text)) return "";
        // The first ". " that ends a sentence, not an abbreviation such as "e.g. ".
        for (var end = text.IndexOf(". ", StringComparison.Ordinal); end >= 0; end = text.IndexOf(". ", end + 1, StringComparison.Ordinal))
            if (!text[..end].EndsWith("e.g", StringComparison.Ordinal) && !text[..end].EndsWith("i.e", StringComparison.Ordinal))
                return text[..(end + 1)];
        return text;
    }

    private static string Cell(string? text) => (text ?? "").Replace("|", "\\|").Replace("\n", " ").Replace("<", "&lt;");

    private static string Anchor(string words) => words.Replace(' ', '-');
}
