using OnnxSteer.Cli;
using OnnxSteer.Evaluation;
using OnnxSteer.Generation;
using OnnxSteer.Import;
using OnnxSteer.Pairs;
using OnnxSteer.Patching;
using OnnxSteer.Profiles;
using OnnxSteer.ProfileRuns;
using OnnxSteer.Recording;
using OnnxSteer.Sites;
using OnnxSteer.Tests.Infrastructure;
using OnnxSteer.Tokenizers;
using Xunit;

namespace OnnxSteer.Tests.Evaluation;

/// <summary>The held-out direction check of <c>profile --check-pairs</c> on stories260K (issue 17).</summary>
public class DirectionCheckTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("onnxsteer-dircheck-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private static string Data(string file) => Path.Combine(AppContext.BaseDirectory, "..", "..", "..", "..", "..", "bench", "selection", file);

    [SharedFact]
    public void Check_equals_scoring_a_separately_patched_model_and_alpha_zero_moves_nothing()
    {
        var model = ImportedModels.Get(ExportStyle.Genai, ExportDType.Fp32);
        var train = PairsJsonl.Read(Data("dog-cat.train.jsonl"), new PairOptions(Limit: 8));
        var held = PairsJsonl.Read(Data("dog-cat.heldout.jsonl"), new PairOptions(Limit: 6)).Pairs;
        var profile = ProfileRunner.Run(new ProfileRequest { ModelPath = model, Pairs = train, Settings = new ProfileSettings { Sites = [SiteKind.MlpOut], K = 4, Alpha = 3 } });

        var result = Steerer.CheckDirection(model, profile, held);

        // Independently: patch through the ordinary patch flow into a folder of our own and score both models here.
        var path = Path.Combine(_dir, "p.json");
        profile.Save(path);
        Steerer.Patch(model, path, Path.Combine(_dir, "steered"), null);
        var tok = TokenizerLoader.Load(model);
        double Margin(string dir)
        {
            using var m = DecoderModel.Open(dir);
            return held.Average(p => ChoiceScorer.Score(m, tok, p.Prompt, p.Positive).LogLikelihood - ChoiceScorer.Score(m, tok, p.Prompt, p.Negative).LogLikelihood);
        }
        Assert.Equal(Margin(model), result.VanillaMargin, 12);
        Assert.Equal(Margin(Path.Combine(_dir, "steered")), result.SteeredMargin, 12);
        Assert.NotEqual(0, result.Shift);
        Assert.Equal(6, result.Pairs);
        Assert.Contains("direction check on 6 held-out pairs", result.Describe().ToString());

        // alpha 0: every factor is 1 + 0, so the margin cannot move and the line says it did not go the right way.
        var still = DirectionCheck.Run(model, UnitSelector.Select(profile, 4, 0, [SiteKind.MlpOut], false, SteeringMethod.AuSteer), held);
        Assert.Equal(0, still.Shift);
        Assert.Equal(0, still.MovedUp);
        Assert.EndsWith("; WRONG WAY: try direction sign-aware, tieBreak effect, more pairs, or a smaller alpha", still.Describe().ToString());
        Assert.EndsWith("; WRONG WAY: try --direction sign-aware, --tie-break effect, more pairs, or a smaller --alpha", ErrorReporter.Render(still.Describe()));
        Assert.DoesNotContain(Directory.GetDirectories(Path.GetTempPath(), "onnxsteer-check-*"), d => Directory.GetLastWriteTimeUtc(d) > DateTime.UtcNow.AddMinutes(-1));
    }
}
