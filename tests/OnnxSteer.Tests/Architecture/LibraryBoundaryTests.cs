using System.Reflection;
using OnnxSteer.Cli;
using OnnxSteer.Runtime;
using Xunit;

namespace OnnxSteer.Tests.Architecture;

/// <summary>
/// What the shipped library carries and promises: no test oracle, no generated type a consumer could clash with, and
/// exception types that say what went wrong.
/// </summary>
public sealed class LibraryBoundaryTests
{
    private static readonly Assembly[] Product =
        [typeof(Steerer).Assembly, typeof(ErrorReporter).Assembly, typeof(Server.SteeringServer).Assembly];

    [Fact]
    public void The_test_oracle_is_not_in_the_product()
    {
        var found = Product.SelectMany(a => a.GetTypes())
            .Where(t => t.Namespace == "OnnxSteer.Reference" || t.Name is "LlamaReference" or "ReferenceRun")
            .Select(t => $"{t.Assembly.GetName().Name}: {t.FullName}").ToList();
        Assert.True(found.Count == 0, "the C# reference forward pass belongs to the tests:\n" + string.Join("\n", found));
        Assert.Equal(typeof(Reference.LlamaReference).Assembly, typeof(LibraryBoundaryTests).Assembly);
    }

    /// <summary>A consumer with its own onnx.proto assembly would see two <c>Onnx.ModelProto</c>s if ours were public.</summary>
    [Fact]
    public void Every_public_type_of_the_library_is_in_its_own_namespace()
    {
        var strays = typeof(Steerer).Assembly.GetExportedTypes()
            .Where(t => t.Namespace is not { } ns || !(ns == "OnnxSteer" || ns.StartsWith("OnnxSteer.", StringComparison.Ordinal)))
            .Select(t => t.FullName).ToList();
        Assert.True(strays.Count == 0, $"public types outside OnnxSteer.*: {strays.Count}, e.g. {string.Join(", ", strays.Take(5))}");
        Assert.False(typeof(Onnx.ModelProto).IsVisible);
    }

    /// <summary>ORT failing on a model is not ORT missing: the two are different exceptions (the CLI exits 4 for both).</summary>
    [Fact]
    public void An_error_the_runtime_reports_is_not_a_runtime_that_is_unavailable()
    {
        var e = Assert.Throws<OrtException>(() => RuntimeSettings.Default.OpenSession(new byte[] { 1, 2, 3, 4, 5 }, null, out _, "junk.onnx"));
        Assert.IsNotAssignableFrom<RuntimeUnavailableException>(e);
        Assert.StartsWith("junk.onnx: ONNX Runtime: ", e.Message);
        Assert.Equal(ExitCodes.Runtime, ErrorReporter.ExitCode(e));

        var missing = Path.Combine(Path.GetTempPath(), "onnxsteer-no-such-" + Guid.NewGuid().ToString("N"), "libonnxruntime.so");
        var unavailable = Assert.Throws<RuntimeUnavailableException>(() => OrtLibrary.Resolve(missing, null));
        Assert.Equal(ExitCodes.Runtime, ErrorReporter.ExitCode(unavailable));
    }

    /// <summary>A warning is not an error: its own type, with the same parameter mentions an error has.</summary>
    [Fact]
    public void Warnings_have_their_own_type_and_keep_parameter_mentions()
    {
        Assert.Equal(typeof(Action<WarningText>), typeof(RuntimeSettings).GetProperty(nameof(RuntimeSettings.Notice))!.PropertyType);
        ErrorText cause = $"{ErrorText.Param("force")}";
        WarningText warning = $"warning: {ErrorText.Param("k")} {12}: applied anyway ({cause})";
        Assert.Equal(["k", "force"], warning.Parameters);
        Assert.Equal("warning: --k 12: applied anyway (--force)", warning.Render(p => "--" + p));
        Assert.Equal("warning: k 12: applied anyway (force)", warning.ToString());
        Assert.Equal("note", WarningText.From((ErrorText)"note").ToString());
    }
}
