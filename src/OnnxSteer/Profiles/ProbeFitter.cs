namespace OnnxSteer.Profiles;

/// <summary>
/// Fits the DSAS probes: per site, L2-regularised logistic regression separating the negative answer's activation
/// (label 1) from the positive one's (label 0). Features are standardized on the training sequences (so one penalty
/// suits every site, whatever its scale) and the standardization is folded back into w and b, so the graph computes
/// sigmoid(w·h + b) on the raw activation. The fit is deterministic (accelerated gradient descent from zero, a fixed
/// step from the data's largest curvature), in double precision.
/// </summary>
internal static class ProbeFitter
{
    /// <summary>Default penalty (on standardized features); docs/dynamic.md compares others on stories260K.</summary>
    public const double DefaultL2 = 0.01;

    /// <summary>Default: every 5th pair (20%) is held out for the accuracy.</summary>
    public const int DefaultHeldOutEvery = 5;

    /// <summary>
    /// Fits one probe per site. <paramref name="positive"/>[j][s] and <paramref name="negative"/>[j][s] are pair j's
    /// last-token activations at <paramref name="sites"/>[s].
    /// </summary>
    /// <exception cref="InvalidProfileException">Fewer pairs than one held-out and one training pair need.</exception>
    public static ProbeSet Fit(IReadOnlyList<ProfileSite> sites, IReadOnlyList<float[][]> positive, IReadOnlyList<float[][]> negative,
        double l2 = DefaultL2, int heldOutEvery = DefaultHeldOutEvery)
    {
        if (positive.Count != negative.Count) throw new ArgumentException("positive and negative rows differ in count");
        if (heldOutEvery < 2) throw new ArgumentOutOfRangeException(nameof(heldOutEvery), "must be at least 2");
        var held = Enumerable.Range(0, positive.Count).Where(j => IsHeldOut(j, heldOutEvery)).ToList();
        var train = Enumerable.Range(0, positive.Count).Where(j => !IsHeldOut(j, heldOutEvery)).ToList();
        if (held.Count == 0 || train.Count == 0)
            throw new InvalidProfileException($"probes need at least {heldOutEvery} pairs (every {heldOutEvery}th is held out to measure accuracy); this run has {positive.Count}");

        var set = new ProbeSet { L2 = l2, HeldOutEvery = heldOutEvery, TrainPairs = train.Count, HeldOutPairs = held.Count };
        for (var s = 0; s < sites.Count; s++)
        {
            var (x, y) = Rows(train, positive, negative, s);
            var (w, b) = FitOne(x, y, l2);
            var (hx, hy) = Rows(held, positive, negative, s);
            set.Sites.Add(new LayerProbe
            {
                Site = sites[s].Id, Layer = sites[s].Layer, Weights = w.Select(v => (float)v).ToArray(), Bias = b,
                TrainAccuracy = Accuracy(w, b, x, y), HeldOutAccuracy = Accuracy(w, b, hx, hy),
            });
        }
        return set;
    }

    /// <summary>True when pair <paramref name="j"/> is held out from the fit.</summary>
    public static bool IsHeldOut(int j, int every) => j % every == every - 1;

    private static (float[][] X, int[] Y) Rows(List<int> pairs, IReadOnlyList<float[][]> positive, IReadOnlyList<float[][]> negative, int site)
    {
        var x = new float[pairs.Count * 2][];
        var y = new int[pairs.Count * 2];
        for (var i = 0; i < pairs.Count; i++)
        {
            x[2 * i] = positive[pairs[i]][site];
            x[2 * i + 1] = negative[pairs[i]][site];
            y[2 * i + 1] = 1;
        }
        return (x, y);
    }

    /// <summary>Fraction of rows where sigmoid(w·x + b) &gt; 0.5 matches the label.</summary>
    public static double Accuracy(double[] w, double b, float[][] x, int[] y)
    {
        var right = 0;
        for (var i = 0; i < x.Length; i++)
            if ((Dot(w, x[i]) + b > 0) == (y[i] == 1)) right++;
        return x.Length == 0 ? 0 : (double)right / x.Length;
    }

    /// <summary>
    /// Minimises mean log-loss + l2/2·|w|² over standardized features; returns (w, b) in raw coordinates.
    /// </summary>
    internal static (double[] W, double B) FitOne(float[][] x, int[] y, double l2)
    {
        int n = x.Length, d = x[0].Length;
        var mean = new double[d];
        var scale = new double[d];
        foreach (var row in x) for (var i = 0; i < d; i++) mean[i] += row[i];
        for (var i = 0; i < d; i++) mean[i] /= n;
        foreach (var row in x) for (var i = 0; i < d; i++) scale[i] += (row[i] - mean[i]) * (row[i] - mean[i]);
        // A constant unit carries no information; its weight stays 0 (inverse scale 0).
        for (var i = 0; i < d; i++) { var sd = Math.Sqrt(scale[i] / n); scale[i] = sd > 1e-12 ? 1 / sd : 0; }
        var z = x.Select(row => Enumerable.Range(0, d).Select(i => (row[i] - mean[i]) * scale[i]).ToArray()).ToArray();

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
        var raw = new double[d];
        var bias = w[d];
        for (var i = 0; i < d; i++)
        {
            raw[i] = w[i] * scale[i];
            bias -= raw[i] * mean[i];
        }
        return (raw, bias);
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

    private static double Dot(double[] w, float[] x)
    {
        var s = 0.0;
        for (var i = 0; i < w.Length; i++) s += w[i] * x[i];
        return s;
    }
}
