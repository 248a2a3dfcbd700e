using System.Collections;
using System.Numerics.Tensors;

namespace Pipeline.Rank.Ranking;

/// <summary>
/// A profile's interest vectors kept in half precision (2 bytes a component instead of 4), handed
/// out as fresh float arrays. 10,000 subscribers with three interests each hold 46 MB of fp32
/// vectors; in fp16 they hold 23 MB. A unit vector's components lose at most 2^-11 of their value
/// (relative), so a cosine moves by about 1e-4 (the tests' When_profile_vectors_are_kept_in_half_precision
/// hold it under 2e-4): far below what separates one paper from the next, and the instant matcher's exact
/// re-check and the int8 matrix are both built from these same values, so they agree.
/// </summary>
public sealed class HalfVectors : IReadOnlyList<float[]>
{
    private readonly Half[] _values;
    private readonly int[] _starts;

    private HalfVectors(IReadOnlyList<float[]> vectors)
    {
        _starts = new int[vectors.Count + 1];
        for (var i = 0; i < vectors.Count; i++)
        {
            _starts[i + 1] = _starts[i] + vectors[i].Length;
        }

        _values = new Half[_starts[^1]];
        for (var i = 0; i < vectors.Count; i++)
        {
            TensorPrimitives.ConvertToHalf(vectors[i], _values.AsSpan(_starts[i], vectors[i].Length));
        }
    }

    /// <summary>The vectors in half precision; a list that already is one is returned as it is.</summary>
    public static IReadOnlyList<float[]> Of(IReadOnlyList<float[]> vectors) =>
        vectors as HalfVectors ?? new HalfVectors(vectors);

    public int Count => _starts.Length - 1;

    /// <summary>A new array each time: callers may keep or change it.</summary>
    public float[] this[int index]
    {
        get
        {
            ArgumentOutOfRangeException.ThrowIfNegative(index);
            ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual(index, Count);
            var vector = new float[_starts[index + 1] - _starts[index]];
            TensorPrimitives.ConvertToSingle(_values.AsSpan(_starts[index], vector.Length), vector);
            return vector;
        }
    }

    /// <summary>The dot product of vector <paramref name="index"/> with <paramref name="other"/>, without a copy on the heap.</summary>
    public float Dot(int index, ReadOnlySpan<float> other)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(index);
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual(index, Count);
        var length = _starts[index + 1] - _starts[index];
        Span<float> vector = length <= 1024 ? stackalloc float[length] : new float[length];
        TensorPrimitives.ConvertToSingle(_values.AsSpan(_starts[index], length), vector);
        return TensorPrimitives.Dot(vector, other);
    }

    public IEnumerator<float[]> GetEnumerator()
    {
        for (var i = 0; i < Count; i++)
        {
            yield return this[i];
        }
    }

    IEnumerator IEnumerable.GetEnumerator() => GetEnumerator();
}
