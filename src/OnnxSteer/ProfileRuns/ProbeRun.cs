using OnnxSteer.ModelFiles;
using OnnxSteer.Pairs;
using OnnxSteer.Profiles;
using OnnxSteer.Recording;
using OnnxSteer.Runtime;
using OnnxSteer.Sites;
using OnnxSteer.Tokenizers;
using static OnnxSteer.ErrorText;

namespace OnnxSteer.ProfileRuns;

/// <summary>
/// The probe pass of <c>profile --probes</c>: runs the probe texts (<see cref="ProbeTextSet"/>) through the model once,
/// keeps one pooled row per text and site (token mean, or last token), and fits the probes. It runs after the counts
/// and needs nothing from them, so a checkpointed or resumed profile fits its probes like an uninterrupted one.
/// </summary>
internal static class ProbeRun
{
    /// <summary>The texts <paramref name="settings"/> asks for: its files, else the pairs' answers.</summary>
    public static ProbeTextSet Texts(ProfileSettings settings, IReadOnlyList<ContrastivePair> pairs) =>
        settings.ProbeData is { } data ? ProbeTextSet.FromFile(data)
        : settings.ProbeNeutral is { } neutral ? ProbeTextSet.FromPairsAndNeutral(pairs, neutral)
        : ProbeTextSet.FromPairs(pairs);

    /// <summary>
    /// Says, before anything is run, how much the probe rows will hold; refuses when that exceeds half the memory
    /// available (the model's session needs the rest).
    /// </summary>
    public static void CheckMemory(OnnxModel model, IReadOnlyList<SteeringSite> sites, ProbeTextSet texts, ProfileSettings settings)
    {
        var bytes = (long)texts.Texts.Count * sites.Sum(s => (long)s.Width) * sizeof(float);
        var available = settings.MemoryAvailable ?? MemoryEstimate.Available();
        settings.Runtime.Notice?.Invoke(
            $"memory: probes keep {texts.Texts.Count} texts × {sites.Sum(s => s.Width)} values (one pooled row per site) ≈ {bytes / 1e6:0.#} MB until the fit");
        if (available is { } a && bytes > a / 2 && !settings.IgnoreMemoryEstimate)
            throw new OnnxSteerException(
                $"{model.DisplayName}: the probe rows need about {bytes / 1e9:0.0} GB, more than half of the {a / 1e9:0.0} GB available; " +
                $"give fewer probe texts ({Param("probeData")}), or {Param("ignoreMemoryEstimate")} to try anyway");
    }

    /// <summary>Records the texts at <paramref name="sites"/> and fits one probe per site.</summary>
    public static ProbeSet Fit(OnnxModel model, IReadOnlyList<SteeringSite> sites, ITokenizer tokenizer, int maxTokens, ProbeTextSet texts,
        ProfileSettings settings, CancellationToken cancel)
    {

        var ids = texts.Texts.Select(t => Fit(tokenizer.EncodeToIds(t.Text, addBos: true), tokenizer.BosTokenId, maxTokens, t.Origin)).ToList();
        var pooling = settings.ProbePooling switch
        {
            ProbePooling.Mean => TapPooling.Mean,
            ProbePooling.LastToken => TapPooling.LastToken,
            _ => texts.AgainstNeutral ? TapPooling.Mean : TapPooling.LastToken,
        };
        var rows = new List<float[][]>(ids.Count);
        using (var recorder = new ActivationRecorder(model, sites, settings.Runtime, pooling))
            foreach (var chunk in ids.Chunk(Math.Max(1, settings.BatchSize)))
            {
                cancel.ThrowIfCancellationRequested();
                rows.AddRange(recorder.Record(chunk));
            }
        var set = ProbeFitter.Fit(sites.Select(ProfileSite.From).ToList(), rows, texts.Texts.Select(t => t.Undesired).ToList(),
            pca: settings.ProbePca);
        set.Activation = pooling == TapPooling.Mean ? ProbeSet.MeanTokenSiteActivation : ProbeSet.LastTokenSiteActivation;
        set.Predicts = texts.AgainstNeutral ? "undesired" : "negative";
        set.Data = texts.Description;
        if (!texts.AgainstNeutral)
        {
            set.TrainPairs = set.TrainTexts!.Value / 2;
            set.HeldOutPairs = set.HeldOutTexts!.Value / 2;
        }
        return set;
    }

    /// <summary>A text's ids cut from the left (after the BOS) to <paramref name="maxTokens"/>: the end, where the behaviour shows, stays.</summary>
    private static IReadOnlyList<int> Fit(IReadOnlyList<int> ids, int? bos, int maxTokens, string origin)
    {
        if (ids.Count == 0) throw new InvalidProfileException($"{origin}: the probe text encodes to no tokens");
        if (ids.Count <= maxTokens) return ids;
        var keepBos = bos is { } b && ids[0] == b ? 1 : 0;
        return ids.Take(keepBos).Concat(ids.Skip(ids.Count - (maxTokens - keepBos))).ToList();
    }
}
