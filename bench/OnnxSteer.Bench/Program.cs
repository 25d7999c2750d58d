using BenchmarkDotNet.Running;
using OnnxSteer.Runtime;

namespace OnnxSteer.Bench;

/// <summary>
/// In-process benchmarks for issue 9, driven by bench/run.sh (make bench). Each command appends a markdown fragment
/// to the report file named by --report. Benchmarks are not tests: nothing here fails CI.
/// <code>
/// b1 MODEL_DIR PROFILE WORK ROUNDS cold|warm --report F      external-data patch cost (B1)
/// b1-inline MODEL_FILE PROFILE WORK ROUNDS --report F        inline patch vs copy (B1)
/// profile MODEL_DIR PROFILE                                  write a synthetic k=100 profile (no inference)
/// b2 MODEL_DIR LABEL ROUNDS [--batch 8] --report F           profiling with taps vs without (B2)
/// b3 WORK VANILLA_DIR PROFILE ROUNDS NEW_TOKENS [--prompt-tokens 128] --report F
///                                                            prefill/decode of vanilla, Mul, Mul-all, folded, gated (B3)
/// providers [MODEL_FILE]                                   ORT version, providers, and the device a session gets (bench/gpu)
/// gpu-check TOKENS_JSONL NAME=DIR[@STRENGTH]... --report F   CPU vs --device: max |Δlogit| and greedy tokens (bench/gpu)
/// b2, b3 and gpu-check take --device cpu|cuda|auto (default cpu): the device the measured sessions run on.
/// dsas WORK OUT_DIR                                         DSAS fronts on stories260K: uniform vs gated, per probe recipe (docs/dynamic.md)
/// dsas-plot CSV OUT_DIR                                     redraw the DSAS charts (PNG) from its CSV
/// b4 TOKENIZER_JSON TEXT                                     one timed encode pass; prints JSON (B4)
/// b4-report RUNS_JSONL TOKENIZER_JSON --report F            summarise alternating runs of both implementations
/// b4-text OUT                                                write the mixed text for B4 from ../shared/data
/// selection MODEL_DIR DATA_DIR WORK --report F             selection study of issue 17 (docs/selection.md)
/// serve CLI MODEL_DIR WORK REQUESTS MAX_TOKENS ROUNDS [CLIENTS] --report F   onnxsteer serve under 1/4/16/64 clients (or CLIENTS, e.g. 1,4) vs in-process (issues 22, 32), and genai's static batches
/// serve-memory CLI MODEL_DIR CLIENTS PROMPT_TOKENS --report F LABEL=ARGS...   server RSS under a burst of long prompts (issue 35)
/// patch-cold MODEL_DIR PROFILE OUT                          one stored-selection patch in this fresh process, stage by stage (JSON)
/// rss baseline | rss patch MODEL PROFILE OUT 100|all [force] child process: prints VmHWM (KiB)
/// torch-checkpoint OUT.bin LAYERS HIDDEN INTERMEDIATE HEADS VOCAB   llama2.c checkpoint of a synth model (bench/torch)
/// torch-job MODEL_DIR PAIRS PROMPT NEW_TOKENS PROFILE OUT.json       token ids and steering both sides run (bench/torch)
/// task-pairs TASK DATA N OUT.jsonl                                    the first N pairs of a benchmark task as --pairs JSON Lines (bench/torch)
/// torch-onnx-profile MODEL_DIR PAIRS THREADS | torch-onnx-decode MODEL_DIR JOB THREADS   OnnxSteer's timed side (bench/torch)
/// bdn [BenchmarkDotNet args]                                  BenchmarkDotNet micro-benchmarks (see PatchBenchmarks)
/// </code>
/// </summary>
public static class Program
{
    public static int Main(string[] args)
    {
        var report = new Report(Option(ref args, "--report") ?? "/dev/null");
        var settings = RuntimeSettings.Default with
        {
            Device = Enum.Parse<ExecutionDevice>(Option(ref args, "--device") ?? "cpu", ignoreCase: true),
            Notice = Console.Error.WriteLine,
        };
        var batch = int.Parse(Option(ref args, "--batch") ?? "8");
        var promptTokens = int.Parse(Option(ref args, "--prompt-tokens") ?? "128");
        switch (args.FirstOrDefault())
        {
            case "b1":
                PatchBench.EnsureProfile(args[1], args[2]);
                PatchBench.External(args[1], args[2], Work(args[3]), int.Parse(args[4]), args[5] == "cold", report);
                break;
            case "b1-inline":
                PatchBench.Inline(args[1], args[2], Work(args[3]), int.Parse(args[4]), report);
                break;
            case "profile":
                PatchBench.EnsureProfile(args[1], args[2]);
                return 0;
            case "b2":
                ProfilingBench.Run(args[1], args[2], int.Parse(args[3]), report, settings, batch);
                break;
            case "b3":
                InferenceBench.Run(Work(args[1]), args[2], args[3], int.Parse(args[4]), int.Parse(args[5]), report, settings, promptTokens);
                break;
            case "providers":
                return GpuCheck.Providers(args.ElementAtOrDefault(1), settings);
            case "gpu-check":
                if (!GpuCheck.Run(args[1], args[2..], settings, report)) { report.Save(); return 1; }
                break;
            case "dsas":
                DynamicFront.Run(Work(args[1]), args[2]);
                return 0;
            case "dsas-plot":
                DynamicFront.Plot(args[1], args[2]);
                return 0;
            case "b4":
                return TokenizerBench.EncodeOnce(args[1], args[2]);
            case "b4-report":
                TokenizerBench.Summarise(args[1], args[2], report);
                break;
            case "b4-text":
                return TokenizerBench.WriteText(args[1]);
            case "selection":
                SelectionBench.Run(args[1], args[2], Work(args[3]), report);
                break;
            case "serve":
            {
                int[] clients = args.Length > 7 && !args[7].StartsWith("--", StringComparison.Ordinal) ? [.. args[7].Split(',').Select(int.Parse)] : [1, 4, 16, 64];
                var code = ServeBench.Run(args[1], args[2], Work(args[3]), int.Parse(args[4]), int.Parse(args[5]), int.Parse(args[6]), clients, report);
                report.Save();
                return code;
            }
            case "serve-batch":
            {
                // serve-batch MODEL_DIR PROFILE REQUESTS MAX_TOKENS [CLIENTS]
                int[] clients = args.Length > 5 && !args[5].StartsWith("--", StringComparison.Ordinal) ? [.. args[5].Split(',').Select(int.Parse)] : [1, 4, 16, 64];
                var code = ServeBatchBench.Run(args[1], args[2], int.Parse(args[3]), int.Parse(args[4]), clients, report).GetAwaiter().GetResult();
                report.Save();
                return code;
            }
            case "serve-memory":
            {
                // serve-memory CLI MODEL_DIR CLIENTS PROMPT_TOKENS --report F [LABEL=ARGS ...]: one row per LABEL (ARGS space-separated)
                var configs = args[5..].Select(a => (Label: a[..a.IndexOf('=')], Args: a[(a.IndexOf('=') + 1)..].Split(' ', StringSplitOptions.RemoveEmptyEntries))).ToList();
                var code = ServeMemoryBench.Run(args[1], args[2], int.Parse(args[3]), int.Parse(args[4]), configs, report);
                report.Save();
                return code;
            }
            case "rss":
                return PatchBench.RssChild(args);
            case "patch-cold":
                return PatchColdStages.Run(args[1], args[2], args[3]);
            case "torch-checkpoint":
                return TorchCompare.Checkpoint(args[1], int.Parse(args[2]), int.Parse(args[3]), int.Parse(args[4]), int.Parse(args[5]), int.Parse(args[6]));
            case "torch-job":
                return TorchCompare.Job(args[1], args[2], args[3], int.Parse(args[4]), args[5], args[6]);
            case "task-pairs":
                return TorchCompare.TaskPairsFile(args[1], args[2], int.Parse(args[3]), args[4]);
            case "torch-onnx-profile":
                return TorchCompare.Profile(args[1], args[2], int.Parse(args[3]));
            case "torch-onnx-decode":
                return TorchCompare.Decode(args[1], args[2], int.Parse(args[3]));
            case "bdn":
                BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(args[1..]);
                return 0;
            default:
                Console.Error.WriteLine("usage: see the comment at the top of bench/OnnxSteer.Bench/Program.cs");
                return 2;
        }
        report.Save();
        return 0;
    }

    private static string Work(string path)
    {
        Directory.CreateDirectory(path);
        return Path.GetFullPath(path);
    }

    private static string? Option(ref string[] args, string name)
    {
        var i = Array.IndexOf(args, name);
        if (i < 0 || i + 1 >= args.Length) return null;
        var value = args[i + 1];
        args = args.Take(i).Concat(args.Skip(i + 2)).ToArray();
        return value;
    }
}
