using Google.Protobuf;
using OnnxSteer.ModelFiles;
using OnnxSteer.Pairs;
using OnnxSteer.Patching;
using OnnxSteer.Sites;
using OnnxSteer.Tests.Infrastructure;
using Xunit;

namespace OnnxSteer.Tests.Docs;

/// <summary>The front door patches a profile held in memory exactly as it patches the same profile saved to a file.</summary>
public sealed class SteererTests
{
    [SharedFact]
    public void Patching_a_profile_in_memory_writes_the_model_a_saved_copy_gives_and_records_its_sha256()
    {
        var model = ImportedModels.Get("genai", "fp32");
        var dir = Directory.CreateTempSubdirectory("onnxsteer-steerer-").FullName;
        try
        {
            var profile = Steerer.Profile(model, [new ContrastivePair("Tom got a new red bike. Tom was so", " happy", " sad")],
                new ProfileSettings { K = 4, Alpha = 2, Sites = [SiteKind.Mlp] });
            var saved = Path.Combine(dir, "profile.json");
            Steerer.Save(profile, saved);

            Steerer.Patch(model, profile, Path.Combine(dir, "from-memory"));
            Steerer.Patch(model, saved, Path.Combine(dir, "from-file"));

            var a = OnnxModel.Load(Path.Combine(dir, "from-memory", "model.onnx"));
            var b = OnnxModel.Load(Path.Combine(dir, "from-file", "model.onnx"));
            Assert.Equal(b.Proto.ToByteArray(), a.Proto.ToByteArray());
            var step = Assert.Single(SteeringMetadata.Read(a.Proto, "from-memory"));
            Assert.Equal(ProfilePlanner.Sha256OfFile(saved), step.ProfileSha256);
        }
        finally { Directory.Delete(dir, recursive: true); }
    }
}
