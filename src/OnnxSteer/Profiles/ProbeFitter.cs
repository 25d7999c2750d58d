namespace OnnxSteer.Profiles;

/// <summary>
/// Fits the DSAS probes: per site, L2-regularised logistic regression separating the undesired texts' activations
/// (label 1) from the others' (label 0). Features are standardized on the training texts (so one penalty suits every
/// site, whatever its scale), optionally projected on their leading principal components, and both are folded back
/// into w and b, so the graph computes sigmoid(w·h + b) on the raw activation with one MatMul. The fit is
/// deterministic (accelerated gradient descent from zero, a fixed step from the data's largest curvature; PCA by block
/// power iteration from a fixed start), in double precision.
/// </summary>
internal static class ProbeFitter
{
    /// <summary>Default penalty (on standardized features); docs/dynamic.md compares others on stories260K.</summary>
    public const double DefaultL2 = 0.01;

    /// <summary>Default: every 5th text of each class (20%) is held out for the accuracy.</summary>
    public const int DefaultHeldOutEvery = 5;

    /// <summary>
    /// Fits one probe per site on pairs: <paramref name="positive"/>[j][s] and <paramref name="negative"/>[j][s] are
    /// pair j's activations at <paramref name="sites"/>[s]; the negative side is class 1, and pair j is held out with
    /// both its texts.
    /// </summary>
    /// <exception cref="InvalidProfileException">Fewer pairs than one held-out and one training pair need.</exception>
    public static ProbeSet Fit(IReadOnlyList<ProfileSite> sites, IReadOnlyList<float[][]> positive, IReadOnlyList<float[][]> negative,
        double l2 = DefaultL2, int heldOutEvery = DefaultHeldOutEvery, int? pca = null)
    {
        if (positive.Count != negative.Count) throw new ArgumentException("positive and negative rows differ in count");
        if (positive.Count < heldOutEvery)
            throw new InvalidProfileException($"probes need at least {heldOutEvery} pairs (every {heldOutEvery}th is held out to measure accuracy); this run has {positive.Count}");
        var rows = positive.Zip(negative).SelectMany(p => new[] { p.First, p.Second }).ToList();
        var labels = positive.SelectMany(_ => new[] { false, true }).ToList();
        var set = Fit(sites, rows, labels, l2, heldOutEvery, pca);
        set.TrainPairs = set.TrainTexts!.Value / 2;
        set.HeldOutPairs = set.HeldOutTexts!.Value / 2;
        return set;
    }

    /// <summary>
    /// Fits one probe per site on labelled texts: <paramref name="rows"/>[t][s] is text t's activation at
    /// <paramref name="sites"/>[s], <paramref name="undesired"/>[t] its class. Text j of each class is held out when
    /// <see cref="IsHeldOut"/>; <paramref name="pca"/> fits on that many principal components of the standardized
    /// training features (capped by the site's width and the training texts).
    /// </summary>
    /// <exception cref="InvalidProfileException">A class with too few texts for one held-out and one training text.</exception>
    public static ProbeSet Fit(IReadOnlyList<ProfileSite> sites, IReadOnlyList<float[][]> rows, IReadOnlyList<bool> undesired,
        double l2 = DefaultL2, int heldOutEvery = DefaultHeldOutEvery, int? pca = null)
    {
        if (rows.Count != undesired.Count) throw new ArgumentException("rows and labels differ in count");
        if (heldOutEvery < 2) throw new ArgumentOutOfRangeException(nameof(heldOutEvery), "must be at least 2");
        if (pca is < 1) throw new InvalidParameterException("probePca", $"{ErrorText.Param("probePca")} {pca}: must be at least 1");
        var held = new List<int>();
        var train = new List<int>();
        int[] seen = [0, 0];
        for (var t = 0; t < rows.Count; t++)
            (IsHeldOut(seen[undesired[t] ? 1 : 0]++, heldOutEvery) ? held : train).Add(t);
        if (seen.Min() < heldOutEvery)
            throw new InvalidProfileException(
                $"probes need at least {heldOutEvery} texts of each class (every {heldOutEvery}th is held out to measure accuracy); this run has {seen[1]} undesired and {seen[0]} other");

        var probes = new List<LayerProbe>();
        var y = train.Select(t => undesired[t] ? 1 : 0).ToArray();
        var hy = held.Select(t => undesired[t] ? 1 : 0).ToArray();
        for (var s = 0; s < sites.Count; s++)
        {
            var x = train.Select(t => rows[t][s]).ToArray();
            var hx = held.Select(t => rows[t][s]).ToArray();
            var (w, b) = FitOne(x, y, l2, pca);
            probes.Add(new LayerProbe
            {
                Site = sites[s].Id, Layer = sites[s].Layer, Weights = w.Select(v => (float)v).ToArray(), Bias = b,
                TrainAccuracy = Accuracy(w, b, x, y), HeldOutAccuracy = Accuracy(w, b, hx, hy),
            });
        }
        return new ProbeSet { L2 = l2, Pca = pca, HeldOutEvery = heldOutEvery, TrainTexts = train.Count, HeldOutTexts = held.Count, Sites = probes };
    }

    /// <summary>True when the <paramref name="j"/>th text of its class (or pair j) is held out from the fit.</summary>
    public static bool IsHeldOut(int j, int every) => j % every == every - 1;

    /// <summary>Fraction of rows where sigmoid(w·x + b) &gt; 0.5 matches the label.</summary>
    public static double Accuracy(double[] w, double b, float[][] x, int[] y)
    {
        var right = 0;
        for (var i = 0; i < x.Length; i++)
            if ((Dot(w, x[i]) + b > 0) == (y[i] == 1)) right++;
        return x.Length == 0 ? 0 : (double)right / x.Length;
    }

    /// <summary>
    /// Minimises mean log-loss + l2/2·|w|² over standardized features (or over the standardized scores of their first
    /// <paramref name="pca"/> principal components); returns (w, b) in raw coordinates.
    /// </summary>
    internal static (double[] W, double B) FitOne(float[][] x, int[] y, double l2, int? pca = null)
    {
        var (z, mean, scale) = Standardize(x.Select(r => r.Select(v => (double)v).ToArray()).ToArray());
        double[] wz;
        double bias;
        if (pca is { } wanted)
        {
            // Scores on the leading components, standardized again so the penalty means what it means without PCA;
            // the fit's weights then map back through both: wz = P·(u / sd).
            var components = PrincipalComponents(z, Math.Min(wanted, Math.Min(z[0].Length, z.Length)));
            var scores = z.Select(r => components.Select(c => Dot(c, r)).ToArray()).ToArray();
            var (zs, _, inverseSd) = Standardize(scores);
            var (u, c) = Logistic(zs, y, l2);
            wz = new double[z[0].Length];
            for (var k = 0; k < components.Length; k++)
                for (var i = 0; i < wz.Length; i++) wz[i] += components[k][i] * u[k] * inverseSd[k];
            bias = c; // the scores of centred features have mean 0: no shift to fold
        }
        else
        {
            (wz, bias) = Logistic(z, y, l2);
        }
        var raw = new double[wz.Length];
        for (var i = 0; i < raw.Length; i++)
        {
            raw[i] = wz[i] * scale[i];
            bias -= raw[i] * mean[i];
        }
        return (raw, bias);
    }

    /// <summary>Centres and scales each column to unit variance; returns the result, the means and the inverse scales (0 for a constant column).</summary>
    private static (double[][] Z, double[] Mean, double[] InverseScale) Standardize(double[][] x)
    {
        int n = x.Length, d = x[0].Length;
        var mean = new double[d];
        var scale = new double[d];
        foreach (var row in x) for (var i = 0; i < d; i++) mean[i] += row[i];
        for (var i = 0; i < d; i++) mean[i] /= n;
        foreach (var row in x) for (var i = 0; i < d; i++) scale[i] += (row[i] - mean[i]) * (row[i] - mean[i]);
        // A constant unit carries no information; its weight stays 0 (inverse scale 0).
        for (var i = 0; i < d; i++) { var sd = Math.Sqrt(scale[i] / n); scale[i] = sd > 1e-12 ? 1 / sd : 0; }
        return (x.Select(row => Enumerable.Range(0, d).Select(i => (row[i] - mean[i]) * scale[i]).ToArray()).ToArray(), mean, scale);
    }

    /// <summary>L2-regularised logistic regression on <paramref name="z"/> (bias not penalised): (w, b).</summary>
    private static (double[] W, double B) Logistic(double[][] z, int[] y, double l2)
    {
        var d = z[0].Length;
        // Step 1/L with L ≥ the loss's curvature: 0.25·λmax([Z 1]ᵀ[Z 1]/n) + l2 (power iteration, with a margin).
        var step = 1 / (1.1 * 0.25 * LargestEigenvalue(z) + l2);
        var w = new double[d + 1]; // the last entry is the bias
        var look = (double[])w.Clone();
        var grad = new double[d + 1];
        for (var iteration = 1; iteration <= 3000; iteration++)
        {
            Gradient(z, y, look, l2, grad);
            var norm = Math.Sqrt(grad.Sum(g => g * g));
            var next = new double[d + 1];
            for (var i = 0; i <= d; i++) next[i] = look[i] - step * grad[i];
            var momentum = (iteration - 1.0) / (iteration + 2.0);
            for (var i = 0; i <= d; i++) look[i] = next[i] + momentum * (next[i] - w[i]);
            w = next;
            if (norm < 1e-7) break;
        }
        return (w[..d], w[d]);
    }

    /// <summary>
    /// The first <paramref name="count"/> principal directions of the centred rows <paramref name="z"/> (orthonormal,
    /// largest variance first): block power iteration on ZᵀZ, applied as Zᵀ(Z·V) so no width×width matrix is formed.
    /// </summary>
    internal static double[][] PrincipalComponents(double[][] z, int count)
    {
        var d = z[0].Length;
        var start = new Random(17);
        var v = Enumerable.Range(0, count).Select(_ => Enumerable.Range(0, d).Select(_ => start.NextDouble() - 0.5).ToArray()).ToArray();
        Orthonormalize(v);
        for (var iteration = 0; iteration < 300; iteration++)
        {
            var next = v.Select(_ => new double[d]).ToArray();
            foreach (var row in z)
                for (var k = 0; k < count; k++)
                {
                    var t = Dot(v[k], row);
                    for (var i = 0; i < d; i++) next[k][i] += t * row[i];
                }
            Orthonormalize(next);
            var change = v.Zip(next).Max(p => 1 - Math.Abs(Dot(p.First, p.Second)));
            v = next;
            if (change < 1e-12) break;
        }
        // Order by variance (the iteration converges to the subspace; Gram-Schmidt keeps the leading one first).
        return v.OrderByDescending(c => z.Sum(r => Math.Pow(Dot(c, r), 2))).ToArray();
    }

    private static void Orthonormalize(double[][] v)
    {
        var d = v[0].Length;
        var spare = 0;
        for (var k = 0; k < v.Length; k++)
        {
            while (true)
            {
                for (var j = 0; j < k; j++)
                {
                    var t = Dot(v[j], v[k]);
                    for (var i = 0; i < d; i++) v[k][i] -= t * v[j][i];
                }
                var norm = Math.Sqrt(Dot(v[k], v[k]));
                if (norm > 1e-12) { for (var i = 0; i < d; i++) v[k][i] /= norm; break; }
                // No variance left in this direction (rank below count): a unit vector orthogonal to the others will do.
                Array.Clear(v[k]);
                v[k][spare++ % d] = 1;
            }
        }
    }

    /// <summary>Gradient of mean log-loss + l2/2·|w|² (the bias, last entry, is not penalised) at <paramref name="w"/>.</summary>
    internal static void Gradient(double[][] z, int[] y, double[] w, double l2, double[] grad)
    {
        int n = z.Length, d = w.Length - 1;
        Array.Clear(grad);
        for (var r = 0; r < n; r++)
        {
            var t = w[d];
            for (var i = 0; i < d; i++) t += w[i] * z[r][i];
            var error = Sigmoid(t) - y[r];
            for (var i = 0; i < d; i++) grad[i] += error * z[r][i];
            grad[d] += error;
        }
        for (var i = 0; i <= d; i++) grad[i] /= n;
        for (var i = 0; i < d; i++) grad[i] += l2 * w[i];
    }

    private static double LargestEigenvalue(double[][] z)
    {
        int n = z.Length, d = z[0].Length;
        var v = Enumerable.Repeat(1.0 / Math.Sqrt(d + 1), d + 1).ToArray();
        var lambda = 0.0;
        for (var it = 0; it < 50; it++)
        {
            var next = new double[d + 1];
            foreach (var row in z)
            {
                var t = v[d];
                for (var i = 0; i < d; i++) t += row[i] * v[i];
                for (var i = 0; i < d; i++) next[i] += t * row[i];
                next[d] += t;
            }
            var norm = Math.Sqrt(next.Sum(x => x * x)) / n;
            if (norm == 0) return 1;
            lambda = norm;
            for (var i = 0; i <= d; i++) v[i] = next[i] / (norm * n);
        }
        return lambda;
    }

    /// <summary>1 / (1 + e^−t), without overflow for large |t|.</summary>
    public static double Sigmoid(double t) => t >= 0 ? 1 / (1 + Math.Exp(-t)) : Math.Exp(t) / (1 + Math.Exp(t));

    private static double Dot(double[] a, double[] b)
    {
        var s = 0.0;
        for (var i = 0; i < a.Length; i++) s += a[i] * b[i];
        return s;
    }

    private static double Dot(double[] w, float[] x)
    {
        var s = 0.0;
        for (var i = 0; i < w.Length; i++) s += w[i] * x[i];
        return s;
    }
}
