using Xunit;
using Xunit.Abstractions;

namespace OnnxSteer.Tests.Hardening;

/// <summary>
/// Mutation fuzzing of the model loader + site finder, the profile reader and the tokenizer readers (see
/// <see cref="ReaderFuzzer"/>). <c>make test</c> runs a short seeded budget; <c>make fuzz</c> sets
/// ONNXSTEER_FUZZ_ITERATIONS (and optionally ONNXSTEER_FUZZ_SEED, ONNXSTEER_FUZZ_OUT to keep failing inputs,
/// ONNXSTEER_FUZZ_PROGRESS to append a progress line every 1000 inputs).
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
            var progressFile = Environment.GetEnvironmentVariable("ONNXSTEER_FUZZ_PROGRESS");
            var summary = new ReaderFuzzer(targets, work, failureDir).Run(iterations, baseSeed,
                string.IsNullOrEmpty(progressFile) ? null : line => File.AppendAllText(progressFile, line + "\n"));

            output.WriteLine($"fuzz: {summary.Inputs} inputs (seed {baseSeed}), seeds per target: " +
                             string.Join(", ", targets.Select(t => $"{t.Name} {t.Seeds.Count}")));
            foreach (var (name, count) in summary.InputsPerTarget)
                output.WriteLine($"  {name}: {count} inputs, {summary.Rejected[name]} rejected with OnnxSteerException, {count - summary.Rejected[name]} accepted or failed");
            output.WriteLine($"  slowest input {summary.Slowest.TotalMilliseconds:0} ms of the reader thread's CPU time, most allocated {summary.MostAllocated >> 20} MB");
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

    [Fact]
    public void A_vocabulary_repeated_hundreds_of_times_reads_like_one_copy_without_a_string_per_piece()
    {
        // The 100k-input make fuzz run (seed 20261204) stopped at iteration 35751: seed 20296955, RepeatTail stacked
        // twice, a 4 MB tok.bin holding the seed vocabulary 672 times (344,064 pieces).
        var work = Directory.CreateDirectory(Path.Combine(Path.GetTempPath(), "onnxsteer-fuzz-" + Guid.NewGuid().ToString("N"))).FullName;
        try
        {
            var target = FuzzTargets.All(work).Single(t => t.Name == "tokenizer-bin");
            var (input, mutator) = ReaderFuzzer.Input(target, 20296955);
            Assert.Equal("RepeatTail", mutator.Method.Name);
            var seed = target.Seeds[0];
            Assert.Equal(0, (input.Length - 4) % (seed.Length - 4));
            var copies = (input.Length - 4) / (seed.Length - 4);
            Assert.True(copies > 100, $"{copies} copies");
            var repeated = Path.Combine(work, "repeated-tok.bin");
            var single = Path.Combine(work, "single-tok.bin");
            File.WriteAllBytes(repeated, input);
            File.WriteAllBytes(single, seed);

            var reference = OnnxSteer.Tokenizers.Llama2cTokenizerFile.Read(single);
            var before = GC.GetAllocatedBytesForCurrentThread();
            var file = OnnxSteer.Tokenizers.Llama2cTokenizerFile.Read(repeated);
            var allocated = GC.GetAllocatedBytesForCurrentThread() - before;
            output.WriteLine($"{input.Length} bytes, {copies} copies, {file.VocabSize} pieces, read allocated {allocated >> 20} MB");
            Assert.Equal(reference.VocabSize * copies, file.VocabSize);
            // Every repeat is the same string object as its first occurrence: no string per repeated piece.
            for (var id = reference.VocabSize; id < file.VocabSize; id += 997)
                Assert.Same(file.Pieces[id % reference.VocabSize], file.Pieces[id]);
            // Before the fix reading allocated 31 MB (7.5x the file); now the file, the piece and score lists: under 4x.
            Assert.True(allocated < 4L * input.Length, $"allocated {allocated} bytes for a {input.Length}-byte file");

            const string text = "Hello world, once upon a time.";
            Assert.Equal(OnnxSteer.Tokenizers.TokenizerLoader.Load(single).EncodeToIds(text), OnnxSteer.Tokenizers.TokenizerLoader.Load(repeated).EncodeToIds(text));
        }
        finally
        {
            try { Directory.Delete(work, recursive: true); } catch (IOException) { }
        }
    }

    private static int EnvInt(string name, int fallback) =>
        int.TryParse(Environment.GetEnvironmentVariable(name), out var value) && value > 0 ? value : fallback;
}
