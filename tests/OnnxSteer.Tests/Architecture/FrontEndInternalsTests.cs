using System.Reflection;
using System.Reflection.Metadata;
using System.Reflection.PortableExecutable;
using System.Runtime.CompilerServices;
using OnnxSteer.Tests.Infrastructure;
using Xunit;

namespace OnnxSteer.Tests.Architecture;

/// <summary>
/// The CLI and the server are to stand on the library's public API alone (issue 28): every internal library type or
/// member they still use is listed in docs/front-end-internals.txt, read from their compiled metadata (type and member
/// references into OnnxSteer.dll), so the list can only shrink on purpose. When it is empty, the library's
/// <c>InternalsVisibleTo</c> for them goes, and the last test below holds it gone. After a change that makes something
/// public or stops using it: <c>ONNXSTEER_UPDATE_API=1</c> rewrites the file, as for docs/public-api.txt.
/// </summary>
public sealed class FrontEndInternalsTests
{
    private static readonly string Listing = Path.Combine(SharedData.RepoRoot, "docs", "front-end-internals.txt");
    private static readonly Assembly Library = typeof(Steerer).Assembly;
    private static readonly Assembly[] FrontEnds = [typeof(global::OnnxSteer.Cli.CliApp).Assembly, typeof(global::OnnxSteer.Server.SteeringServer).Assembly];

    [Fact]
    public void The_internals_the_CLI_and_the_server_use_are_the_ones_listed()
    {
        var actual = FrontEnds.SelectMany(a => InternalsUsedBy(a).Select(u => $"{a.GetName().Name}: {u}")).ToList();
        if (Environment.GetEnvironmentVariable("ONNXSTEER_UPDATE_API") == "1")
        {
            File.WriteAllLines(Listing, actual);
            return;
        }
        var listed = File.Exists(Listing) ? File.ReadAllLines(Listing).Where(l => l.Length > 0).ToList() : [];
        var added = actual.Except(listed).ToList();
        var gone = listed.Except(actual).ToList();
        Assert.True(added.Count == 0 && gone.Count == 0,
            "the library internals the CLI and the server use differ from docs/front-end-internals.txt (new uses: make the " +
            "type public, documented and listed in docs/public-api.txt, or keep the code out of the library; ONNXSTEER_UPDATE_API=1 " +
            "rewrites the file when the change is meant):\n" + string.Join("\n", added.Select(l => "+ " + l).Concat(gone.Select(l => "- " + l)).Take(60)));
    }

    [Fact]
    public void The_scan_sees_an_internal_type_and_an_internal_member_of_a_public_type()
    {
        // The tests assembly uses internals on purpose: the scan must find them there.
        var used = InternalsUsedBy(typeof(FrontEndInternalsTests).Assembly);
        Assert.Contains("type OnnxSteer.Graph.GraphEditor", used);
        Assert.Contains(used, u => u.StartsWith("member OnnxSteer.Runtime.RuntimeSettings::OpenSession", StringComparison.Ordinal));
        Assert.DoesNotContain("type OnnxSteer.Steerer", used);
    }

    [Fact]
    public void The_CLI_and_the_server_see_internals_only_while_they_still_use_some()
    {
        var granted = Library.GetCustomAttributes<InternalsVisibleToAttribute>().Select(a => a.AssemblyName).ToHashSet();
        foreach (var frontEnd in FrontEnds)
        {
            var name = frontEnd.GetName().Name!;
            if (InternalsUsedBy(frontEnd).Count == 0)
                Assert.False(granted.Contains(name), $"{name} uses no library internal: remove its InternalsVisibleTo from src/OnnxSteer/OnnxSteer.csproj");
        }
    }

    /// <summary>"type T" for each internal library type <paramref name="user"/> references, "member T::M" for each
    /// non-public member of a public library type it references (compiler-generated names left out).</summary>
    private static List<string> InternalsUsedBy(Assembly user)
    {
        using var pe = new PEReader(File.OpenRead(user.Location));
        var md = pe.GetMetadataReader();
        var libraryName = Library.GetName().Name;
        var found = new SortedSet<string>(StringComparer.Ordinal);
        string? FullName(TypeReferenceHandle h)
        {
            var r = md.GetTypeReference(h);
            var name = md.GetString(r.Name);
            if (r.ResolutionScope.Kind == HandleKind.TypeReference)
                return FullName((TypeReferenceHandle)r.ResolutionScope) is { } outer ? outer + "+" + name : null;
            if (r.ResolutionScope.Kind != HandleKind.AssemblyReference
                || md.GetString(md.GetAssemblyReference((AssemblyReferenceHandle)r.ResolutionScope).Name) != libraryName) return null;
            var ns = md.GetString(r.Namespace);
            return ns.Length > 0 ? ns + "." + name : name;
        }
        foreach (var h in md.TypeReferences)
            if (FullName(h) is { } n && Library.GetType(n) is { IsVisible: false })
                found.Add("type " + n.Replace('+', '.'));
        const BindingFlags all = BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.Instance | BindingFlags.Static | BindingFlags.DeclaredOnly;
        foreach (var h in md.MemberReferences)
        {
            var m = md.GetMemberReference(h);
            if (m.Parent.Kind != HandleKind.TypeReference || FullName((TypeReferenceHandle)m.Parent) is not { } n
                || Library.GetType(n) is not { IsVisible: true } type) continue;
            var name = md.GetString(m.Name);
            var members = type.GetMember(name, all);
            if (members.Length > 0 && !members.Any(IsPublic)) found.Add($"member {n.Replace('+', '.')}::{name}");
        }
        return [.. found];
    }

    private static bool IsPublic(MemberInfo m) => m switch
    {
        MethodBase b => b.IsPublic || b.IsFamily || b.IsFamilyOrAssembly,
        FieldInfo f => f.IsPublic || f.IsFamily || f.IsFamilyOrAssembly,
        _ => true,
    };
}
