using OnnxSteer.ModelFiles;
using OnnxSteer.Tests.Infrastructure;
using OnnxSteer.Tests.Patching;
using Xunit;

namespace OnnxSteer.Tests.Conformance;

/// <summary>
/// The genai builder's k_quant_mixed export keeps some down projections in 8 bits: a fold of such a site must land in
/// that 8-bit MatMulNBits node's block scales (each output row's scales times its factor, the packed weights and zero
/// points untouched), and a 4-bit site's fold in its 4-bit node — not in a node of the other width, and not as a Mul.
/// </summary>
public class KQuantFoldTests
{
    [SharedFact]
    public void A_fold_lands_in_the_8_bit_MatMulNBits_node_where_the_sites_weight_is_8_bit()
    {
        var structure = ExportStructures.Get("genai-k-quant-mixed");
        using var tmp = new TempDir();
        var original = OnnxModel.Load(structure.ModelFile);
        // Every mlp-out unit of the 8 layers (hidden 32), so each layer's down projection is folded.
        var profile = TestProfiles.Make(original, OnnxSteer.Sites.SiteFinder.Find(original).Sites, k: 8 * 32, alpha: 2, kinds: [OnnxSteer.Sites.SiteKind.MlpOut]);
        var outcome = Steerer.Patch(structure.ModelFile, TestProfiles.Save(profile, tmp.Path), tmp["fold"], new PatchSettings { Fold = true });
        var steered = OnnxModel.Load(outcome.Written.ModelFile);
        // Layers 0, 3, 6 and 7 of 8 keep down_proj in 8 bits, the others in 4.
        foreach (var (layer, bits) in new[] { (0, 8L), (1, 4L), (3, 8L), (7, 8L) })
        {
            var edit = outcome.Patch.Step.Edits.Single(e => e.Site == $"mlp-out.{layer}");
            Assert.Equal(OnnxSteer.Patching.EditKind.Fold, edit.Kind);
            var node = steered.Graph.Node.Single(n => n.Name == edit.Projection);
            Assert.Equal("MatMulNBits", node.OpType);
            Assert.Equal($"/model/layers.{layer}/mlp/down_proj/MatMul_Q{bits}", node.Name);
            Assert.Equal(bits, node.Attribute.Single(a => a.Name == "bits").I);
            var n = (int)node.Attribute.Single(a => a.Name == "N").I;

            float[] Floats(OnnxModel m, string name) => TensorData.ReadFloats(m.Graph.Initializer.Single(t => t.Name == name), m);
            byte[] Bytes(OnnxModel m, string name) => TensorData.ReadBytes(m.Graph.Initializer.Single(t => t.Name == name), m);
            var before = Floats(original, node.Input[2]);
            var after = Floats(steered, node.Input[2]);
            var vector = outcome.Plan.Sites.Single(s => s.Site.Id == $"mlp-out.{layer}").Vector;
            var blocks = before.Length / n;
            for (var row = 0; row < n; row++)
                for (var b = 0; b < blocks; b++)
                    Assert.Equal(before[row * blocks + b] * vector[row], after[row * blocks + b], 6);
            Assert.Contains(vector, v => v != 1f);
            Assert.Equal(Bytes(original, node.Input[1]), Bytes(steered, node.Input[1]));
            Assert.Equal(Bytes(original, node.Input[3]), Bytes(steered, node.Input[3]));
        }
    }
}
