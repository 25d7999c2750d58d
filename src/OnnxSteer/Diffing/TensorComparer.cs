using Onnx;
using OnnxSteer.ModelFiles;

namespace OnnxSteer.Diffing;

/// <summary>The outcome of comparing two tensors of one type and shape.</summary>
/// <param name="Equal">True when every element's stored bits agree.</param>
/// <param name="Shared">True when both point at the same bytes of the same external file, so nothing was read.</param>
/// <param name="Values">Statistics over the elements, null when <paramref name="Equal"/>.</param>
internal sealed record TensorComparison(bool Equal, bool Shared, ValueStats? Values);

/// <summary>
/// Compares the values of two same-typed, same-shaped tensors in bounded memory: external data is read in chunks
/// (and not at all when both sides name the same file range), byte-equal chunks are skipped, and only differing
/// chunks are decoded for statistics.
/// </summary>
internal static class TensorComparer
{
    /// <summary>Bytes read per side per step.</summary>
    public const int ChunkBytes = 1 << 20;

    /// <summary>Above this many differing rows a change is not reported row by row (it is not a steering fold).</summary>
    public const int MaxScaledRows = 4096;

    private const long MaxRowBytes = 16L << 20;

    /// <summary>Compares <paramref name="a"/> (from model A) with <paramref name="b"/> (from model B); type and dims must agree.</summary>
    public static TensorComparison Compare(TensorProto a, ModelSource sideA, TensorProto b, ModelSource sideB)
    {
        if (a.DataType == (int)TensorProto.Types.DataType.String) return CompareStrings(a, b);

        var bytesA = TensorBytes.Of(a, sideA.BaseDirectory, sideA.Path);
        var bytesB = TensorBytes.Of(b, sideB.BaseDirectory, sideB.Path);
        if (bytesA.External is { } ea && bytesB.External is { } eb &&
            ea.Offset == eb.Offset && ea.Length == eb.Length && FileIdentity.Same(ea.FilePath, eb.FilePath))
            return new TensorComparison(true, true, null);

        var stats = new Accumulator(a);
        using (var streamA = bytesA.Open())
        using (var streamB = bytesB.Open())
        {
            var chunk = stats.ChunkSize();
            var bufferA = new byte[(int)Math.Min(chunk, Math.Max(bytesA.Length, 1))];
            var bufferB = new byte[bufferA.Length];
            for (long done = 0; done < bytesA.Length;)
            {
                var n = (int)Math.Min(bufferA.Length, bytesA.Length - done);
                streamA.ReadExactly(bufferA, 0, n);
                streamB.ReadExactly(bufferB, 0, n);
                stats.Add(bufferA.AsSpan(0, n), bufferB.AsSpan(0, n));
                done += n;
            }
        }
        return stats.Result();
    }

    private static TensorComparison CompareStrings(TensorProto a, TensorProto b)
    {
        var n = Math.Max(a.StringData.Count, b.StringData.Count);
        long differing = 0;
        long? first = null;
        for (var i = 0; i < n; i++)
        {
            var same = i < a.StringData.Count && i < b.StringData.Count && a.StringData[i].Equals(b.StringData[i]);
            if (same) continue;
            differing++;
            first ??= i;
        }
        return differing == 0
            ? new TensorComparison(true, false, null)
            : new TensorComparison(false, false, new ValueStats(n, differing, null, first, null, null));
    }

    /// <summary>Running statistics over aligned chunks of both tensors.</summary>
    private sealed class Accumulator
    {
        private readonly int _type;
        private readonly int _bits;
        private readonly bool _numeric;
        private readonly long _elements;
        private readonly long _rowElements; // > 0 when rows and columns are checked for pure scaling
        private readonly double _eps;
        private List<ScaledSlice>? _rows;
        private ColumnScales? _columns;
        private long _index;
        private long _rowsDiffering;
        private readonly long _rowCount;
        private long _differing;
        private long? _first;
        private double _maxAbs;

        public Accumulator(TensorProto t)
        {
            _type = t.DataType;
            _bits = DataTypes.BitsPerElement(t.DataType);
            _numeric = ElementTypes.IsNumeric(t.DataType);
            _elements = DataTypes.ElementCount(t.Dims);
            _eps = ElementTypes.Epsilon(t.DataType);
            if (_eps > 0 && t.Dims.Count == 2 && t.Dims[1] > 0 && t.Dims[1] * (_bits / 8) <= MaxRowBytes)
            {
                _rowElements = t.Dims[1];
                _rowCount = t.Dims[0];
                _rows = [];
                _columns = t.Dims[1] <= MaxColumns ? new ColumnScales((int)t.Dims[1], _eps, ElementTypes.Spacing(t.DataType)) : null;
            }
        }

        /// <summary>Chunk length in bytes: whole rows when rows are checked, else a multiple of the element size.</summary>
        public int ChunkSize()
        {
            if (_rowElements > 0)
            {
                var rowBytes = _rowElements * _bits / 8;
                return (int)(Math.Max(1, ChunkBytes / rowBytes) * rowBytes);
            }
            return ChunkBytes; // a multiple of every element size (1, 2, 4, 8, 16 bytes)
        }

        public void Add(ReadOnlySpan<byte> a, ReadOnlySpan<byte> b)
        {
            var count = (long)a.Length * 8 / _bits;
            if (a.SequenceEqual(b))
            {
                _index += count;
                return;
            }
            if (_bits < 8) AddPacked(a, b);
            else AddWhole(a, b, (int)count);
            if (_rowElements > 0) AddRows(a, b);
            _index += count;
        }

        private void AddWhole(ReadOnlySpan<byte> a, ReadOnlySpan<byte> b, int count)
        {
            var size = _bits / 8;
            for (var i = 0; i < count; i++)
            {
                if (a.Slice(i * size, size).SequenceEqual(b.Slice(i * size, size))) continue;
                Differ(_index + i);
                if (!_numeric) continue;
                var d = Math.Abs(ElementTypes.Decode(_type, b, i) - ElementTypes.Decode(_type, a, i));
                if (!double.IsNaN(d) && d > _maxAbs) _maxAbs = d;
            }
        }

        private void AddPacked(ReadOnlySpan<byte> a, ReadOnlySpan<byte> b)
        {
            var perByte = 8 / _bits;
            var mask = (1 << _bits) - 1;
            for (var i = 0; i < a.Length; i++)
            {
                if (a[i] == b[i]) continue;
                for (var k = 0; k < perByte; k++)
                {
                    var element = _index + (long)i * perByte + k;
                    if (element >= _elements) break;
                    if (((a[i] >> (k * _bits)) & mask) != ((b[i] >> (k * _bits)) & mask)) Differ(element);
                }
            }
        }

        private void Differ(long element)
        {
            _differing++;
            _first ??= element;
        }

        /// <summary>Checks every differing row of the chunk for B = factor × A, and feeds its elements to the column check.</summary>
        private void AddRows(ReadOnlySpan<byte> a, ReadOnlySpan<byte> b)
        {
            var rowBytes = (int)(_rowElements * _bits / 8);
            var firstRow = _index / _rowElements;
            for (var r = 0; r * rowBytes < a.Length; r++)
            {
                var rowA = a.Slice(r * rowBytes, rowBytes);
                var rowB = b.Slice(r * rowBytes, rowBytes);
                if (rowA.SequenceEqual(rowB)) continue;
                _rowsDiffering++;
                _columns?.Add(_type, rowA, rowB);
                if (_rows is null) continue;
                var factor = RowFactor(rowA, rowB);
                if (factor is null || _rows.Count >= MaxScaledRows) _rows = null;
                else _rows.Add(new ScaledSlice(firstRow + r, factor.Value));
            }
        }

        /// <summary>
        /// The factor s with rowB ≈ s·rowA, or null. s comes from the element of largest |a|; every element must then
        /// agree within the rounding of the stored type: |b - s·a| ≤ 4ε|s·a| + ε|s·a_max|.
        /// </summary>
        private double? RowFactor(ReadOnlySpan<byte> rowA, ReadOnlySpan<byte> rowB)
        {
            var n = (int)_rowElements;
            int pivot = -1;
            double pivotAbs = 0;
            for (var i = 0; i < n; i++)
            {
                var v = Math.Abs(ElementTypes.Decode(_type, rowA, i));
                if (!double.IsFinite(v)) return null;
                if (v > pivotAbs) { pivotAbs = v; pivot = i; }
            }
            if (pivot < 0) return null;
            var s = ElementTypes.Decode(_type, rowB, pivot) / ElementTypes.Decode(_type, rowA, pivot);
            if (!double.IsFinite(s)) return null;
            var floor = _eps * Math.Abs(s) * pivotAbs;
            for (var i = 0; i < n; i++)
            {
                var scaled = s * ElementTypes.Decode(_type, rowA, i);
                var err = Math.Abs(ElementTypes.Decode(_type, rowB, i) - scaled);
                if (!(err <= 4 * _eps * Math.Abs(scaled) + floor)) return null;
            }
            return s;
        }

        public TensorComparison Result()
        {
            if (_differing == 0) return new TensorComparison(true, false, null);
            // Columns were checked only in differing rows, so the claim holds only when every row differs.
            var columns = _rowsDiffering == _rowCount ? _columns?.Result() : null;
            return new TensorComparison(false, false, new ValueStats(
                _elements, _differing, _numeric ? _maxAbs : null, _first,
                _rows is { Count: > 0 } ? _rows : null,
                columns is { Count: > 0 } ? columns : null));
        }
    }

    /// <summary>Widest matrix whose columns are checked for pure scaling (two doubles per column are kept).</summary>
    private const long MaxColumns = 1 << 20;

    /// <summary>
    /// Per column, the interval of factors s consistent with every element seen so far: |b - s·a| ≤ 4ε|b| + tiny
    /// (tiny: the type's smallest spacing, for subnormals).
    /// Intersecting intervals needs no second pass; a column whose interval empties is not a pure scale.
    /// </summary>
    private sealed class ColumnScales(int columns, double eps, double tiny)
    {
        private readonly double[] _lo = Enumerable.Repeat(double.NegativeInfinity, columns).ToArray();
        private readonly double[] _hi = Enumerable.Repeat(double.PositiveInfinity, columns).ToArray();
        private readonly bool[] _differs = new bool[columns];
        private bool _failed;

        public void Add(int type, ReadOnlySpan<byte> rowA, ReadOnlySpan<byte> rowB)
        {
            if (_failed) return;
            var size = DataTypes.BitsPerElement(type) / 8;
            for (var c = 0; c < columns; c++)
            {
                if (!rowA.Slice(c * size, size).SequenceEqual(rowB.Slice(c * size, size))) _differs[c] = true;
                var a = ElementTypes.Decode(type, rowA, c);
                var b = ElementTypes.Decode(type, rowB, c);
                if (!double.IsFinite(a) || !double.IsFinite(b)) { _failed = true; return; }
                var tol = 4 * eps * Math.Abs(b) + tiny;
                if (a == 0)
                {
                    if (Math.Abs(b) > tol) { _failed = true; return; }
                    continue;
                }
                var x = (b - tol) / a;
                var y = (b + tol) / a;
                _lo[c] = Math.Max(_lo[c], Math.Min(x, y));
                _hi[c] = Math.Min(_hi[c], Math.Max(x, y));
                if (_lo[c] > _hi[c]) { _failed = true; return; }
            }
        }

        public List<ScaledSlice>? Result()
        {
            if (_failed) return null;
            var list = new List<ScaledSlice>();
            for (var c = 0; c < columns; c++)
            {
                if (!_differs[c]) continue;
                if (double.IsInfinity(_lo[c]) || double.IsInfinity(_hi[c])) return null; // only zeros seen: no factor
                if (list.Count >= MaxScaledRows) return null;
                list.Add(new ScaledSlice(c, (_lo[c] + _hi[c]) / 2));
            }
            return list;
        }
    }
}

/// <summary>A model being compared: the path shown in messages and the folder its external data is relative to.</summary>
internal sealed record ModelSource(string Path, string BaseDirectory);
