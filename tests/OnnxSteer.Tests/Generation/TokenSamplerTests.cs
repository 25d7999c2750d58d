using OnnxSteer.Generation;
using Xunit;

namespace OnnxSteer.Tests.Generation;

public class TokenSamplerTests
{
    private static readonly float[] Logits = [1.0f, 3.0f, 2.0f, -1.0f, 3.0f, 0.5f];

    [Fact]
    public void ArgMax_TakesTheFirstLargestAndSkipsNaN()
    {
        Assert.Equal(1, TokenSampler.ArgMax(Logits));
        Assert.Equal(2, TokenSampler.ArgMax([float.NaN, 0f, 5f, float.NaN]));
        Assert.Equal(0, new TokenSampler().Next(new float[] { 7f, 1f }));
    }

    [Fact]
    public void Distribution_IsSoftmaxOverTemperature()
    {
        // Independent computation: softmax(l / T) written out directly.
        const float t = 0.7f;
        var exps = Logits.Select(l => Math.Exp(l / (double)t)).ToArray();
        var expected = exps.Select(e => e / exps.Sum()).ToArray();
        var (ids, probs) = TokenSampler.Distribution(Logits, t, 0, 1f);
        Assert.Equal(new[] { 1, 4, 2, 0, 5, 3 }, ids); // by decreasing logit, ties by index
        for (var i = 0; i < ids.Length; i++) Assert.Equal(expected[ids[i]], probs[i], 12);
    }

    [Fact]
    public void TopK_KeepsTheKMostLikelyRenormalised()
    {
        var (ids, probs) = TokenSampler.Distribution(Logits, 1f, 3, 1f);
        Assert.Equal(new[] { 1, 4, 2 }, ids);
        var z = 2 * Math.Exp(3) + Math.Exp(2);
        Assert.Equal(Math.Exp(3) / z, probs[0], 12);
        Assert.Equal(Math.Exp(2) / z, probs[2], 12);
    }

    [Fact]
    public void TopP_KeepsTheSmallestPrefixReachingP()
    {
        var exps = Logits.Select(l => Math.Exp(l)).ToArray();
        var p = exps.Select(e => e / exps.Sum()).ToArray(); // p[1] = p[4] ≈ 0.3837, p[2] ≈ 0.1412
        var (ids, probs) = TokenSampler.Distribution(Logits, 1f, 0, 0.8f);
        Assert.Equal(new[] { 1, 4, 2 }, ids); // 0.767 < 0.8 after two tokens, 0.909 >= 0.8 after three
        var mass = p[1] + p[4] + p[2];
        Assert.Equal(p[2] / mass, probs[2], 12);
        Assert.Single(TokenSampler.Distribution(Logits, 1f, 0, 0.01f).Ids); // always at least one token
    }

    [Fact]
    public void Sampling_FollowsTheDistribution()
    {
        // 40000 draws: each frequency within 0.01 of its probability (about 4 standard deviations at p = 0.38).
        var sampler = new TokenSampler(temperature: 1.2f, topK: 4, topP: 1f, seed: 123);
        var (ids, probs) = TokenSampler.Distribution(Logits, 1.2f, 4, 1f);
        var counts = new Dictionary<int, int>();
        const int draws = 40000;
        for (var i = 0; i < draws; i++)
        {
            var id = sampler.Next(Logits);
            counts[id] = counts.GetValueOrDefault(id) + 1;
        }
        Assert.All(counts.Keys, id => Assert.Contains(id, ids)); // nothing outside the top 4
        for (var i = 0; i < ids.Length; i++)
        {
            var freq = counts.GetValueOrDefault(ids[i]) / (double)draws;
            Assert.True(Math.Abs(freq - probs[i]) < 0.01, $"token {ids[i]}: frequency {freq:F4} vs probability {probs[i]:F4} (tolerance 0.01)");
        }
    }

    [Fact]
    public void SameSeed_SameDraws()
    {
        var a = new TokenSampler(1f, 0, 1f, 9);
        var b = new TokenSampler(1f, 0, 1f, 9);
        Assert.Equal(Enumerable.Range(0, 50).Select(_ => a.Next(Logits)), Enumerable.Range(0, 50).Select(_ => b.Next(Logits)));
    }

    [Fact]
    public void Settings_RejectOutOfRangeValues()
    {
        Assert.Throws<InvalidParameterException>(() => new SamplingSettings { TopP = 0 }.Validate());
        Assert.Throws<InvalidParameterException>(() => new SamplingSettings { TopP = 1.5f }.Validate());
        Assert.Throws<InvalidParameterException>(() => new SamplingSettings { Temperature = -1 }.Validate());
        Assert.Throws<InvalidParameterException>(() => new SamplingSettings { Temperature = float.PositiveInfinity }.Validate());
        Assert.Throws<InvalidParameterException>(() => new SamplingSettings { Temperature = float.NaN }.Validate());
        Assert.Throws<InvalidParameterException>(() => new SamplingSettings { TopK = -2 }.Validate());
        Assert.Throws<InvalidParameterException>(() => new SamplingSettings { MaxTokens = -1 }.Validate());
    }
}
