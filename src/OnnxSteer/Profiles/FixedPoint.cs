namespace OnnxSteer.Profiles;

/// <summary>
/// Fixed-point sums of activation differences: each difference is rounded once to a multiple of 2^-32 and stored as
/// an int64, so sums are integers and adding shards in any order gives bit-identical results (floating-point
/// addition is not associative; this is). Overflow is checked, never wrapped.
/// </summary>
internal static class FixedPoint
{
    /// <summary>log2 of the scale: a stored value v means v / 2^32.</summary>
    public const int ScaleLog2 = 32;

    /// <summary>The scale, 2^32.</summary>
    public const double Scale = 4294967296.0;

    /// <summary>Largest magnitude a single difference may have (|d| * 2^32 must fit in an int64 with headroom for sums).</summary>
    public const double MaxMagnitude = 1 << 24;

    /// <summary>Converts one difference to fixed point (round half away from zero).</summary>
    /// <exception cref="OverflowException">The value is not finite or larger than <see cref="MaxMagnitude"/>.</exception>
    public static long FromDouble(double value)
    {
        if (!double.IsFinite(value) || Math.Abs(value) > MaxMagnitude)
            throw new OverflowException($"activation or difference {value} cannot be stored in fixed point (|value| must be ≤ {MaxMagnitude})");
        return (long)Math.Round(value * Scale, MidpointRounding.AwayFromZero);
    }

    /// <summary>The real number a fixed-point value stands for.</summary>
    public static double ToDouble(long value) => value / Scale;

    /// <summary>Adds two fixed-point sums, throwing on overflow.</summary>
    public static long Add(long a, long b) => checked(a + b);

    /// <summary>
    /// The square of a fixed-point value, in the same scale (value / 2^32), rounded once (half up; squares are never
    /// negative). Computed from the already-rounded value, so it is exact integer arithmetic and sums of squares merge
    /// exactly like the sums. An Int128 holds it: |d| ≤ 2^24 gives d² · 2^32 ≤ 2^80, leaving 2^47 pairs of headroom.
    /// </summary>
    public static Int128 Square(long value)
    {
        var product = (Int128)value * value;
        return (product + ((Int128)1 << (ScaleLog2 - 1))) >> ScaleLog2;
    }

    /// <summary>Adds two fixed-point sums of squares, throwing on overflow.</summary>
    public static Int128 Add(Int128 a, Int128 b) => checked(a + b);

    /// <summary>The real number a fixed-point sum of squares stands for.</summary>
    public static double ToDouble(Int128 value) => (double)value / Scale;
}
