namespace OnnxSteer.Import;

/// <summary>
/// Rotary-embedding tables as llama2.c computes them: for position p and pair i of a head,
/// angle = p / theta^(2i / headSize), evaluated in fp32 so exported tables match the reference bit for bit.
/// </summary>
internal static class RopeTables
{
    /// <summary>cos and sin tables, each [maxPositions, headSize/2] row-major.</summary>
    public static (float[] Cos, float[] Sin) Compute(int maxPositions, int headSize, float theta)
    {
        int half = headSize / 2;
        var cos = new float[(long)maxPositions * half];
        var sin = new float[(long)maxPositions * half];
        for (int p = 0; p < maxPositions; p++)
            for (int i = 0; i < half; i++)
            {
                float angle = p * Frequency(i, headSize, theta);
                cos[(long)p * half + i] = MathF.Cos(angle);
                sin[(long)p * half + i] = MathF.Sin(angle);
            }
        return (cos, sin);
    }

    /// <summary>Frequency of pair <paramref name="pair"/> (elements 2*pair and 2*pair+1), as in llama2.c's run.c.</summary>
    public static float Frequency(int pair, int headSize, float theta) => 1.0f / MathF.Pow(theta, 2 * pair / (float)headSize);
}
