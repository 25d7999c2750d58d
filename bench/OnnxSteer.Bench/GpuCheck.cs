using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;
using System.Globalization;
using System.Text.Json;
using OnnxSteer.Generation;
using OnnxSteer.Patching;
using OnnxSteer.Runtime;
using OnnxSteer.Tokenizers;

namespace OnnxSteer.Bench;

/// <summary>
/// Check 2 of issue 20 (bench/gpu/run.sh): each model runs on the CPU and on the device under test in one process; the
/// logits of a full-sequence run over a fixed prompt are compared (max |Δ|) and greedy decoding with the KV cache must
/// give the same tokens. With <c>--device cpu</c> (the rehearsal) both sides are the CPU: Δ is 0 by construction, and
/// the run only records the tokens the GPU run is compared with.
/// </summary>
public static class GpuCheck
{
    private const string Prompt = "Once upon a time, there was a little girl named Lily. She loved to play";
    private const int NewTokens = 60;

    /// <summary>
    /// fp32: ONNX Runtime's CUDA provider runs fp32 MatMul in TF32 by default on Ampere and later (10-bit mantissa), so
    /// logits of magnitude ~10 may move by ~1e-2. fp16: the logits themselves are fp16 (one ulp at 8 is 0.0078) and the
    /// kernels accumulate in another order than the CPU's; 0.1 is about a dozen ulps.
    /// </summary>
    private static double Tolerance(TensorElementType kv) => kv == TensorElementType.Float16 ? 0.1 : 2e-2;

    /// <summary>
    /// Check 1: prints ONNX Runtime's version and the providers this build has, then opens <paramref name="modelFile"/>
    /// (when given) with <paramref name="settings"/> and prints the device the session got. Non-zero when it is not the
    /// device asked for.
    /// </summary>
    public static int Providers(string? modelFile, RuntimeSettings settings)
    {
        Console.WriteLine($"onnxruntime version: {OrtLibrary.Version}");
        Console.WriteLine($"available providers: {string.Join(", ", OrtEnv.Instance().GetAvailableProviders())}");
        if (modelFile is null) return 0;
        using var session = settings.OpenSession(modelFile, out var device);
        Console.WriteLine($"session on {modelFile}: asked {settings.Device}, got {device}");
        return settings.Device == ExecutionDevice.Auto || device == settings.Device ? 0 : 1;
    }

    /// <summary>Runs the check on every <c>NAME=DIR[@STRENGTH]</c>; true when all pass. Tokens go to <paramref name="tokensPath"/> (JSON Lines).</summary>
    public static bool Run(string tokensPath, IReadOnlyList<string> specs, RuntimeSettings device, Report report)
    {
        var cpu = RuntimeSettings.Default;
        var all = true;
        var lines = new List<string>();
        report.Line($"### Check 2 — CPU vs {device.Device}: greedy {NewTokens} tokens and max |Δlogit| on the prompt");
        report.Line();
        report.Line($"Prompt: \"{Prompt}\". Δ: full-sequence run (every prompt position, whole vocabulary). Tokens: greedy with the KV cache.");
        report.Line();
        report.Line("| model | dtype | strength | max \\|Δlogit\\| | tolerance | tokens equal | first difference (CPU top-2 margin there) | verdict |");
        report.Line("|---|---|---|---|---|---|---|---|");
        foreach (var spec in specs)
        {
            var (name, dir, strength) = Parse(spec);
            var tokenizer = TokenizerLoader.Load(dir);
            var ids = tokenizer.EncodeToIds(Prompt).ToList();
            using var onCpu = Open(dir, cpu, strength, out var cpuStrength);
            using var onDevice = Open(dir, device, strength, out var deviceStrength);
            try
            {
                var a = onCpu.Forward(ids).Data;
                var b = onDevice.Forward(ids).Data;
                var delta = 0.0;
                for (var i = 0; i < a.Length; i++) delta = Math.Max(delta, Math.Abs((double)a[i] - b[i]));
                var (cpuTokens, margins) = Greedy(onCpu, ids);
                var (deviceTokens, _) = Greedy(onDevice, ids);
                var first = Enumerable.Range(0, NewTokens).FirstOrDefault(i => cpuTokens[i] != deviceTokens[i], -1);
                var tolerance = Tolerance(onCpu.Layout.KvType);
                // A token may differ only where the CPU's top two were closer than the tolerance: a tie either side may break.
                var pass = delta <= tolerance && (first < 0 || margins[first] <= tolerance);
                all &= pass;
                var dtype = onCpu.Layout.KvType == TensorElementType.Float16 ? "fp16" : "fp32";
                var where = first < 0 ? "—" : $"token {first} ({margins[first].ToString("0.0000", CultureInfo.InvariantCulture)})";
                report.Line($"| {name} | {dtype} | {(strength is { } s ? s.ToString(CultureInfo.InvariantCulture) : "—")} | {delta.ToString("0.000000", CultureInfo.InvariantCulture)} | " +
                            $"{tolerance.ToString(CultureInfo.InvariantCulture)} | {(first < 0 ? "yes" : "no")} | {where} | {(pass ? "pass" : "FAIL")} |");
                Console.Error.WriteLine($"gpu-check: {name}: max|Δlogit| {delta:0.000000} (tolerance {tolerance}), tokens {(first < 0 ? "equal" : $"differ at {first}")}: {(pass ? "pass" : "FAIL")}");
                lines.Add(JsonSerializer.Serialize(new { name, device = "cpu", tokens = cpuTokens }));
                lines.Add(JsonSerializer.Serialize(new { name, device = device.Device.ToString().ToLowerInvariant(), tokens = deviceTokens, max_abs_delta_logit = delta }));
                Console.Error.WriteLine($"  {name}: {tokenizer.Decode(cpuTokens).ReplaceLineEndings(" ")}");
            }
            finally
            {
                cpuStrength?.Dispose();
                deviceStrength?.Dispose();
            }
        }
        report.Line();
        File.WriteAllLines(tokensPath, lines);
        return all;
    }

    private static (string Name, string Dir, float? Strength) Parse(string spec)
    {
        var eq = spec.IndexOf('=');
        if (eq <= 0) throw new ArgumentException($"gpu-check: '{spec}' is not NAME=DIR[@STRENGTH]");
        var rest = spec[(eq + 1)..];
        var at = rest.LastIndexOf('@');
        return at < 0
            ? (spec[..eq], rest, null)
            : (spec[..eq], rest[..at], float.Parse(rest[(at + 1)..], CultureInfo.InvariantCulture));
    }

    /// <summary>Opens the model; a strength is fed to a switchable model's <see cref="SwitchableSteering.StrengthName"/> input.</summary>
    private static DecoderModel Open(string dir, RuntimeSettings settings, float? strength, out OrtValue? strengthValue)
    {
        var model = DecoderModel.Open(dir, settings);
        strengthValue = null;
        if (strength is { } s)
        {
            strengthValue = OrtValue.CreateTensorValueFromMemory(new[] { s }, SwitchableSteering.StrengthShape);
            model.SetModelInput(SwitchableSteering.StrengthName, strengthValue);
        }
        return model;
    }

    /// <summary>Greedy tokens and, per step, the gap between the best and second-best logit.</summary>
    private static (int[] Tokens, double[] Margins) Greedy(DecoderModel model, IReadOnlyList<int> prompt)
    {
        using var cache = model.CreateCache();
        var logits = model.Step(prompt, cache);
        var tokens = new int[NewTokens];
        var margins = new double[NewTokens];
        for (var t = 0; t < NewTokens; t++)
        {
            int best = 0, second = -1;
            for (var i = 1; i < logits.Length; i++)
            {
                if (logits[i] > logits[best]) { second = best; best = i; }
                else if (second < 0 || logits[i] > logits[second]) second = i;
            }
            tokens[t] = best;
            margins[t] = logits[best] - logits[second];
            logits = model.Step([best], cache);
        }
        return (tokens, margins);
    }
}
