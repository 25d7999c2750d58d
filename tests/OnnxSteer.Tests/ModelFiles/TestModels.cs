using System.Diagnostics;
using Google.Protobuf;
using Onnx;
using OnnxSteer.ModelFiles;

namespace OnnxSteer.Tests.ModelFiles;

/// <summary>A folder under the system temp folder, removed with everything in it on dispose.</summary>
public sealed class TempFolder : IDisposable
{
    public string Path { get; } = System.IO.Path.Combine(System.IO.Path.GetTempPath(), "onnxsteer-test-" + Guid.NewGuid().ToString("N"));

    public TempFolder() => Directory.CreateDirectory(Path);

    public string this[string name] => System.IO.Path.Combine(Path, name);

    public void Dispose()
    {
        try { Directory.Delete(Path, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
    }
}

/// <summary>Small models built in code for the tests.</summary>
internal static class TestModels
{
    /// <summary>Y = MatMul(X[2,3], W[3,4]) + B[4], W and B as float initializers with known values.</summary>
    public static ModelProto MatMulAdd(int weightRows = 3, int weightCols = 4)
    {
        var w = Enumerable.Range(0, weightRows * weightCols).Select(i => i * 0.5f - 1f).ToArray();
        var b = Enumerable.Range(0, weightCols).Select(i => 10f + i).ToArray();
        var graph = new GraphProto { Name = "matmul_add" };
        graph.Initializer.Add(TensorData.FromFloats("W", [weightRows, weightCols], w));
        var bias = new TensorProto { Name = "B", DataType = (int)TensorProto.Types.DataType.Float };
        bias.Dims.Add(weightCols);
        bias.FloatData.Add(b); // a typed field, not raw_data, on purpose
        graph.Initializer.Add(bias);
        graph.Input.Add(FloatValue("X", 2, weightRows));
        graph.Output.Add(FloatValue("Y", 2, weightCols));
        graph.Node.Add(Node("MatMul", ["X", "W"], ["XW"], "matmul"));
        graph.Node.Add(Node("Add", ["XW", "B"], ["Y"], "add"));
        var model = new ModelProto { IrVersion = 8, ProducerName = "onnxsteer-tests", Graph = graph };
        model.OpsetImport.Add(new OperatorSetIdProto { Domain = "", Version = 17 });
        return model;
    }

    public static ValueInfoProto FloatValue(string name, params long[] dims)
    {
        var shape = new TensorShapeProto();
        foreach (var d in dims) shape.Dim.Add(new TensorShapeProto.Types.Dimension { DimValue = d });
        return new ValueInfoProto
        {
            Name = name,
            Type = new TypeProto { TensorType = new TypeProto.Types.Tensor { ElemType = (int)TensorProto.Types.DataType.Float, Shape = shape } },
        };
    }

    public static NodeProto Node(string op, string[] inputs, string[] outputs, string name)
    {
        var node = new NodeProto { OpType = op, Name = name };
        node.Input.Add(inputs);
        node.Output.Add(outputs);
        return node;
    }

    /// <summary>Writes <paramref name="model"/> to <paramref name="path"/> as is.</summary>
    public static string Write(ModelProto model, string path)
    {
        File.WriteAllBytes(path, model.ToByteArray());
        return path;
    }

    /// <summary>Points <paramref name="tensor"/> at external data without writing any, for the security tests.</summary>
    public static void PointAt(TensorProto tensor, string location, long offset = 0, long? length = null)
    {
        TensorData.ClearStorage(tensor);
        new ExternalDataReference(location, offset, length).ApplyTo(tensor);
    }

    /// <summary>Runs a system tool (mkfifo, mknod); returns its exit code, or -1 when it cannot be started.</summary>
    public static int RunTool(string file, params string[] args)
    {
        try
        {
            var info = new ProcessStartInfo(file) { RedirectStandardError = true, RedirectStandardOutput = true };
            foreach (var a in args) info.ArgumentList.Add(a);
            using var p = Process.Start(info)!;
            p.WaitForExit();
            return p.ExitCode;
        }
        catch (System.ComponentModel.Win32Exception) { return -1; }
    }

    public static string Sha256(string path) => Convert.ToHexString(System.Security.Cryptography.SHA256.HashData(File.ReadAllBytes(path)));
}
