using OnnxSteer.Import;
using OnnxSteer.Tests.Infrastructure;
using Xunit;

namespace OnnxSteer.Tests.Import;

public sealed class Llama2cCheckpointTests
{
    private static string StoriesPath => SharedData.Path("models", "stories260K", "stories260K.bin");

    [SharedFact]
    public void Rows_are_read_in_ONNX_orientation_the_transpose_of_llama2c_out_in_layout()
    {
        var ck = Llama2cCheckpoint.Load(StoriesPath);
        int d = ck.Config.Dim, h = ck.Config.HiddenDim;
        var row = new float[ck.Config.Dim];
        ck.ReadRow(LlamaTensor.Query, 2, 5, 0, row);
        for (int n = 0; n < d; n++) Assert.Equal(ck.Wq[2 * d * d + n * d + 5], row[n]);
        var downRow = new float[10];
        ck.ReadRow(LlamaTensor.Down, 4, 100, 7, downRow); // Down is [hidden, dim]: row 100 of K = hidden
        for (int j = 0; j < 10; j++) Assert.Equal(ck.W2[4L * d * h + (7 + j) * h + 100], downRow[j]);
        var head = new float[d];
        ck.ReadRow(LlamaTensor.LmHead, 0, 3, 0, head.AsSpan(0, 8));
        for (int v = 0; v < 8; v++) Assert.Equal(ck.TokenEmbedding[v * d + 3], head[v]);
    }

    [SharedFact]
    public void A_truncated_checkpoint_is_rejected_with_a_message_naming_the_file()
    {
        var path = Path.Combine(Path.GetTempPath(), $"truncated-{Guid.NewGuid():N}.bin");
        try
        {
            File.WriteAllBytes(path, File.ReadAllBytes(StoriesPath)[..4000]);
            var e = Assert.Throws<InvalidModelException>(() => Llama2cCheckpoint.Load(path));
            Assert.Contains(path, e.Message);
            Assert.Contains("floats", e.Message);
        }
        finally { File.Delete(path); }
    }

    [Fact]
    public void A_file_with_an_impossible_header_is_rejected()
    {
        var path = Path.Combine(Path.GetTempPath(), $"bad-{Guid.NewGuid():N}.bin");
        try
        {
            var header = new int[] { 64, 172, 5, 7, 4, 512, 512 }; // 64 is not a multiple of 7 heads
            var bytes = new byte[28];
            Buffer.BlockCopy(header, 0, bytes, 0, 28);
            File.WriteAllBytes(path, bytes);
            var e = Assert.Throws<InvalidModelException>(() => Llama2cCheckpoint.Load(path));
            Assert.Contains(path, e.Message);
        }
        finally { File.Delete(path); }
    }
}
