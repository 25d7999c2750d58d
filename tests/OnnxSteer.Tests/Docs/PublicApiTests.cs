using System.Reflection;
using System.Runtime.CompilerServices;
using System.Xml.Linq;
using OnnxSteer.Tests.Infrastructure;
using Xunit;

namespace OnnxSteer.Tests.Docs;

/// <summary>
/// The library's public surface is listed in docs/public-api.txt, one line per public type and member, so a change to
/// it shows up in review and is deliberate. After an intended change: <c>ONNXSTEER_UPDATE_API=1 make test</c>.
/// </summary>
public sealed class PublicApiTests
{
    private static readonly string Listing = Path.Combine(SharedData.RepoRoot, "docs", "public-api.txt");

    [Fact]
    public void The_public_api_is_the_one_listed_in_docs()
    {
        var actual = Describe(typeof(Steerer).Assembly);
        if (Environment.GetEnvironmentVariable("ONNXSTEER_UPDATE_API") == "1")
        {
            File.WriteAllLines(Listing, actual);
            return;
        }
        var listed = File.Exists(Listing) ? File.ReadAllLines(Listing).ToList() : [];
        var added = actual.Except(listed).ToList();
        var removed = listed.Except(actual).ToList();
        Assert.True(added.Count == 0 && removed.Count == 0,
            "the public API differs from docs/public-api.txt (ONNXSTEER_UPDATE_API=1 make test rewrites it when the change is meant):\n"
            + string.Join("\n", added.Select(l => "+ " + l).Concat(removed.Select(l => "- " + l)).Take(60)));
    }

    [Fact]
    public void The_listing_names_types_and_their_members()
    {
        var lines = Describe(typeof(Steerer).Assembly);
        Assert.Contains("class OnnxSteer.Steerer", lines);
        Assert.Contains(lines, l => l.StartsWith("  OnnxSteer.Steerer: ") && l.Contains("Profile("));
        Assert.DoesNotContain(lines, l => l.Contains("CloneWithoutSelection"));   // internal members stay out
    }

    [Fact]
    public void Every_public_type_and_member_has_a_doc_comment()
    {
        var assembly = typeof(Steerer).Assembly;
        var xml = Path.ChangeExtension(assembly.Location, ".xml");
        Assert.True(File.Exists(xml), $"{xml}: no XML documentation beside the library (GenerateDocumentationFile)");
        var documented = XDocument.Load(xml).Descendants("member")
            .Where(m => m.Value.Trim().Length > 0)
            .Select(m => (string)m.Attribute("name")!)
            .ToHashSet(StringComparer.Ordinal);

        var missing = new List<string>();
        foreach (var type in assembly.GetExportedTypes().Where(t => t.Namespace?.StartsWith("OnnxSteer", StringComparison.Ordinal) == true))
        {
            if (!documented.Contains("T:" + Name(type))) missing.Add("T:" + Name(type));
            foreach (var id in MemberIds(type))
                if (!documented.Contains(id) && !documented.Any(d => d.StartsWith(id + "(", StringComparison.Ordinal) || d.StartsWith(id + "``", StringComparison.Ordinal)))
                    missing.Add(id);
        }
        Assert.True(missing.Count == 0, "public but undocumented (add a /// <summary>, or make it internal):\n" + string.Join("\n", missing));
    }

    // Constructors are left out: C# documents a primary constructor by its type, and CS1591 warns about the others.
    private static IEnumerable<string> MemberIds(Type type)
    {
        const BindingFlags flags = BindingFlags.Public | BindingFlags.Instance | BindingFlags.Static | BindingFlags.DeclaredOnly;
        foreach (var member in type.GetMembers(flags))
        {
            if (member.IsDefined(typeof(CompilerGeneratedAttribute)) || member is MethodInfo { IsSpecialName: true }) continue;
            var prefix = member switch
            {
                FieldInfo f when !(type.IsEnum && f.IsSpecialName) => "F:",
                PropertyInfo => "P:",
                MethodInfo => "M:",
                EventInfo => "E:",
                _ => null,
            };
            if (prefix is not null) yield return $"{prefix}{Name(type)}.{member.Name}";
        }
    }

    internal static List<string> Describe(Assembly assembly)
    {
        var lines = new List<string>();
        // Every exported type, whatever its namespace: generated code (the Onnx protobuf types) was once public and unlisted.
        foreach (var type in assembly.GetExportedTypes().OrderBy(t => t.FullName, StringComparer.Ordinal))
        {
            var kind = type.IsEnum ? "enum" : type.IsInterface ? "interface" : type.IsValueType ? "struct" : "class";
            lines.Add($"{kind} {Name(type)}");
            const BindingFlags flags = BindingFlags.Public | BindingFlags.Instance | BindingFlags.Static | BindingFlags.DeclaredOnly;
            var members = type.GetMembers(flags)
                .Where(m => m is not MethodInfo { IsSpecialName: true } && m is not Type)
                .Select(m => $"  {Name(type)}: {m.MemberType} {m}")
                .Order(StringComparer.Ordinal);
            lines.AddRange(members);
        }
        return lines;
    }

    private static string Name(Type t) => (t.FullName ?? t.Name).Replace('+', '.');
}
