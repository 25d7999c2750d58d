using System.Diagnostics;
using System.Text.Json;
using OnnxSteer.HostFormats;
using OnnxSteer.Tests.Infrastructure;
using OnnxSteer.Tests.Patching;
using Xunit;
using Xunit.Abstractions;

namespace OnnxSteer.Tests.HostFormats;

/// <summary>
/// Files written by <see cref="GgufWriter"/> read by an independent GGUF implementation: hyllama, a JavaScript parser of
/// GGUF metadata and tensor infos (npm, fetched by <c>make setup</c> into .cache/npm/hyllama). Skipped, with the reason
/// in the runner's report, when node or the package is absent; under CI=true (which installs both) they fail instead.
/// </summary>
public sealed class HyllamaCrossCheckTests(ITestOutputHelper output)
{
    private static string Hyllama => Requirements.HyllamaScript;

    /// <summary>hyllama's view of <paramref name="path"/> as JSON (bigints as strings).</summary>
    private JsonDocument ParseWithHyllama(string path)
    {
        Requirements.Require(Requirement.Hyllama);
        const string script = """
            const [lib, file] = process.argv.slice(1);
            const { ggufMetadata } = await import('file://' + lib);
            const fs = await import('fs');
            const bytes = fs.readFileSync(file);
            const parsed = ggufMetadata(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength));
            console.log(JSON.stringify(parsed, (k, v) => typeof v === 'bigint' ? v.toString() : v));
            """;
        var psi = new ProcessStartInfo("node") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in new[] { "--input-type=module", "-e", script, Hyllama, path }) psi.ArgumentList.Add(a);
        using (var p = Process.Start(psi)!)
        {
            var stdout = p.StandardOutput.ReadToEnd();
            var stderr = p.StandardError.ReadToEnd();
            p.WaitForExit();
            Assert.True(p.ExitCode == 0, $"hyllama failed: {stderr}");
            output.WriteLine($"hyllama read {path}: {stdout.Length} characters of JSON");
            return JsonDocument.Parse(stdout);
        }
    }

    [HyllamaFact]
    public void Hyllama_reads_the_metadata_and_tensor_infos_of_a_control_vector_written_here()
    {
        using var dir = new TempDir();
        var path = dir["cv.gguf"];
        var rng = new Random(1);
        var directions = new[] { 1, 2, 5 }.ToDictionary(l => l, _ => Enumerable.Range(0, 10).Select(_ => (float)rng.NextDouble()).ToArray());
        ControlVectorFile.Write(path, new ControlVector("llama", 3, directions), "sha256:abc");
        using var doc = ParseWithHyllama(path);

        var metadata = doc.RootElement.GetProperty("metadata");
        Assert.Equal(3, metadata.GetProperty("version").GetInt32());
        Assert.Equal(3, metadata.GetProperty("tensorCount").GetInt32());
        Assert.Equal("controlvector", metadata.GetProperty("general.architecture").GetString());
        Assert.Equal("llama", metadata.GetProperty("controlvector.model_hint").GetString());
        Assert.Equal(3, metadata.GetProperty("controlvector.layer_count").GetInt32());
        Assert.Equal("sha256:abc", metadata.GetProperty("onnxsteer.model_fingerprint").GetString());

        var ours = GgufReader.Read(path);
        var infos = doc.RootElement.GetProperty("tensorInfos").EnumerateArray().ToList();
        Assert.Equal(ours.Tensors.Count, infos.Count);
        for (var i = 0; i < infos.Count; i++)
        {
            Assert.Equal(ours.Tensors[i].Name, infos[i].GetProperty("name").GetString());
            Assert.Equal(1, infos[i].GetProperty("nDims").GetInt32());
            Assert.Equal("10", infos[i].GetProperty("shape")[0].GetString());
            Assert.Equal(0, infos[i].GetProperty("type").GetInt32()); // F32
            Assert.Equal(ours.Tensors[i].Offset.ToString(), infos[i].GetProperty("offset").GetString());
        }
        Assert.Equal(["direction.1", "direction.2", "direction.5"], infos.Select(t => t.GetProperty("name").GetString()));
        Assert.Equal(["0", "64", "128"], infos.Select(t => t.GetProperty("offset").GetString())); // 40 bytes, padded to 32
    }

    [HyllamaFact]
    public void Hyllama_reads_every_metadata_value_type_written_here()
    {
        using var dir = new TempDir();
        var path = dir["all.gguf"];
        GgufWriter.Write(path, [
            new("general.architecture", GgufValue.Of("test")),
            new("t.u8", new(GgufValueType.UInt8, (byte)250)),
            new("t.i8", new(GgufValueType.Int8, (sbyte)-5)),
            new("t.u16", new(GgufValueType.UInt16, (ushort)65000)),
            new("t.i16", new(GgufValueType.Int16, (short)-32000)),
            new("t.u32", GgufValue.Of(4000000000u)),
            new("t.i32", GgufValue.Of(-2000000000)),
            new("t.f32", GgufValue.Of(3.25f)),
            new("t.bool", GgufValue.Of(true)),
            new("t.u64", GgufValue.Of(ulong.MaxValue)),
            new("t.i64", new(GgufValueType.Int64, long.MinValue)),
            new("t.f64", new(GgufValueType.Float64, Math.PI)),
            new("t.strings", new(GgufValueType.Array, new GgufArray(GgufValueType.String, [GgufValue.Of("a"), GgufValue.Of("")]))),
        ], [new GgufF32Tensor("m", [3, 2], new float[6])]);
        using var doc = ParseWithHyllama(path);
        var m = doc.RootElement.GetProperty("metadata");
        Assert.Equal(250, m.GetProperty("t.u8").GetInt32());
        Assert.Equal(-5, m.GetProperty("t.i8").GetInt32());
        Assert.Equal(65000, m.GetProperty("t.u16").GetInt32());
        Assert.Equal(-32000, m.GetProperty("t.i16").GetInt32());
        Assert.Equal(4000000000L, m.GetProperty("t.u32").GetInt64());
        Assert.Equal(-2000000000, m.GetProperty("t.i32").GetInt32());
        Assert.Equal(3.25, m.GetProperty("t.f32").GetDouble());
        Assert.True(m.GetProperty("t.bool").GetBoolean());
        Assert.Equal(ulong.MaxValue.ToString(), m.GetProperty("t.u64").GetString());
        Assert.Equal(long.MinValue.ToString(), m.GetProperty("t.i64").GetString());
        Assert.Equal(Math.PI, m.GetProperty("t.f64").GetDouble());
        Assert.Equal(["a", ""], m.GetProperty("t.strings").EnumerateArray().Select(e => e.GetString()));
        var info = doc.RootElement.GetProperty("tensorInfos")[0];
        Assert.Equal(["3", "2"], info.GetProperty("shape").EnumerateArray().Select(e => e.GetString()));
    }
}
