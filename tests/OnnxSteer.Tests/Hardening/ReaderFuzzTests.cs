using Xunit;
using Xunit.Abstractions;

namespace OnnxSteer.Tests.Hardening;

/// <summary>
/// Mutation fuzzing of the model loader + site finder, the profile reader and the tokenizer readers (see
/// <see cref="ReaderFuzzer"/>). <c>make test</c> runs a short seeded budget; <c>make fuzz</c> sets
/// ONNXSTEER_FUZZ_ITERATIONS (and optionally ONNXSTEER_FUZZ_SEED, ONNXSTEER_FUZZ_OUT to keep failing inputs).
/// </summary>
public sealed class ReaderFuzzTests(ITestOutputHelper output)
{
    private const int DefaultIterations = 300;

    [Fact]
    public void Mutated_inputs_are_rejected_with_the_tools_own_errors_quickly_and_without_huge_allocations()
    {
        var iterations = EnvInt("ONNXSTEER_FUZZ_ITERATIONS", DefaultIterations);
        var baseSeed = EnvInt("ONNXSTEER_FUZZ_SEED", 20261122);
        var failureDir = Environment.GetEnvironmentVariable("ONNXSTEER_FUZZ_OUT");
        var work = Directory.CreateDirectory(Path.Combine(Path.GetTempPath(), "onnxsteer-fuzz-" + Guid.NewGuid().ToString("N"))).FullName;
        try
        {
            var targets = FuzzTargets.All(work);
            var summary = new ReaderFuzzer(targets, work, failureDir).Run(iterations, baseSeed);

            output.WriteLine($"fuzz: {summary.Inputs} inputs (seed {baseSeed}), seeds per target: " +
                             string.Join(", ", targets.Select(t => $"{t.Name} {t.Seeds.Count}")));
            foreach (var (name, count) in summary.InputsPerTarget)
                output.WriteLine($"  {name}: {count} inputs, {summary.Rejected[name]} rejected with OnnxSteerException, {count - summary.Rejected[name]} accepted or failed");
            output.WriteLine($"  slowest input {summary.Slowest.TotalMilliseconds:0} ms, most allocated {summary.MostAllocated >> 20} MB");
            foreach (var f in summary.Failures)
                output.WriteLine($"FAIL {f.Target} iteration {f.Iteration} seed {f.Seed} ({f.Mutation}){(f.SavedInput is null ? "" : " saved " + f.SavedInput)}: {f.Problem}");

            Assert.Equal(iterations, summary.InputsPerTarget.Values.Sum());
            // Most mutated inputs must really be bad: a fuzzer whose inputs all pass is not testing the error paths.
            Assert.True(summary.Rejected.Values.Sum() > iterations / 4, $"only {summary.Rejected.Values.Sum()} of {iterations} inputs were rejected");
            Assert.True(summary.Failures.Count == 0,
                $"{summary.Failures.Count} inputs broke the contract; first: {summary.Failures.FirstOrDefault()}");
            Assert.True(summary.Slowest < ReaderFuzzer.TimeLimit);
        }
        finally
        {
            try { Directory.Delete(work, recursive: true); } catch (IOException) { }
        }
    }

    [Fact]
    public void Length_walker_finds_the_fields_the_inflation_mutation_rewrites()
    {
        // A model with a graph holding one named node: graph(7) { node(1) { name(3) "n" } }.
        var name = Mutations.Field(3, "n"u8.ToArray());
        var model = Mutations.Field(7, Mutations.Field(1, name));
        var fields = ProtoWalker.LengthFields(model);
        Assert.Equal(new[] { 0, 1, 2 }, fields.Select(f => f.Depth).ToArray());
        Assert.Equal(1, fields[2].PayloadLength);
        Assert.Equal(new byte[] { 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01 }, Mutations.Varint(1UL << 63));

        // 100 GB claimed by the graph's length: the loader must refuse it, not try to allocate it.
        var inflated = Mutations.InflateLength(model, new Random(1));
        Assert.NotEqual(model, inflated);
    }

    private static int EnvInt(string name, int fallback) =>
        int.TryParse(Environment.GetEnvironmentVariable(name), out var value) && value > 0 ? value : fallback;
}
