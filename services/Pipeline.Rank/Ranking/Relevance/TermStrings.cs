namespace Pipeline.Rank.Ranking.Relevance;

/// <summary>
/// An ordinal string comparer that a dictionary keyed by term can be asked with a span of
/// characters, and that hands out the same string for the same term each time it must make one:
/// counting a paper's terms then makes a string only for a term this instance has not met yet,
/// not one per distinct term per paper (about 90 strings, 3.6 KB, of each abstract).
/// </summary>
/// <remarks>
/// It remembers at most <see cref="Capacity"/> terms and starts again when full, so a table that
/// counts many papers stays bounded (about 1 MB at 16,384 terms). Not thread-safe: each counting
/// table has its own (<see cref="LexicalIndex"/> lends one to each concurrent <c>Add</c> and drops
/// them after a bulk load).
/// </remarks>
public sealed class TermStrings(int capacity = TermStrings.DefaultCapacity)
    : IEqualityComparer<string>, IAlternateEqualityComparer<ReadOnlySpan<char>, string>
{
    public const int DefaultCapacity = 16_384;

    private readonly HashSet<string> _known = new(StringComparer.Ordinal);

    /// <summary>How many terms it remembers at most.</summary>
    public int Capacity { get; } = capacity > 0 ? capacity : throw new ArgumentOutOfRangeException(nameof(capacity), capacity, "The capacity is at least 1.");

    /// <summary>How many terms it remembers now.</summary>
    public int Count => _known.Count;

    /// <summary>The string of <paramref name="term"/>: the one made before, or a new one remembered from now on.</summary>
    public string Create(ReadOnlySpan<char> term)
    {
        var known = _known.GetAlternateLookup<ReadOnlySpan<char>>();
        if (known.TryGetValue(term, out var made))
        {
            return made;
        }

        if (_known.Count >= Capacity)
        {
            _known.Clear();
        }

        made = new string(term);
        _known.Add(made);
        return made;
    }

    public bool Equals(string? x, string? y) => string.Equals(x, y, StringComparison.Ordinal);

    public int GetHashCode(string obj) => string.GetHashCode(obj.AsSpan());

    public bool Equals(ReadOnlySpan<char> alternate, string other) => alternate.SequenceEqual(other);

    public int GetHashCode(ReadOnlySpan<char> alternate) => string.GetHashCode(alternate);
}
