using OnnxSteer.Generation;
using OnnxSteer.ModelFiles;
using OnnxSteer.Tests.Infrastructure;
using Xunit;

namespace OnnxSteer.Tests.Generation;

public class GenaiConfigFileTests
{
    [SharedFact]
    public void ReadsTheTinyModelsConfig()
    {
        var c = GenaiConfigFile.TryRead(SharedData.TinyGenaiModelDir)!;
        Assert.Equal("model.onnx", c.ModelFileName);
        Assert.Equal("past_key_values.%d.key", c.PastKeyFormat);
        Assert.Equal("present.%d.value", c.PresentValueFormat);
        Assert.Equal(2, c.NumHiddenLayers);
        Assert.Equal(16, c.HeadSize);
        Assert.Equal(1, c.NumKeyValueHeads);
        Assert.Equal(2048, c.ContextLength);
        Assert.Equal(new[] { 1 }, c.EosTokenIds);
        Assert.Equal(0, c.BosTokenId);
        Assert.Equal("past_key_values.3.key", GenaiConfigFile.LayerName(c.PastKeyFormat!, 3));
    }

    [Fact]
    public void EosMayBeAList_AndMalformedFilesAreInvalidModels()
    {
        var dir = Directory.CreateTempSubdirectory("onnxsteer-gen-");
        try
        {
            var path = Path.Combine(dir.FullName, GenaiConfigFile.FileName);
            File.WriteAllText(path, """{"model": {"eos_token_id": [2, 32000], "decoder": {"filename": "m.onnx"}}}""");
            var c = GenaiConfigFile.Read(path);
            Assert.Equal(new[] { 2, 32000 }, c.EosTokenIds);
            Assert.Equal("m.onnx", c.ModelFileName);
            Assert.Null(c.HeadSize);

            File.WriteAllText(path, "{ not json");
            var e = Assert.Throws<InvalidModelException>(() => GenaiConfigFile.Read(path));
            Assert.Contains(path, e.Message);
            File.WriteAllText(path, """{"other": 1}""");
            Assert.Contains("no \"model\" object", Assert.Throws<InvalidModelException>(() => GenaiConfigFile.Read(path)).Message);
            File.WriteAllText(path, """{"model": {"context_length": "long"}}""");
            Assert.Contains("wrong type", Assert.Throws<InvalidModelException>(() => GenaiConfigFile.Read(path)).Message);
        }
        finally { dir.Delete(true); }
    }

    [Fact]
    public void MissingModel_IsAnInvalidModelError()
    {
        var e = Assert.Throws<InvalidModelException>(() => DecoderModel.Open("/nonexistent/onnxsteer/model"));
        Assert.Contains("no such model file or folder", e.Message);
    }
}
