using System.Globalization;
using OnnxSteer.Diffing;
using static OnnxSteer.ErrorText;

namespace OnnxSteer.Cli.Reports;

/// <summary>What a line of the human-readable report is, so a terminal can colour it.</summary>
internal enum DiffStyle
{
    /// <summary>The verdict line.</summary>
    Title,
    /// <summary>A section heading.</summary>
    Heading,
    /// <summary>Something only B has.</summary>
    Added,
    /// <summary>Something only A has.</summary>
    Removed,
    /// <summary>Something in both that differs.</summary>
    Changed,
    /// <summary>A statement that something is the same.</summary>
    Same,
    /// <summary>Plain information.</summary>
    Plain,
    /// <summary>Secondary detail.</summary>
    Note,
}

/// <summary>One line of the readable report.</summary>
internal readonly record struct DiffLine(DiffStyle Style, string Text);

/// <summary>
/// Lays a <see cref="DiffReport"/> out as plain lines (each tagged with a <see cref="DiffStyle"/>), steering summary
/// first, then section by section. Long lists are cut at <c>maxItems</c>; the JSON form always has everything.
/// </summary>
internal static class DiffText
{
    // The patcher's own record (metadata key of Patching's steering record): shown as the sites, not as raw text.
    private const string SteeringRecordKey = "onnxsteer.steering";

    /// <summary>The lines of <paramref name="r"/>; <paramref name="parameter"/> writes the parameters a hint mentions
    /// (a front end's option names), null = their names.</summary>
    public static IReadOnlyList<DiffLine> Render(DiffReport r, int maxItems = 40, Func<string, string>? parameter = null)
    {
        var w = new Writer(maxItems, parameter);
        w.Line(DiffStyle.Note, $"A: {r.A.Path} ({r.A.Nodes} nodes, {r.A.Initializers} initializers)");
        w.Line(DiffStyle.Note, $"B: {r.B.Path} ({r.B.Nodes} nodes, {r.B.Initializers} initializers)");
        w.Line(DiffStyle.Title, r.Identical ? "The models are identical." : "The models differ: " + Counts(r) + ".");
        if (r.Steering is { } s) Steering(w, s);
        if (r.Prompt is { } p) Prompt(w, p);
        if (r.Identical)
        {
            if (r.Initializers.SharedExternal > 0)
                w.Line(DiffStyle.Note, $"{r.Initializers.SharedExternal} of {r.Initializers.Unchanged} initializers share the same external data bytes and were not read.");
            return w.Lines;
        }
        Header(w, r);
        Graph(w, r);
        var i = r.Initializers;
        w.Line(DiffStyle.Note, $"{i.Unchanged} initializers unchanged" +
            (i.SharedExternal > 0 ? $" ({i.SharedExternal} share the same external data bytes and were not read)" : "") +
            $"; {r.Nodes.Unchanged} nodes unchanged.");
        return w.Lines;
    }

    /// <summary>The model's fields, opsets, metadata and graph inputs/outputs.</summary>
    private static void Header(Writer w, DiffReport r)
    {
        w.Section("Model", r.Model, c => (DiffStyle.Changed, $"~ {c.Name}: {c.A} -> {c.B}"));
        w.Section("Opsets", r.Opsets, c => (DiffStyle.Changed, $"~ {(c.Domain.Length == 0 ? "ai.onnx" : c.Domain)}: {c.A?.ToString() ?? "none"} -> {c.B?.ToString() ?? "none"}"));
        w.Section("Metadata", r.Metadata, Keyed);
        w.Section("Graph inputs", r.Inputs, Keyed);
        w.Section("Graph outputs", r.Outputs, Keyed);
    }

    /// <summary>Nodes, edges and initializers.</summary>
    private static void Graph(Writer w, DiffReport r)
    {
        w.Section("Nodes added", r.Nodes.Added, n => (DiffStyle.Added, $"+ {n.Name} ({n.OpType}) {string.Join(", ", n.Inputs)} -> {string.Join(", ", n.Outputs)}"));
        w.Section("Nodes removed", r.Nodes.Removed, n => (DiffStyle.Removed, $"- {n.Name} ({n.OpType})"));
        w.Section("Nodes renamed", r.Nodes.Renamed, n => (DiffStyle.Changed, $"~ {n.A} -> {n.B} ({n.OpType})"));
        w.Section("Nodes changed", r.Nodes.Changed, n => (DiffStyle.Changed,
            $"~ {n.Name}: " + string.Join("; ", n.Changes.Select(c => $"{(c.Name is null ? c.What : "attribute " + c.Name)} {c.A ?? "(none)"} -> {c.B ?? "(none)"}"))));
        w.Section("Edges rewired", r.EdgesRewired, e => (DiffStyle.Changed, $"~ {e.Node} input {e.Input}: " +
            (e.A == e.B ? $"{Value(e.A)} now comes from {e.ProducerB ?? "a graph input or initializer"}" : $"{Value(e.A)} -> {Value(e.B)}")));
        w.Section("Initializers added", r.Initializers.Added, t => (DiffStyle.Added,
            $"+ {t.Name} {t.Dtype}[{string.Join(",", t.Shape)}]" + SteeringText(t.Steering)));
        w.Section("Initializers removed", r.Initializers.Removed, t => (DiffStyle.Removed, $"- {t.Name} {t.Dtype}[{string.Join(",", t.Shape)}]"));
        w.Section("Initializers changed", r.Initializers.Changed, t => (DiffStyle.Changed, $"~ {t.Name} {TensorChangeText(t)}"));
    }

    private static (DiffStyle, string) Keyed(ValueChange c) => c.Change switch
    {
        "added" => (DiffStyle.Added, $"+ {c.Name} = {Clip(c.B ?? "", 100)}"),
        "removed" => (DiffStyle.Removed, $"- {c.Name} = {Clip(c.A ?? "", 100)}"),
        _ => (DiffStyle.Changed, $"~ {c.Name}: {Clip(c.A ?? "", 60)} -> {Clip(c.B ?? "", 60)}"),
    };

    private static string Value(string v) => v.Length == 0 ? "(none)" : v;

    /// <summary>"1 node added, 2 edges rewired, 8 metadata entries changed" — only the non-zero counts.</summary>
    public static string Counts(DiffReport r)
    {
        var c = r.Summary;
        var parts = new List<string>();
        void Add(int n, string singular, string plural, string verb)
        {
            if (n > 0) parts.Add($"{n} {(n == 1 ? singular : plural)} {verb}");
        }
        Add(c.NodesAdded, "node", "nodes", "added");
        Add(c.NodesRemoved, "node", "nodes", "removed");
        Add(c.NodesChanged, "node", "nodes", "changed");
        Add(c.NodesRenamed, "node", "nodes", "renamed");
        Add(c.EdgesRewired, "edge", "edges", "rewired");
        Add(c.InitializersAdded, "initializer", "initializers", "added");
        Add(c.InitializersRemoved, "initializer", "initializers", "removed");
        Add(c.InitializersChanged, "initializer", "initializers", "changed");
        Add(r.Model.Count, "model field", "model fields", "changed");
        Add(r.Opsets.Count, "opset", "opsets", "changed");
        Add(r.Metadata.Count, "metadata entry", "metadata entries", "changed");
        Add(r.Inputs.Count, "graph input", "graph inputs", "changed");
        Add(r.Outputs.Count, "graph output", "graph outputs", "changed");
        return parts.Count == 0 ? "no differences" : string.Join(", ", parts);
    }

    private static string SteeringText(SteeringVectorStats? s) => s switch
    {
        null => "",
        { Operation: "add" } => $"  steering bias: {s.EntriesSteered} of {s.Width} entries != 0" +
                                (s.MinOffset is null ? "" : ", offset " + Range(s.MinOffset.Value, s.MaxOffset!.Value)),
        _ => $"  steering scale: {s.EntriesSteered} of {s.Width} entries != 1" +
             (s.MinGamma is null ? "" : ", gamma " + Range(s.MinGamma.Value, s.MaxGamma!.Value)),
    };

    private static string TensorChangeText(TensorChange t)
    {
        var layout = $"{t.DtypeA}[{string.Join(",", t.ShapeA)}]";
        var layoutB = $"{t.DtypeB}[{string.Join(",", t.ShapeB)}]";
        if (layout != layoutB) return $"{layout} -> {layoutB}";
        var v = t.Values!;
        var text = $"{layout}: {v.Differing} of {v.Elements} elements differ";
        if (v.MaxAbsDiff is { } max) text += $", max |diff| {G(max)}";
        if (v.RowsScaled is { } rows) text += Slices("rows", rows);
        if (v.ColumnsScaled is { } columns) text += Slices("columns", columns);
        return text + SteeringText(t.Steering);
    }

    private static string Slices(string what, IReadOnlyList<ScaledSlice> slices) =>
        $"; {slices.Count} {what} scaled: " + string.Join(", ", slices.Take(6).Select(x => $"{x.Index} x{G(x.Factor)}")) + (slices.Count > 6 ? ", ..." : "");

    private static void Steering(Writer w, SteeringSummary s)
    {
        var units = s.Kinds.Sum(k => k.Units);
        w.Heading($"Steering: {s.Sites.Count} site{(s.Sites.Count == 1 ? "" : "s")}, {units} unit{(units == 1 ? "" : "s")}");
        foreach (var k in s.Kinds)
            w.Line(DiffStyle.Changed, $"{k.Kind}: layer{(k.Layers.Count == 1 ? "" : "s")} {string.Join(",", k.Layers)}; " +
                                      $"{k.Units} unit{(k.Units == 1 ? "" : "s")}" + (k.MinGamma is { } lo ? "; gamma " + Range(lo, k.MaxGamma!.Value) : ""));
        w.List(s.Sites, site => (DiffStyle.Plain,
            $"  {site.Kind}.{site.Layer} ({site.Mode}: {site.Node}) " +
            (site.Units.Count == 0 ? "no unit steered" : string.Join(", ", site.Units.Select(Unit))) +
            (site.Gate is { } gate ? $"; {gate}" : "")));
        // The full record (onnxsteer.steering) is what the sites above were read from; show the short keys.
        var keys = s.Metadata.Where(kv => kv.Key != SteeringRecordKey).Select(kv => $"{kv.Key} = {Clip(kv.Value, 60)}").ToList();
        if (keys.Count > 0) w.Line(DiffStyle.Note, "  " + string.Join("; ", keys));
        if (s.RestUnchanged)
        {
            w.Line(DiffStyle.Same, "Apart from the steering, the models are identical.");
            return;
        }
        w.Line(DiffStyle.Changed, $"Besides the steering, {s.OtherChanges.Count} other change{(s.OtherChanges.Count == 1 ? "" : "s")}:");
        w.List(s.OtherChanges, line => (DiffStyle.Changed, "  " + line));
    }

    private static string Range(double lo, double hi) => lo == hi ? G(lo) : $"{G(lo)} .. {G(hi)}";

    /// <summary>"12:+0.5" for a scaled unit (its gamma), "12:add 0.3" for a shifted one.</summary>
    private static string Unit(SteeredUnit u) => u.Gamma is { } g
        ? $"{u.Index}:{(g >= 0 ? "+" : "")}{G(g)}"
        : $"{u.Index}:add {G(u.Offset ?? 0)}";

    private static void Prompt(Writer w, PromptComparison p)
    {
        w.Heading($"Next token after \"{Clip(p.Prompt, 60)}\" ({p.PromptTokens} tokens)");
        const int col = 34;
        w.Line(DiffStyle.Note, $"  {"A",-col} {"B",-col}");
        for (var i = 0; i < Math.Max(p.TopA.Count, p.TopB.Count); i++)
        {
            var a = i < p.TopA.Count ? TokenText(p.TopA[i]) : "";
            var b = i < p.TopB.Count ? TokenText(p.TopB[i]) : "";
            var same = i < p.TopA.Count && i < p.TopB.Count && p.TopA[i].Id == p.TopB[i].Id;
            w.Line(same ? DiffStyle.Plain : DiffStyle.Changed, $"  {Fit(a, col),-col} {Fit(b, col),-col}");
        }
        w.Line(p.KlAB == 0 ? DiffStyle.Same : DiffStyle.Changed, $"  KL(A||B) = {G(p.KlAB)} nats; max |delta logit| = {G(p.MaxAbsLogitDiff)}");
        if (p.Generation is { } g)
        {
            w.Heading($"Greedy continuation ({g.Tokens} tokens)" + (g.FirstDivergence is { } d ? $", diverges at token {d}" : ", identical"));
            w.Line(DiffStyle.Plain, "  A: " + Escape(g.A));
            w.Line(g.FirstDivergence is null ? DiffStyle.Plain : DiffStyle.Changed, "  B: " + Escape(g.B));
        }
    }

    private static string TokenText(TokenProbability t) =>
        $"{Escape(t.Text)} #{t.Id} {(t.Probability * 100).ToString(t.Probability >= 0.001 ? "0.00" : "G3", CultureInfo.InvariantCulture)}%";

    private static string Fit(string s, int width) => s.Length <= width ? s : s[..(width - 1)] + "…";

    /// <summary>Quoted, with newlines, tabs and other control characters shown as escapes so columns stay aligned.</summary>
    private static string Escape(string s)
    {
        var b = new System.Text.StringBuilder("\"");
        foreach (var c in s)
            b.Append(c switch
            {
                '\n' => "\\n",
                '\t' => "\\t",
                '"' => "\\\"",
                _ when char.IsControl(c) => $"\\x{(int)c:x2}",
                _ => c.ToString(),
            });
        return b.Append('"').ToString();
    }

    /// <summary>A number with up to 6 significant digits, invariant culture.</summary>
    public static string G(double v) => v.ToString("G6", CultureInfo.InvariantCulture);

    /// <summary>One line, at most <paramref name="max"/> characters (newlines shown as \n).</summary>
    private static string Clip(string s, int max)
    {
        s = s.Replace("\n", "\\n");
        return s.Length <= max ? s : s[..(max - 1)] + "…";
    }

    private sealed class Writer(int maxItems, Func<string, string>? parameter)
    {
        public List<DiffLine> Lines { get; } = [];

        public void Line(DiffStyle style, string text) => Lines.Add(new DiffLine(style, text));

        public void Heading(string text)
        {
            Lines.Add(new DiffLine(DiffStyle.Plain, ""));
            Lines.Add(new DiffLine(DiffStyle.Heading, text));
        }

        public void Section<T>(string title, IReadOnlyList<T> items, Func<T, (DiffStyle, string)> line)
        {
            if (items.Count == 0) return;
            Heading($"{title} ({items.Count})");
            List(items, x => { var (s, t) = line(x); return (s, "  " + t); });
        }

        public void List<T>(IReadOnlyList<T> items, Func<T, (DiffStyle, string)> line)
        {
            foreach (var item in items.Take(maxItems))
            {
                var (style, text) = line(item);
                Line(style, text);
            }
            if (items.Count > maxItems) Line(DiffStyle.Note, More(items.Count - maxItems).Render(parameter));
        }

        private static WarningText More(int left) => $"  … and {left} more ({Param("json")} lists all)";
    }
}
