using System.Globalization;
using System.Text.Json;
using OnnxSteer.Import;
using OnnxSteer.HostFormats;
using OnnxSteer.ModelFiles;
using OnnxSteer.Profiles;
using OnnxSteer.Sites;
using OnnxSteer.Tests.Infrastructure;
using OnnxSteer.Tests.Patching;
using Xunit;
using OnnxSteer.Cli;

namespace OnnxSteer.Tests.HostFormats;

/// <summary>Profile → GGUF → profile round trips, and the CSV / JSON unit tables against the profile they came from.</summary>
public sealed class ProfileExportTests : IDisposable
{
    private readonly TempDir _dir = new();

    public void Dispose() => _dir.Dispose();

    private static (OnnxModel Model, IReadOnlyList<SteeringSite> Sites) Stories(ExportStyle style = ExportStyle.Standard)
    {
        var model = OnnxModel.Load(ImportedModels.Get(style, ExportDType.Fp32));
        return (model, SiteFinder.Find(model).Sites);
    }

    /// <summary>A profiled caa selection (random pairs) with vectors at mlp-out of layers 1, 2 and 4.</summary>
    private static SteeringProfile CaaProfile(OnnxModel model, IReadOnlyList<SteeringSite> sites)
    {
        var recorded = TestProfiles.Make(model, sites, 1, 2.5, SteeringMethod.Caa, pairs: 9, kinds: [SiteKind.MlpOut]);
        return UnitSelector.Select(recorded, 0, 2.5, [SiteKind.MlpOut], false, SteeringMethod.Caa, layers: [1, 2, 4]);
    }

    [SharedFact]
    public void A_profiled_caa_profile_survives_profile_to_gguf_to_profile_exactly()
    {
        var (model, sites) = Stories();
        var profile = CaaProfile(model, sites);
        var gguf = _dir["caa.gguf"];
        var written = ProfileExport.Write(profile, "caa.json", gguf, ExportFormat.Gguf);
        Assert.Equal((3, 64, gguf), (written.Rows, written.Width, written.File));
        Assert.Equal([1, 2, 4], written.Layers);

        var file = GgufReader.Read(gguf);
        Assert.Equal("controlvector", file.GetString("general.architecture"));
        Assert.Equal(3u, file.Get("controlvector.layer_count")!.Value);
        Assert.Equal(profile.ModelFingerprint, file.GetString(ControlVector.FingerprintKey));
        Assert.Equal(["direction.1", "direction.2", "direction.4"], file.Tensors.Select(t => t.Name));

        var back = ControlVectorProfiles.Import(gguf, model, sites, 1.0);
        Assert.Empty(back.Warnings);
        Assert.Equal(profile.ModelFingerprint, back.Profile.ModelFingerprint);
        Assert.Equal(profile.Caa.Select(v => (v.Site, v.Layer)), back.Profile.Caa.Select(v => (v.Site, v.Layer)));
        for (var i = 0; i < profile.Caa.Count; i++)
            Assert.Equal(profile.Caa[i].Vector.Select(BitConverter.SingleToInt32Bits), back.Profile.Caa[i].Vector.Select(BitConverter.SingleToInt32Bits));

        // And once more from the imported profile: GGUF → profile → GGUF gives the same bytes.
        var again = _dir["again.gguf"];
        ProfileExport.Write(back.Profile, "back.json", again, ExportFormat.Gguf);
        Assert.Equal(File.ReadAllBytes(gguf), File.ReadAllBytes(again));
    }

    [SharedFact]
    public void A_saved_imported_profile_loads_with_its_origin_and_exports_the_same_directions()
    {
        var (model, sites) = Stories(ExportStyle.Genai);
        var rng = new Random(2);
        var directions = new Dictionary<int, float[]> { [2] = Enumerable.Range(0, 64).Select(_ => (float)rng.NextDouble()).ToArray() };
        var source = _dir["in.gguf"];
        ControlVectorFile.Write(source, new ControlVector("mistral", 31, directions));
        var imported = ControlVectorProfiles.Import(source, model, sites, 1.0);
        var path = _dir["cv.json"];
        imported.Profile.Save(path);

        var loaded = SteeringProfile.Load(path);
        Assert.Equal("mistral", loaded.ControlVector!.ModelHint);
        Assert.Equal(31, loaded.ControlVector.LayerCount);
        Assert.Equal([2], loaded.ControlVector.Layers);
        Assert.Equal("in.gguf", loaded.ControlVector.File);
        Assert.Equal(0, loaded.Pairs);
        var exported = ControlVectorProfiles.Export(loaded, path);
        Assert.Equal("mistral", exported.ModelHint);
        Assert.Equal(directions[2], exported.Directions[2]);
    }

    [SharedFact]
    public void Unit_profiles_and_caa_vectors_outside_mlp_out_are_not_exported_as_control_vectors()
    {
        var (model, sites) = Stories();
        var units = TestProfiles.Make(model, sites, 4, 3);
        var e = Assert.Throws<InvalidProfileException>(() => ControlVectorProfiles.Export(units, "u.json"));
        Assert.Contains("scales units by 1 + gamma; export it as .csv or .json instead", e.Message);

        var attn = TestProfiles.Make(model, sites, 1, 2, SteeringMethod.Caa, kinds: [SiteKind.Attn]);
        e = Assert.Throws<InvalidProfileException>(() => ControlVectorProfiles.Export(attn, "a.json"));
        Assert.Contains("only mlp-out vectors can be exported", e.Message);
    }

    [SharedFact]
    public void Csv_and_json_rows_equal_the_profile_selection_exactly()
    {
        var (model, sites) = Stories();
        var profile = TestProfiles.Make(model, sites, 6, 3.5, pairs: 11);
        var csvPath = _dir["units.csv"];
        var jsonPath = _dir["units.json"];
        ProfileExport.Write(profile, "p.json", csvPath, ProfileExport.ResolveFormat(csvPath, null));
        ProfileExport.Write(profile, "p.json", jsonPath, ProfileExport.ResolveFormat(jsonPath, null));

        var lines = File.ReadAllLines(csvPath);
        Assert.Equal(UnitTable.CsvHeader, lines[0]);
        Assert.Equal(profile.Units.Count, lines.Length - 1);
        Assert.Equal(18, profile.Units.Count); // 6 per kind, 3 kinds
        using var json = JsonDocument.Parse(File.ReadAllBytes(jsonPath));
        Assert.Equal(UnitTable.SchemaId, json.RootElement.GetProperty("schema").GetString());
        Assert.Equal(3.5, json.RootElement.GetProperty("alpha").GetDouble());
        var jsonUnits = json.RootElement.GetProperty("units").EnumerateArray().ToList();
        for (var i = 0; i < profile.Units.Count; i++)
        {
            var u = profile.Units[i];
            var f = lines[i + 1].Split(',');
            Assert.Equal((i + 1).ToString(CultureInfo.InvariantCulture), f[0]);
            Assert.Equal(u.Site, f[1]);
            Assert.Equal(profile.Site(u.Site)!.Kind.ToName(), f[2]);
            Assert.Equal(u.Layer, int.Parse(f[3], CultureInfo.InvariantCulture));
            Assert.Equal(u.Index, int.Parse(f[4], CultureInfo.InvariantCulture));
            Assert.Equal("scale", f[5]);
            Assert.Equal(u.Score, double.Parse(f[6], CultureInfo.InvariantCulture));
            Assert.Equal(u.RPos, double.Parse(f[7], CultureInfo.InvariantCulture));
            Assert.Equal(u.RNeg, double.Parse(f[8], CultureInfo.InvariantCulture));
            Assert.Equal(u.Gamma, double.Parse(f[9], CultureInfo.InvariantCulture));

            var j = jsonUnits[i];
            Assert.Equal(i + 1, j.GetProperty("rank").GetInt32());
            Assert.Equal(u.Site, j.GetProperty("site").GetString());
            Assert.Equal(u.Index, j.GetProperty("index").GetInt32());
            Assert.Equal(u.RPos, j.GetProperty("rPos").GetDouble());
            Assert.Equal(u.RNeg, j.GetProperty("rNeg").GetDouble());
            Assert.Equal(u.Score, j.GetProperty("score").GetDouble());
            Assert.Equal(u.Gamma, j.GetProperty("value").GetDouble());
        }
    }

    [SharedFact]
    public void Caa_rows_are_every_nonzero_vector_entry_ranked_by_magnitude_with_their_counts()
    {
        var (model, sites) = Stories();
        var profile = CaaProfile(model, sites);
        var rows = UnitTable.Rows(profile);
        var entries = profile.Caa.SelectMany(v => v.Vector.Select((x, i) => (v.Site, i, x))).Where(e => e.x != 0f).ToList();
        Assert.Equal(entries.Count, rows.Count);
        Assert.True(rows.Count > 150);
        for (var r = 1; r < rows.Count; r++) Assert.True(Math.Abs(rows[r - 1].Value) >= Math.Abs(rows[r].Value));
        var stats = profile.Counts.ToDictionary(c => c.Site);
        foreach (var row in rows)
        {
            var vector = profile.Caa.Single(v => v.Site == row.Site).Vector;
            Assert.Equal((double)vector[row.Index], row.Value);
            Assert.Equal("add", row.Operation);
            Assert.Equal((double)stats[row.Site].Positive[row.Index] / profile.Pairs, row.RPos);
        }
        var csv = UnitTable.ToCsv(rows).Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(rows[0].Value, double.Parse(csv[1].Split(',')[9], CultureInfo.InvariantCulture));
    }

    [Fact]
    public void The_format_comes_from_the_extension_or_format_and_an_unknown_one_is_a_usage_error()
    {
        Assert.Equal(ExportFormat.Csv, ProfileExport.ResolveFormat("a/units.CSV", null));
        Assert.Equal(ExportFormat.Gguf, ProfileExport.ResolveFormat("v.gguf", null));
        Assert.Equal(ExportFormat.Json, ProfileExport.ResolveFormat("v.txt", "json"));
        var e = Assert.Throws<InvalidParameterException>(() => ProfileExport.ResolveFormat("v.txt", null));
        Assert.Equal(ExitCodes.Usage, ErrorReporter.ExitCode(e));
        Assert.Contains("name the file .csv, .json or .gguf, or give --format", ErrorReporter.Message(e));
    }

    [SharedFact]
    public void The_cli_imports_a_vector_exports_it_again_and_patches_with_it()
    {
        var model = ImportedModels.Get(ExportStyle.Standard, ExportDType.Fp32);
        var directions = new Dictionary<int, float[]> { [3] = Enumerable.Range(0, 64).Select(i => i / 64f).ToArray() };
        var vector = _dir["cv.gguf"];
        ControlVectorFile.Write(vector, new ControlVector("llama", 1, directions));

        var (code, stdout, stderr) = CliProcess.Run(null, "import-vector", vector, "--model", model, "-o", _dir["cv.json"], "--alpha", "2");
        Assert.True(code == 0, stderr);
        Assert.Contains("imported 1 direction(s) of width 64 for layers 3", stdout);
        (code, stdout, stderr) = CliProcess.Run(null, "export", _dir["cv.json"], "-o", _dir["cv2.gguf"]);
        Assert.True(code == 0, stderr);
        var exported = ControlVectorFile.Read(_dir["cv2.gguf"]).Vector;
        Assert.Equal(directions[3].Select(x => x * 2f), exported.Directions[3]);
        (code, stdout, stderr) = CliProcess.Run(null, "export", _dir["cv.json"], "-o", _dir["rows.csv"]);
        Assert.True(code == 0, stderr);
        Assert.Equal(64, File.ReadAllLines(_dir["rows.csv"]).Length); // entry 0 is 0: 63 rows and the header
        (code, stdout, stderr) = CliProcess.Run(null, "patch", model, vector, "-o", _dir["out"], "--alpha", "2");
        Assert.True(code == 0, stderr);
        Assert.Contains("mlp-out.3", stdout);
        (code, _, stderr) = CliProcess.Run(null, "export", _dir["cv.json"], "-o", _dir["rows.txt"]);
        Assert.Equal(ExitCodes.Usage, code);
        Assert.Contains("--format", stderr);
    }
}
