using System.Numerics;
using System.Numerics.Tensors;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Pipeline.Rank.Ranking;

/// <summary>How an index keeps its vectors in memory.</summary>
public enum VectorPrecision
{
    /// <summary>4 bytes a dimension: exact, 1,536 bytes a 384-d vector.</summary>
    Float32,

    /// <summary>IEEE half, 2 bytes a dimension: cosines within about 1e-3 of fp32.</summary>
    Float16,

    /// <summary>One signed byte a dimension and a scale per vector (symmetric, max-abs): a quarter of fp32.</summary>
    Int8,
}

/// <summary>
/// A growable matrix of fixed-width float vectors stored at a chosen precision, read back as fp32
/// a block of rows at a time so scoring runs on SIMD dot products over a small, cache-resident
/// buffer. Not thread-safe: the owner locks.
/// </summary>
public sealed class VectorRows
{
    /// <summary>Rows decoded per block: 32 × 384 floats is 48 KB, inside L2 on anything current.</summary>
    public const int BlockRows = 32;

    [ThreadStatic]
    private static float[]? t_scratch;

    private readonly int _width;
    private float[] _f32 = [];
    private Half[] _f16 = [];
    private sbyte[] _i8 = [];
    private float[] _scales = [];
    // Each row's sign code, CodeWords 64-bit words a row: bit i is set when element i is positive.
    private ulong[] _codes = [];
    private int _capacity;

    public VectorRows(int width, VectorPrecision precision, int capacity = 1024)
    {
        _width = width;
        Precision = precision;
        Grow(Math.Max(capacity, 1));
    }

    public VectorPrecision Precision { get; }

    public int Width => _width;

    /// <summary>64-bit words in a row's sign code (<see cref="SignCode"/>): 6 at 384 dimensions, 48 bytes.</summary>
    public int CodeWords => (_width + 63) / 64;

    /// <summary>Bytes held for vectors (what the precision buys).</summary>
    public long Bytes => Precision switch
    {
        VectorPrecision.Float32 => (long)_f32.Length * sizeof(float),
        VectorPrecision.Float16 => (long)_f16.Length * 2,
        _ => _i8.Length + ((long)_scales.Length * sizeof(float)),
    } + ((long)_codes.Length * sizeof(ulong));

    /// <summary>Makes room for rows 0 to <paramref name="rows"/> - 1.</summary>
    public void EnsureCapacity(int rows)
    {
        if (rows > _capacity)
        {
            Grow(Math.Max(rows, Math.Min(_capacity * 2, Array.MaxLength / _width)));
        }
    }

    public void Set(int row, ReadOnlySpan<float> vector)
    {
        EnsureCapacity(row + 1);
        var offset = row * _width;
        SignCode(vector, _codes.AsSpan(row * CodeWords, CodeWords));
        switch (Precision)
        {
            case VectorPrecision.Float32:
                vector.CopyTo(_f32.AsSpan(offset, _width));
                break;
            case VectorPrecision.Float16:
                TensorPrimitives.ConvertToHalf(vector, _f16.AsSpan(offset, _width));
                break;
            default:
                Quantize(vector, _i8.AsSpan(offset, _width), out _scales[row]);
                break;
        }
    }

    /// <summary>Row <paramref name="row"/> as fp32 (dequantized) into the first <see cref="Width"/> floats of <paramref name="destination"/>.</summary>
    public void Get(int row, Span<float> destination)
    {
        var offset = row * _width;
        var target = destination[.._width];
        switch (Precision)
        {
            case VectorPrecision.Float32:
                _f32.AsSpan(offset, _width).CopyTo(target);
                break;
            case VectorPrecision.Float16:
                TensorPrimitives.ConvertToSingle(new ReadOnlySpan<Half>(_f16, offset, _width), target);
                break;
            default:
                WidenToSingle(new ReadOnlySpan<sbyte>(_i8, offset, _width), target);
                TensorPrimitives.Multiply(target, _scales[row], target);
                break;
        }
    }

    /// <summary>
    /// Rows <paramref name="first"/> to <paramref name="first"/> + <paramref name="count"/> - 1 as
    /// fp32, <see cref="Width"/> floats a row. fp32 storage is returned in place; the others are
    /// decoded into <paramref name="scratch"/>. Int8 rows come back unscaled: multiply a dot
    /// product by <see cref="ScaleOf"/>, which is cheaper than scaling every element.
    /// </summary>
    public ReadOnlySpan<float> Decode(int first, int count, Span<float> scratch)
    {
        var offset = first * _width;
        var length = count * _width;
        switch (Precision)
        {
            case VectorPrecision.Float32:
                return new ReadOnlySpan<float>(_f32, offset, length);
            case VectorPrecision.Float16:
                TensorPrimitives.ConvertToSingle(new ReadOnlySpan<Half>(_f16, offset, length), scratch[..length]);
                return scratch[..length];
            default:
                WidenToSingle(new ReadOnlySpan<sbyte>(_i8, offset, length), scratch[..length]);
                return scratch[..length];
        }
    }

    /// <summary>What a dot product with row <paramref name="row"/> of <see cref="Decode"/> is multiplied by (1 unless int8).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public float ScaleOf(int row) => Precision == VectorPrecision.Int8 ? _scales[row] : 1f;

    /// <summary>A per-thread buffer for <see cref="Decode"/> of up to <see cref="BlockRows"/> rows: allocated once per thread.</summary>
    public Span<float> Scratch()
    {
        var needed = BlockRows * _width;
        if (t_scratch is null || t_scratch.Length < needed)
        {
            t_scratch = new float[needed];
        }

        return t_scratch.AsSpan(0, needed);
    }

    /// <summary>The sign codes of rows 0 to <paramref name="rows"/> - 1, back to back (<see cref="CodeWords"/> a row).</summary>
    internal ReadOnlySpan<ulong> Codes(int rows) => new(_codes, 0, rows * CodeWords);

    /// <summary>
    /// A vector's sign code: bit i (of word i / 64) is set when element i is positive. The Hamming
    /// distance between two codes estimates the angle between the vectors (random-hyperplane
    /// hashing with the axes as hyperplanes): one XOR and one popcount per 64 dimensions, the
    /// prefilter of <see cref="PaperIndex.Top"/> on large indexes.
    /// </summary>
    internal static void SignCode(ReadOnlySpan<float> vector, Span<ulong> destination)
    {
        destination.Clear();
        for (var i = 0; i < vector.Length; i++)
        {
            if (vector[i] > 0)
            {
                destination[i >> 6] |= 1UL << (i & 63);
            }
        }
    }

    /// <summary>
    /// For each row of <paramref name="rows"/> (sign codes, <paramref name="words"/> a row), the
    /// smallest Hamming distance to any of <paramref name="queries"/> (codes back to back) into
    /// <paramref name="distances"/>, and how many rows have each distance into
    /// <paramref name="histogram"/> (at least words × 64 + 1 long, cleared by the caller).
    /// </summary>
    internal static void NearestCodes(ReadOnlySpan<ulong> rows, ReadOnlySpan<ulong> queries, int words, Span<ushort> distances, Span<int> histogram)
    {
        var count = distances.Length;
        var queryCount = queries.Length / words;
        if (queryCount == 0 || rows.Length < count * words || histogram.Length <= words * 64 || queries.Length != queryCount * words)
        {
            throw new ArgumentException("The codes, distances and histogram do not fit together, or there is no query.");
        }

        if (words == 6)
        {
            // 384 dimensions: one pass over the rows per query (48 bytes a row, read in order),
            // each later query's distances folded in with a vectorised minimum.
            DistancesAt384(rows, queries[..6], distances);
            if (queryCount > 1)
            {
                var other = t_otherDistances is { } kept && kept.Length >= count ? kept.AsSpan(0, count) : (t_otherDistances = new ushort[count]).AsSpan();
                for (var q = 1; q < queryCount; q++)
                {
                    DistancesAt384(rows, queries.Slice(q * 6, 6), other);
                    TensorPrimitives.Min(distances, other, distances);
                }
            }

            ref var distance = ref MemoryMarshal.GetReference(distances);
            ref var bucket = ref MemoryMarshal.GetReference(histogram);
            for (var r = 0; r < count; r++)
            {
                Unsafe.Add(ref bucket, Unsafe.Add(ref distance, r))++;
            }

            return;
        }

        for (var r = 0; r < count; r++)
        {
            var row = rows.Slice(r * words, words);
            var nearest = int.MaxValue;
            for (var q = 0; q < queryCount; q++)
            {
                var code = queries.Slice(q * words, words);
                var distance = 0;
                for (var w = 0; w < words; w++)
                {
                    distance += BitOperations.PopCount(row[w] ^ code[w]);
                }

                nearest = Math.Min(nearest, distance);
            }

            distances[r] = (ushort)nearest;
            histogram[nearest]++;
        }
    }

    /// <summary>
    /// Asks the CPU to start loading row <paramref name="row"/> into cache (a hint: nothing waits
    /// for it and nothing faults). Scoring scattered rows one after another waits a memory latency
    /// per row; hinting a few rows ahead overlaps those waits.
    /// </summary>
    internal unsafe void Prefetch(int row)
    {
        if (!Sse.IsSupported)
        {
            return;
        }

        // The address is only a hint: if the GC moves the array meanwhile, a stale line is loaded.
        byte* address;
        int bytes;
        if (Precision == VectorPrecision.Float32)
        {
            address = (byte*)Unsafe.AsPointer(ref _f32[row * _width]);
            bytes = _width * sizeof(float);
        }
        else if (Precision == VectorPrecision.Float16)
        {
            address = (byte*)Unsafe.AsPointer(ref _f16[row * _width]);
            bytes = _width * 2;
        }
        else
        {
            address = (byte*)Unsafe.AsPointer(ref _i8[row * _width]);
            bytes = _width;
        }

        for (var offset = 0; offset < bytes; offset += 64)
        {
            Sse.Prefetch0(address + offset);
        }
    }

    [ThreadStatic]
    private static ushort[]? t_otherDistances;

    /// <summary>The Hamming distance of each 384-bit code in <paramref name="rows"/> to <paramref name="query"/>; the query's six words stay in registers.</summary>
    private static void DistancesAt384(ReadOnlySpan<ulong> rows, ReadOnlySpan<ulong> query, Span<ushort> distances)
    {
        var (q0, q1, q2, q3, q4, q5) = (query[0], query[1], query[2], query[3], query[4], query[5]);
        ref var row = ref MemoryMarshal.GetReference(rows);
        ref var distance = ref MemoryMarshal.GetReference(distances);
        for (var r = 0; r < distances.Length; r++, row = ref Unsafe.Add(ref row, 6))
        {
            var d = BitOperations.PopCount(row ^ q0) + BitOperations.PopCount(Unsafe.Add(ref row, 1) ^ q1) + BitOperations.PopCount(Unsafe.Add(ref row, 2) ^ q2)
                + BitOperations.PopCount(Unsafe.Add(ref row, 3) ^ q3) + BitOperations.PopCount(Unsafe.Add(ref row, 4) ^ q4) + BitOperations.PopCount(Unsafe.Add(ref row, 5) ^ q5);
            Unsafe.Add(ref distance, r) = (ushort)d;
        }
    }

    /// <summary>The int8 row <paramref name="row"/> (unscaled; see <see cref="ScaleOf"/>). Int8 storage only.</summary>
    internal ReadOnlySpan<sbyte> Int8Row(int row) => new(_i8, row * _width, _width);

    /// <summary>
    /// A query for <see cref="DotInt8"/>: symmetric int16 quantization (the largest magnitude maps
    /// to 32,767), so the error is about 1.5e-5 of the largest element, far below int8's. The dot
    /// product of an int8 row and an int16 query is exact in int32 for up to 512 dimensions
    /// (127 × 32,767 × 512 &lt; 2³¹).
    /// </summary>
    internal static float QuantizeQuery(ReadOnlySpan<float> vector, Span<short> destination)
    {
        var maxAbs = MathF.Abs(TensorPrimitives.MaxMagnitude(vector));
        if (maxAbs == 0 || !float.IsFinite(maxAbs))
        {
            destination.Clear();
            return 0;
        }

        var inverse = 32767f / maxAbs;
        for (var i = 0; i < vector.Length; i++)
        {
            destination[i] = (short)Math.Clamp(MathF.Round(vector[i] * inverse), -32767, 32767);
        }

        return maxAbs / 32767f;
    }

    /// <summary>
    /// The best of <see cref="DotInt8"/> over several queries of 384 values (back to back in
    /// <paramref name="queries"/>), each times its scale: the same integers as one DotInt8 per
    /// query, but the row is widened to int16 once (twelve AVX-512 registers) instead of once per
    /// query. Needs AVX-512BW; callers check <see cref="CanScoreManyAt384"/>.
    /// </summary>
    internal static (float Score, int Query) BestDotInt8At384(ReadOnlySpan<sbyte> row, ReadOnlySpan<short> queries, ReadOnlySpan<float> scales)
    {
        ref var r = ref MemoryMarshal.GetReference(row);
        var w0 = Avx512BW.ConvertToVector512Int16(Vector256.LoadUnsafe(ref r, 0));
        var w1 = Avx512BW.ConvertToVector512Int16(Vector256.LoadUnsafe(ref r, 32));
        var w2 = Avx512BW.ConvertToVector512Int16(Vector256.LoadUnsafe(ref r, 64));
        var w3 = Avx512BW.ConvertToVector512Int16(Vector256.LoadUnsafe(ref r, 96));
        var w4 = Avx512BW.ConvertToVector512Int16(Vector256.LoadUnsafe(ref r, 128));
        var w5 = Avx512BW.ConvertToVector512Int16(Vector256.LoadUnsafe(ref r, 160));
        var w6 = Avx512BW.ConvertToVector512Int16(Vector256.LoadUnsafe(ref r, 192));
        var w7 = Avx512BW.ConvertToVector512Int16(Vector256.LoadUnsafe(ref r, 224));
        var w8 = Avx512BW.ConvertToVector512Int16(Vector256.LoadUnsafe(ref r, 256));
        var w9 = Avx512BW.ConvertToVector512Int16(Vector256.LoadUnsafe(ref r, 288));
        var w10 = Avx512BW.ConvertToVector512Int16(Vector256.LoadUnsafe(ref r, 320));
        var w11 = Avx512BW.ConvertToVector512Int16(Vector256.LoadUnsafe(ref r, 352));
        var best = float.NegativeInfinity;
        var bestQuery = 0;
        ref var q = ref MemoryMarshal.GetReference(queries);
        for (var k = 0; k < scales.Length; k++, q = ref Unsafe.Add(ref q, 384))
        {
            var a = Avx512BW.MultiplyAddAdjacent(w0, Vector512.LoadUnsafe(ref q, 0))
                + Avx512BW.MultiplyAddAdjacent(w1, Vector512.LoadUnsafe(ref q, 32))
                + Avx512BW.MultiplyAddAdjacent(w2, Vector512.LoadUnsafe(ref q, 64))
                + Avx512BW.MultiplyAddAdjacent(w3, Vector512.LoadUnsafe(ref q, 96));
            var b = Avx512BW.MultiplyAddAdjacent(w4, Vector512.LoadUnsafe(ref q, 128))
                + Avx512BW.MultiplyAddAdjacent(w5, Vector512.LoadUnsafe(ref q, 160))
                + Avx512BW.MultiplyAddAdjacent(w6, Vector512.LoadUnsafe(ref q, 192))
                + Avx512BW.MultiplyAddAdjacent(w7, Vector512.LoadUnsafe(ref q, 224));
            var c = Avx512BW.MultiplyAddAdjacent(w8, Vector512.LoadUnsafe(ref q, 256))
                + Avx512BW.MultiplyAddAdjacent(w9, Vector512.LoadUnsafe(ref q, 288))
                + Avx512BW.MultiplyAddAdjacent(w10, Vector512.LoadUnsafe(ref q, 320))
                + Avx512BW.MultiplyAddAdjacent(w11, Vector512.LoadUnsafe(ref q, 352));
            var score = Vector512.Sum(a + b + c) * scales[k];
            if (score > best)
            {
                best = score;
                bestQuery = k;
            }
        }

        return (best, bestQuery);
    }

    /// <summary>Whether <see cref="BestDotInt8At384"/> runs here (AVX-512BW).</summary>
    internal static bool CanScoreManyAt384 => Avx512BW.IsSupported;

    /// <summary>
    /// Σ row[i] · query[i] in int32: int8 widened to int16 and multiplied pairwise into int32
    /// (vpmaddwd), 32 elements at a time with AVX-512BW, 16 with AVX2, scalar otherwise. No decode
    /// into floats and no scratch buffer: a quarter of the bytes of fp32 and about a third of the
    /// instructions of widening to float.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static int DotInt8(ReadOnlySpan<sbyte> row, ReadOnlySpan<short> query)
    {
        var length = row.Length;
        ref var r = ref MemoryMarshal.GetReference(row);
        ref var q = ref MemoryMarshal.GetReference(query);
        var i = 0;
        var sum = 0;
        if (Avx512BW.IsSupported && length >= 64)
        {
            var a = Vector512<int>.Zero;
            var b = Vector512<int>.Zero;
            for (; i <= length - 64; i += 64)
            {
                a += Avx512BW.MultiplyAddAdjacent(Avx512BW.ConvertToVector512Int16(Vector256.LoadUnsafe(ref r, (nuint)i)), Vector512.LoadUnsafe(ref q, (nuint)i));
                b += Avx512BW.MultiplyAddAdjacent(Avx512BW.ConvertToVector512Int16(Vector256.LoadUnsafe(ref r, (nuint)(i + 32))), Vector512.LoadUnsafe(ref q, (nuint)(i + 32)));
            }

            for (; i <= length - 32; i += 32)
            {
                a += Avx512BW.MultiplyAddAdjacent(Avx512BW.ConvertToVector512Int16(Vector256.LoadUnsafe(ref r, (nuint)i)), Vector512.LoadUnsafe(ref q, (nuint)i));
            }

            sum = Vector512.Sum(a + b);
        }
        else if (Avx2.IsSupported && length >= 32)
        {
            var a = Vector256<int>.Zero;
            var b = Vector256<int>.Zero;
            for (; i <= length - 32; i += 32)
            {
                a += Avx2.MultiplyAddAdjacent(Avx2.ConvertToVector256Int16(Vector128.LoadUnsafe(ref r, (nuint)i)), Vector256.LoadUnsafe(ref q, (nuint)i));
                b += Avx2.MultiplyAddAdjacent(Avx2.ConvertToVector256Int16(Vector128.LoadUnsafe(ref r, (nuint)(i + 16))), Vector256.LoadUnsafe(ref q, (nuint)(i + 16)));
            }

            sum = Vector256.Sum(a + b);
        }

        for (; i < length; i++)
        {
            sum += Unsafe.Add(ref r, i) * Unsafe.Add(ref q, i);
        }

        return sum;
    }

    /// <summary>Symmetric per-vector quantization: the largest magnitude maps to 127.</summary>
    internal static void Quantize(ReadOnlySpan<float> vector, Span<sbyte> destination, out float scale)
    {
        var maxAbs = TensorPrimitives.MaxMagnitude(vector);
        maxAbs = MathF.Abs(maxAbs);
        if (maxAbs == 0 || !float.IsFinite(maxAbs))
        {
            destination.Clear();
            scale = 0;
            return;
        }

        scale = maxAbs / 127f;
        var inverse = 127f / maxAbs;
        for (var i = 0; i < vector.Length; i++)
        {
            destination[i] = (sbyte)Math.Clamp(MathF.Round(vector[i] * inverse), -127, 127);
        }
    }

    /// <summary>sbyte to float, 32 at a time (AVX2/AVX-512 widening), scalar for the tail.</summary>
    internal static void WidenToSingle(ReadOnlySpan<sbyte> source, Span<float> destination)
    {
        var i = 0;
        if (Vector256.IsHardwareAccelerated)
        {
            ref var src = ref MemoryMarshal.GetReference(source);
            ref var dst = ref MemoryMarshal.GetReference(destination);
            for (; i <= source.Length - Vector256<sbyte>.Count; i += Vector256<sbyte>.Count)
            {
                var bytes = Vector256.LoadUnsafe(ref src, (nuint)i);
                var (lowShorts, highShorts) = Vector256.Widen(bytes);
                var (a, b) = Vector256.Widen(lowShorts);
                var (c, d) = Vector256.Widen(highShorts);
                Vector256.ConvertToSingle(a).StoreUnsafe(ref dst, (nuint)i);
                Vector256.ConvertToSingle(b).StoreUnsafe(ref dst, (nuint)(i + 8));
                Vector256.ConvertToSingle(c).StoreUnsafe(ref dst, (nuint)(i + 16));
                Vector256.ConvertToSingle(d).StoreUnsafe(ref dst, (nuint)(i + 24));
            }
        }

        for (; i < source.Length; i++)
        {
            destination[i] = source[i];
        }
    }

    private void Grow(int capacity)
    {
        var elements = capacity * _width;
        switch (Precision)
        {
            case VectorPrecision.Float32:
                Array.Resize(ref _f32, elements);
                break;
            case VectorPrecision.Float16:
                Array.Resize(ref _f16, elements);
                break;
            default:
                Array.Resize(ref _i8, elements);
                Array.Resize(ref _scales, capacity);
                break;
        }

        Array.Resize(ref _codes, capacity * CodeWords);

        _capacity = capacity;
    }
}
