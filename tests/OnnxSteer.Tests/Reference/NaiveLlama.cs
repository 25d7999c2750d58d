using System.Numerics;
using OnnxSteer.Import;

namespace OnnxSteer.Tests.Reference;

/// <summary>
/// A second, deliberately different implementation of the llama2.c forward pass for checking <c>LlamaReference</c>:
/// double precision, all positions at once with an explicit causal loop, RoPE as multiplication of each adjacent pair
/// (x[2i] + i x[2i+1]) by e^(i * pos * theta^(-2i/headSize)), and the KV head of query head h found as
/// floor(h * kvHeads / heads).
/// </summary>
internal static class NaiveLlama
{
    public static double[][] Logits(Llama2cCheckpoint w, IReadOnlyList<int> tokens)
    {
        var c = w.Config;
        int n = tokens.Count, d = c.Dim, hs = c.HeadSize, kvd = c.KvDim, hid = c.HiddenDim;
        var x = tokens.Select(t => Enumerable.Range(0, d).Select(i => (double)w.TokenEmbedding[t * d + i]).ToArray()).ToArray();
        for (int l = 0; l < c.Layers; l++)
        {
            var xb = x.Select(v => Norm(v, w.RmsAttention, l * d, c.NormEpsilon)).ToArray();
            var q = xb.Select((v, p) => Rope(Mat(w.Wq, l * d * d, d, d, v), p, hs, c.RopeTheta)).ToArray();
            var k = xb.Select((v, p) => Rope(Mat(w.Wk, l * kvd * d, kvd, d, v), p, hs, c.RopeTheta)).ToArray();
            var vv = xb.Select(v => Mat(w.Wv, l * kvd * d, kvd, d, v)).ToArray();
            for (int p = 0; p < n; p++)
            {
                var att = new double[d];
                for (int h = 0; h < c.Heads; h++)
                {
                    int g = h * c.KvHeads / c.Heads;
                    var scores = Enumerable.Range(0, p + 1)
                        .Select(t => Enumerable.Range(0, hs).Sum(i => q[p][h * hs + i] * k[t][g * hs + i]) / Math.Sqrt(hs)).ToArray();
                    double max = scores.Max();
                    var e = scores.Select(s => Math.Exp(s - max)).ToArray();
                    double sum = e.Sum();
                    for (int t = 0; t <= p; t++)
                        for (int i = 0; i < hs; i++) att[h * hs + i] += e[t] / sum * vv[t][g * hs + i];
                }
                var o = Mat(w.Wo, l * d * d, d, d, att);
                for (int i = 0; i < d; i++) x[p][i] += o[i];
            }
            for (int p = 0; p < n; p++)
            {
                var h = Norm(x[p], w.RmsFeedForward, l * d, c.NormEpsilon);
                var gate = Mat(w.W1, l * hid * d, hid, d, h);
                var up = Mat(w.W3, l * hid * d, hid, d, h);
                var act = gate.Select((g, i) => g / (1 + Math.Exp(-g)) * up[i]).ToArray();
                var down = Mat(w.W2, l * d * hid, d, hid, act);
                for (int i = 0; i < d; i++) x[p][i] += down[i];
            }
        }
        return x.Select(v => Mat(w.Classifier, 0, c.VocabSize, d, Norm(v, w.RmsFinal, 0, c.NormEpsilon))).ToArray();
    }

    private static double[] Norm(double[] v, float[] weight, int offset, float eps)
    {
        double rms = Math.Sqrt(v.Sum(a => a * a) / v.Length + eps);
        return v.Select((a, i) => weight[offset + i] * a / rms).ToArray();
    }

    /// <summary>W v for W stored [rows][cols] at offset.</summary>
    private static double[] Mat(float[] w, long offset, int rows, int cols, double[] v)
    {
        var result = new double[rows];
        for (int r = 0; r < rows; r++)
        {
            double sum = 0;
            for (int j = 0; j < cols; j++) sum += w[offset + (long)r * cols + j] * v[j];
            result[r] = sum;
        }
        return result;
    }

    private static double[] Rope(double[] v, int pos, int hs, float theta)
    {
        var result = new double[v.Length];
        for (int i = 0; i < v.Length; i += 2)
        {
            int pair = (i % hs) / 2;
            var rotated = new Complex(v[i], v[i + 1]) * Complex.FromPolarCoordinates(1, pos * Math.Pow(theta, -2.0 * pair / hs));
            result[i] = rotated.Real;
            result[i + 1] = rotated.Imaginary;
        }
        return result;
    }
}
