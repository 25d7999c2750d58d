using System.Diagnostics;
using OnnxSteer.ModelFiles;
using OnnxSteer.Patching;

namespace OnnxSteer.Bench;

/// <summary>
/// One patch with the stored selection in a fresh process, stage by stage, first calls included: where a short
/// <c>onnxsteer patch</c> spends its time when JIT and type loading dominate (issue 29). Prints one JSON line: each
/// stage's wall time and the process's CPU time (all threads) in it, in ms.
/// </summary>
public static class PatchColdStages
{
    public static int Run(string modelDir, string profilePath, string output)
    {
        var started = Process.GetCurrentProcess().StartTime.ToUniversalTime();
        var laps = new List<(string, double)> { ("process start to Main", (DateTime.UtcNow - started).TotalSeconds) };
        using var self = Process.GetCurrentProcess();
        var cpu = self.TotalProcessorTime;
        var clock = Stopwatch.StartNew();
        void Lap(string name)
        {
            self.Refresh();
            laps.Add((name, clock.Elapsed.TotalSeconds));
            laps.Add((name + " (CPU)", (self.TotalProcessorTime - cpu).TotalSeconds));
            cpu = self.TotalProcessorTime;
            clock.Restart();
        }
        var model = StreamingModelRewriter.LoadLean(modelDir);
        Lap("load graph (lean)");
        var target = new SteeringTarget(model);
        _ = target.Sites;
        Lap("find sites");
        var request = new PatchRequest();
        var planned = SteeringPlanner.Plan(target, new ProfileFile(profilePath), request);
        Lap("profile (sha256, stored selection) + plan");
        var result = GraphPatcher.Apply(planned.Graph, planned.Plan, PatchOptions.Default);
        Lap("rewrite graph + metadata");
        SteeredModelWriter.Write(model, result.Model, result.FoldedTensors, output);
        Lap("write (stage, link, fsync, rename)");
        Console.WriteLine("{" + string.Join(", ", laps.Select(l => $"\"{l.Item1}\": {l.Item2 * 1000:0.0}")) + "}");
        return 0;
    }
}
