using System.CommandLine;
using System.Globalization;
using System.Numerics;

namespace OnnxSteer.Cli.Options;

/// <summary>
/// Range checks attached to options: a value out of range is a parse error (exit 64, one line naming the option and
/// the value) before the command starts.
/// </summary>
public static class Validate
{
    /// <summary>Values below <paramref name="min"/> are refused.</summary>
    public static Option<T> AtLeast<T>(this Option<T> option, T min) where T : struct, INumber<T> =>
        option.Check(v => v >= min, $"must be at least {Text(min)}");

    /// <summary>Values below <paramref name="min"/> are refused (an option not given passes).</summary>
    public static Option<T?> AtLeast<T>(this Option<T?> option, T min) where T : struct, INumber<T> =>
        option.Check(v => v is not { } x || x >= min, $"must be at least {Text(min)}");

    /// <summary>Values outside [<paramref name="min"/>, <paramref name="max"/>] are refused.</summary>
    public static Option<T> Within<T>(this Option<T> option, T min, T max) where T : struct, INumber<T> =>
        option.Check(v => v >= min && v <= max, $"must be in [{Text(min)}, {Text(max)}]");

    /// <summary>Non-finite and negative values are refused.</summary>
    public static Option<T> FiniteAtLeastZero<T>(this Option<T> option) where T : struct, IFloatingPoint<T> =>
        option.Check(v => T.IsFinite(v) && v >= T.Zero, "must be a finite number ≥ 0");

    /// <summary>A number of seconds in (0, 86400], or [0, 86400] with <paramref name="allowZero"/>.</summary>
    public static Option<double> Seconds(this Option<double> option, bool allowZero = false) =>
        option.Check(v => double.IsFinite(v) && (v > 0 || (allowZero && v == 0)) && v <= 86400,
            $"must be a number of seconds in {(allowZero ? "[0" : "(0")}, 86400]");

    /// <summary>Refuses values for which <paramref name="ok"/> is false, with "OPTION VALUE: <paramref name="rule"/>".</summary>
    public static Option<T> Check<T>(this Option<T> option, Func<T, bool> ok, string rule)
    {
        option.Validators.Add(result =>
        {
            if (result.Implicit || result.Errors.Any()) return;
            var value = result.GetValueOrDefault<T>();
            if (!ok(value)) result.AddError($"{option.Name} {Text(value)}: {rule}");
        });
        return option;
    }

    private static string Text<T>(T value) => value is IFormattable f ? f.ToString(null, CultureInfo.InvariantCulture) : value?.ToString() ?? "";
}
