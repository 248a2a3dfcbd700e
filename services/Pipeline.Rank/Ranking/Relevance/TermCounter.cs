using System.Runtime.InteropServices;

namespace Pipeline.Rank.Ranking.Relevance;

/// <summary>
/// Counts one text's terms (a paper's title and abstract) at a time, reused from text to text by
/// the lexical index, and remembers what it worked out for the words it has met: the term a word
/// stems to (so a word met before is counted with one lookup, not stemmed and hashed again), the
/// term's string (made once), and the index's id for the term (looked up once under the index's
/// lock, not once a paper).
/// </summary>
/// <remarks>
/// It remembers about <see cref="Capacity"/> terms and words and forgets them all when a new text
/// starts past that (<see cref="Begin"/>), so a counter that counts many papers stays bounded
/// (about 2 MB). Not thread-safe: the index lends one to each concurrent <c>Add</c>, and an id it
/// remembers belongs to that index only (ids are never reused there: a term keeps its id for the
/// life of the index).
/// </remarks>
internal sealed class TermCounter(int capacity = TermCounter.DefaultCapacity)
{
    public const int DefaultCapacity = 16_384;

    /// <summary>A word as the tokenizer cut it (lowercased) → the index of the term it stems to.</summary>
    private readonly Dictionary<string, int> _words = new(StringComparer.Ordinal);
    private readonly Dictionary<string, int> _termIndexes = new(StringComparer.Ordinal);
    private string[] _terms = new string[256];
    private int[] _ids = new int[256];
    private int[] _title = new int[256];
    private int[] _abstract = new int[256];
    private int[] _counted = new int[256];
    private int _termCount;
    private int _countedCount;

    /// <summary>How many terms and words it remembers at most between texts.</summary>
    public int Capacity { get; } = capacity > 0 ? capacity : throw new ArgumentOutOfRangeException(nameof(capacity), capacity, "The capacity is at least 1.");

    /// <summary>How many terms it remembers now.</summary>
    public int Remembered => _termCount;

    /// <summary>Distinct terms counted since <see cref="Begin"/>.</summary>
    public int Distinct => _countedCount;

    /// <summary>Starts a new text: forgets the last one's counts, and everything remembered once past <see cref="Capacity"/>.</summary>
    public void Begin()
    {
        foreach (var t in _counted.AsSpan(0, _countedCount))
        {
            _title[t] = 0;
            _abstract[t] = 0;
        }

        _countedCount = 0;
        if (_termCount > Capacity || _words.Count > Capacity)
        {
            _words.Clear();
            _termIndexes.Clear();
            Array.Clear(_terms, 0, _termCount);
            _termCount = 0;
        }
    }

    /// <summary>Counts <paramref name="word"/> once more if it was met before; false (nothing counted) if not.</summary>
    public bool TryCount(ReadOnlySpan<char> word, bool title)
    {
        if (!_words.GetAlternateLookup<ReadOnlySpan<char>>().TryGetValue(word, out var t))
        {
            return false;
        }

        Bump(t, title);
        return true;
    }

    /// <summary>Counts <paramref name="term"/>, which <paramref name="word"/> stems to, once more, and remembers the word.</summary>
    public void Count(ReadOnlySpan<char> term, ReadOnlySpan<char> word, bool title)
    {
        if (!_termIndexes.GetAlternateLookup<ReadOnlySpan<char>>().TryGetValue(term, out var t))
        {
            t = NewTerm(term);
            _termIndexes.Add(_terms[t], t);
        }

        // A word that is its own stem shares the term's string.
        if (word.SequenceEqual(term))
        {
            _words.TryAdd(_terms[t], t);
        }
        else
        {
            _words.GetAlternateLookup<ReadOnlySpan<char>>().TryAdd(word, t);
        }

        Bump(t, title);
    }

    /// <summary>The <paramref name="i"/>-th distinct term counted since <see cref="Begin"/>, with its counts.</summary>
    public (string Term, int Title, int Abstract) this[int i]
    {
        get
        {
            var t = _counted[i];
            return (_terms[t], _title[t], _abstract[t]);
        }
    }

    /// <summary>
    /// The id the index gave the <paramref name="i"/>-th counted term, asking <paramref name="idOf"/>
    /// only the first time the counter meets the term.
    /// </summary>
    public int IdOf<TState>(int i, Func<string, TState, int> idOf, TState state)
    {
        var t = _counted[i];
        ref var id = ref _ids[t];
        if (id < 0)
        {
            id = idOf(_terms[t], state);
        }

        return id;
    }

    private int NewTerm(ReadOnlySpan<char> term)
    {
        var t = _termCount++;
        if (t == _terms.Length)
        {
            var size = t * 2;
            Array.Resize(ref _terms, size);
            Array.Resize(ref _ids, size);
            Array.Resize(ref _title, size);
            Array.Resize(ref _abstract, size);
            Array.Resize(ref _counted, size);
        }

        _terms[t] = new string(term);
        _ids[t] = -1;
        return t;
    }

    private void Bump(int t, bool title)
    {
        if (_title[t] == 0 && _abstract[t] == 0)
        {
            _counted[_countedCount++] = t;
        }

        if (title)
        {
            _title[t]++;
        }
        else
        {
            _abstract[t]++;
        }
    }
}
