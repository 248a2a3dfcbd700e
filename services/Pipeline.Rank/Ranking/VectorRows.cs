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
    // Each row's sign code (bit i set when element i is positive), CodeWords 64-bit words a row,
    // in blocks of CodeBlockRows rows stored word by word (see CodeIndex), so one SIMD register
    // holds the same word of eight rows.
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
        var words = CodeWords;
        Span<ulong> code = words <= 32 ? stackalloc ulong[words] : new ulong[words];
        SignCode(vector, code);
        for (var w = 0; w < words; w++)
        {
            _codes[CodeIndex(row, w, words)] = code[w];
        }

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

    /// <summary>Rows in a block of the sign-code layout (<see cref="CodeIndex"/>).</summary>
    internal const int CodeBlockRows = 8;

    /// <summary>
    /// Where word <paramref name="word"/> of row <paramref name="row"/>'s sign code is kept: rows in
    /// blocks of eight, each block word by word (the eight rows' word 0, then their word 1, ...).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static int CodeIndex(int row, int word, int words) => ((((row / CodeBlockRows) * words) + word) * CodeBlockRows) + (row % CodeBlockRows);

    /// <summary>Code words needed for <paramref name="rows"/> rows: whole blocks.</summary>
    internal static int CodeLength(int rows, int words) => (rows + CodeBlockRows - 1) / CodeBlockRows * CodeBlockRows * words;

    /// <summary>The sign codes of rows 0 to <paramref name="rows"/> - 1 (whole blocks, laid out as <see cref="CodeIndex"/> says).</summary>
    internal ReadOnlySpan<ulong> Codes(int rows) => new(_codes, 0, CodeLength(rows, CodeWords));

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
    /// For each row of <paramref name="rows"/> (sign codes, <paramref name="words"/> a row, laid out
    /// as <see cref="CodeIndex"/> says), the smallest Hamming distance to any of
    /// <paramref name="queries"/> (codes back to back, row after row) into
    /// <paramref name="distances"/>, and how many rows have each distance into
    /// <paramref name="histogram"/> (at least words × 64 + 1 long, cleared by the caller).
    /// </summary>
    internal static void NearestCodes(ReadOnlySpan<ulong> rows, ReadOnlySpan<ulong> queries, int words, Span<ushort> distances, Span<int> histogram, bool vectorised = true)
    {
        var count = distances.Length;
        var queryCount = words > 0 ? queries.Length / words : 0;
        if (queryCount == 0 || rows.Length < CodeLength(count, words) || histogram.Length <= words * 64 || queries.Length != queryCount * words)
        {
            throw new ArgumentException("The codes, distances and histogram do not fit together, or there is no query.");
        }

        if (vectorised && Avx512BW.IsSupported && words == 6)
        {
            NearestCodesAvx512At384(rows, queries, distances, histogram);
            return;
        }

        if (vectorised && Avx512BW.IsSupported && words <= 31)
        {
            NearestCodesAvx512(rows, queries, words, distances, histogram);
            return;
        }

        if (words == 6)
        {
            NearestCodesAt384(rows, queries, distances, histogram);
            return;
        }

        for (var r = 0; r < count; r++)
        {
            var nearest = int.MaxValue;
            for (var q = 0; q < queryCount; q++)
            {
                var distance = 0;
                for (var w = 0; w < words; w++)
                {
                    distance += BitOperations.PopCount(rows[CodeIndex(r, w, words)] ^ queries[(q * words) + w]);
                }

                nearest = Math.Min(nearest, distance);
            }

            distances[r] = (ushort)nearest;
            histogram[nearest]++;
        }
    }

    /// <summary>
    /// <see cref="NearestCodes"/> eight rows at a time: a register holds one code word of a block's
    /// eight rows; XOR with the query word, count the bits of each byte with two table look-ups
    /// (a nibble each, <c>vpshufb</c>), add the bytes over the words, and one <c>vpsadbw</c> sums
    /// each row's bytes into its lane. x86 has a vector popcount (AVX-512 VPOPCNTDQ), but .NET 10
    /// exposes none. The histogram is kept in four interleaved copies so consecutive rows with the
    /// same distance do not wait on each other's increment.
    /// </summary>
    private static void NearestCodesAvx512(ReadOnlySpan<ulong> rows, ReadOnlySpan<ulong> queries, int words, Span<ushort> distances, Span<int> histogram)
    {
        var count = distances.Length;
        var queryCount = queries.Length / words;
        var nibbleBits = NibbleBits();
        var lowNibble = Vector512.Create((byte)0x0F);
        Span<Vector512<ulong>> broadcast = queries.Length <= 64 ? stackalloc Vector512<ulong>[queries.Length] : new Vector512<ulong>[queries.Length];
        Broadcast(queries, broadcast);

        var stride = (words * 64) + 1;
        Span<int> counts = stackalloc int[4 * stride];
        counts.Clear();
        ref var code = ref MemoryMarshal.GetReference(rows);
        ref var distance = ref MemoryMarshal.GetReference(distances);
        var blockWords = CodeBlockRows * words;
        for (var first = 0; first < count; first += CodeBlockRows)
        {
            ref var block = ref Unsafe.Add(ref code, (first / CodeBlockRows) * blockWords);
            var nearest = Vector512<ulong>.AllBitsSet;
            for (var q = 0; q < queryCount; q++)
            {
                var bits = Vector512<byte>.Zero;
                for (var w = 0; w < words; w++)
                {
                    var x = Vector512.LoadUnsafe(ref block, (nuint)(w * CodeBlockRows)) ^ broadcast[(q * words) + w];
                    bits += Avx512BW.Shuffle(nibbleBits, x.AsByte() & lowNibble)
                        + Avx512BW.Shuffle(nibbleBits, Vector512.ShiftRightLogical(x, 4).AsByte() & lowNibble);
                }

                nearest = Vector512.Min(nearest, Avx512BW.SumAbsoluteDifferences(bits, Vector512<byte>.Zero).AsUInt64());
            }

            StoreBlock(nearest, first, count, ref distance, counts, stride);
        }

        FoldCounts(counts, stride, histogram);
    }

    /// <summary>
    /// <see cref="NearestCodesAvx512"/> for 384-bit codes (six words a row), with half the bit
    /// counts: a query's six XORed words are first added bit by bit with carry-save adders
    /// (Harley and Seal; each adder is two <c>vpternlogq</c>, the three-way XOR and the majority)
    /// into three words weighing 1, 2 and 4, and only those three are counted, by table look-ups
    /// whose tables are scaled by the weights. A byte's count is then at most 8 + 16 + 32 = 56. The
    /// same distances as counting each word.
    /// </summary>
    private static void NearestCodesAvx512At384(ReadOnlySpan<ulong> rows, ReadOnlySpan<ulong> queries, Span<ushort> distances, Span<int> histogram)
    {
        const int words = 6;
        var count = distances.Length;
        var queryCount = queries.Length / words;
        var ones = NibbleBits();
        var twos = ones + ones;
        var fours = twos + twos;
        var lowNibble = Vector512.Create((byte)0x0F);
        Span<Vector512<ulong>> broadcast = queries.Length <= 64 ? stackalloc Vector512<ulong>[queries.Length] : new Vector512<ulong>[queries.Length];
        Broadcast(queries, broadcast);

        const int stride = (words * 64) + 1;
        Span<int> counts = stackalloc int[4 * stride];
        counts.Clear();
        ref var code = ref MemoryMarshal.GetReference(rows);
        ref var distance = ref MemoryMarshal.GetReference(distances);
        const int blockWords = CodeBlockRows * words;
        for (var first = 0; first < count; first += CodeBlockRows)
        {
            ref var block = ref Unsafe.Add(ref code, (first / CodeBlockRows) * blockWords);
            var w0 = Vector512.LoadUnsafe(ref block);
            var w1 = Vector512.LoadUnsafe(ref block, CodeBlockRows);
            var w2 = Vector512.LoadUnsafe(ref block, 2 * CodeBlockRows);
            var w3 = Vector512.LoadUnsafe(ref block, 3 * CodeBlockRows);
            var w4 = Vector512.LoadUnsafe(ref block, 4 * CodeBlockRows);
            var w5 = Vector512.LoadUnsafe(ref block, 5 * CodeBlockRows);
            var nearest = Vector512<ulong>.AllBitsSet;
            for (var q = 0; q < queryCount; q++)
            {
                var at = q * words;
                var (x0, x1, x2) = (w0 ^ broadcast[at], w1 ^ broadcast[at + 1], w2 ^ broadcast[at + 2]);
                var (x3, x4, x5) = (w3 ^ broadcast[at + 3], w4 ^ broadcast[at + 4], w5 ^ broadcast[at + 5]);
                // Two carry-save adders, a half adder, and one more: bit sums weighing 1, 2 and 4.
                var sum1 = Avx512F.TernaryLogic(x0, x1, x2, 0x96);
                var carry1 = Avx512F.TernaryLogic(x0, x1, x2, 0xE8);
                var sum2 = Avx512F.TernaryLogic(x3, x4, x5, 0x96);
                var carry2 = Avx512F.TernaryLogic(x3, x4, x5, 0xE8);
                var single = sum1 ^ sum2;
                var carry3 = sum1 & sum2;
                var pairs = Avx512F.TernaryLogic(carry1, carry2, carry3, 0x96);
                var quads = Avx512F.TernaryLogic(carry1, carry2, carry3, 0xE8);
                var bits = Avx512BW.Shuffle(ones, single.AsByte() & lowNibble)
                    + Avx512BW.Shuffle(ones, Vector512.ShiftRightLogical(single, 4).AsByte() & lowNibble)
                    + Avx512BW.Shuffle(twos, pairs.AsByte() & lowNibble)
                    + Avx512BW.Shuffle(twos, Vector512.ShiftRightLogical(pairs, 4).AsByte() & lowNibble)
                    + Avx512BW.Shuffle(fours, quads.AsByte() & lowNibble)
                    + Avx512BW.Shuffle(fours, Vector512.ShiftRightLogical(quads, 4).AsByte() & lowNibble);
                nearest = Vector512.Min(nearest, Avx512BW.SumAbsoluteDifferences(bits, Vector512<byte>.Zero).AsUInt64());
            }

            StoreBlock(nearest, first, count, ref distance, counts, stride);
        }

        FoldCounts(counts, stride, histogram);
    }

    /// <summary>Each byte's count of set bits, by the value of a nibble: the table the AVX-512 kernels look up.</summary>
    private static Vector512<byte> NibbleBits() =>
        Vector512.Create((byte)0, 1, 1, 2, 1, 2, 2, 3, 1, 2, 2, 3, 2, 3, 3, 4, 0, 1, 1, 2, 1, 2, 2, 3, 1, 2, 2, 3, 2, 3, 3, 4,
            0, 1, 1, 2, 1, 2, 2, 3, 1, 2, 2, 3, 2, 3, 3, 4, 0, 1, 1, 2, 1, 2, 2, 3, 1, 2, 2, 3, 2, 3, 3, 4);

    /// <summary>Each query word in every lane of a register.</summary>
    private static void Broadcast(ReadOnlySpan<ulong> queries, Span<Vector512<ulong>> broadcast)
    {
        for (var i = 0; i < queries.Length; i++)
        {
            broadcast[i] = Vector512.Create(queries[i]);
        }
    }

    /// <summary>
    /// Stores the distances of the block of rows from <paramref name="first"/> (eight, fewer in the
    /// last block) and counts them into four interleaved histograms of <paramref name="stride"/>
    /// entries, so consecutive rows with the same distance do not wait on each other's increment.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void StoreBlock(Vector512<ulong> nearest, int first, int count, ref ushort distance, Span<int> counts, int stride)
    {
        var narrow = Avx512F.ConvertToVector128UInt16(nearest);
        if (first + CodeBlockRows <= count)
        {
            narrow.StoreUnsafe(ref distance, (nuint)first);
            ref var stored = ref Unsafe.Add(ref distance, first);
            counts[stored]++;
            counts[stride + Unsafe.Add(ref stored, 1)]++;
            counts[(2 * stride) + Unsafe.Add(ref stored, 2)]++;
            counts[(3 * stride) + Unsafe.Add(ref stored, 3)]++;
            counts[Unsafe.Add(ref stored, 4)]++;
            counts[stride + Unsafe.Add(ref stored, 5)]++;
            counts[(2 * stride) + Unsafe.Add(ref stored, 6)]++;
            counts[(3 * stride) + Unsafe.Add(ref stored, 7)]++;
        }
        else
        {
            for (var r = 0; first + r < count; r++)
            {
                int d = narrow.GetElement(r);
                Unsafe.Add(ref distance, first + r) = (ushort)d;
                counts[d]++;
            }
        }
    }

    /// <summary>Adds the four interleaved histograms of <see cref="StoreBlock"/> into <paramref name="histogram"/>.</summary>
    private static void FoldCounts(ReadOnlySpan<int> counts, int stride, Span<int> histogram)
    {
        for (var d = 0; d < stride; d++)
        {
            histogram[d] += counts[d] + counts[stride + d] + counts[(2 * stride) + d] + counts[(3 * stride) + d];
        }
    }

    /// <summary>
    /// <see cref="NearestCodes"/> for 384-bit codes with scalar popcounts: a row's six words are
    /// loaded once for all the queries, and each query's six words stay in registers for one.
    /// </summary>
    private static void NearestCodesAt384(ReadOnlySpan<ulong> rows, ReadOnlySpan<ulong> queries, Span<ushort> distances, Span<int> histogram)
    {
        var count = distances.Length;
        var queryCount = queries.Length / 6;
        var stride = (6 * 64) + 1;
        Span<int> counts = stackalloc int[4 * stride];
        counts.Clear();
        ref var code = ref MemoryMarshal.GetReference(rows);
        ref var query = ref MemoryMarshal.GetReference(queries);
        for (var r = 0; r < count; r++)
        {
            ref var row = ref Unsafe.Add(ref code, ((r / CodeBlockRows) * CodeBlockRows * 6) + (r % CodeBlockRows));
            var (w0, w1, w2, w3, w4, w5) = (row, Unsafe.Add(ref row, 8), Unsafe.Add(ref row, 16), Unsafe.Add(ref row, 24), Unsafe.Add(ref row, 32), Unsafe.Add(ref row, 40));
            var nearest = int.MaxValue;
            for (var q = 0; q < queryCount; q++)
            {
                ref var qw = ref Unsafe.Add(ref query, q * 6);
                var d = BitOperations.PopCount(w0 ^ qw) + BitOperations.PopCount(w1 ^ Unsafe.Add(ref qw, 1)) + BitOperations.PopCount(w2 ^ Unsafe.Add(ref qw, 2))
                    + BitOperations.PopCount(w3 ^ Unsafe.Add(ref qw, 3)) + BitOperations.PopCount(w4 ^ Unsafe.Add(ref qw, 4)) + BitOperations.PopCount(w5 ^ Unsafe.Add(ref qw, 5));
                nearest = Math.Min(nearest, d);
            }

            distances[r] = (ushort)nearest;
            counts[((r & 3) * stride) + nearest]++;
        }

        for (var d = 0; d < stride; d++)
        {
            histogram[d] += counts[d] + counts[stride + d] + counts[(2 * stride) + d] + counts[(3 * stride) + d];
        }
    }

    /// <summary>
    /// Appends to <paramref name="rows"/> the indexes of the <paramref name="distances"/> in
    /// [<paramref name="from"/>, <paramref name="below"/>), in order: 32 distances compared at once,
    /// and only the few that match (a prefilter keeps about 2 %) are visited one by one.
    /// </summary>
    internal static void RowsWithin(ReadOnlySpan<ushort> distances, int from, int below, List<int> rows)
    {
        var i = 0;
        if (from >= below)
        {
            return;
        }

        if (Vector512.IsHardwareAccelerated && below <= ushort.MaxValue)
        {
            var low = Vector512.Create((ushort)Math.Max(from, 0));
            var high = Vector512.Create((ushort)below);
            ref var start = ref MemoryMarshal.GetReference(distances);
            for (; i <= distances.Length - Vector512<ushort>.Count; i += Vector512<ushort>.Count)
            {
                var values = Vector512.LoadUnsafe(ref start, (nuint)i);
                var mask = (Vector512.GreaterThanOrEqual(values, low) & Vector512.LessThan(values, high)).ExtractMostSignificantBits();
                while (mask != 0)
                {
                    rows.Add(i + BitOperations.TrailingZeroCount(mask));
                    mask &= mask - 1;
                }
            }
        }

        for (; i < distances.Length; i++)
        {
            if (distances[i] >= from && distances[i] < below)
            {
                rows.Add(i);
            }
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

        // The code layout depends on the row alone, so resizing keeps every code where it is.
        Array.Resize(ref _codes, CodeLength(capacity, CodeWords));

        _capacity = capacity;
    }
}
