using System.Buffers;

namespace Pipeline.Rank.Ranking.Relevance;

/// <summary>A paper's lexical score for a set of queries: the normalised BM25F of its best query, and which that was.</summary>
public readonly record struct LexicalMatch(IndexedPaper Paper, double Score, int BestQuery);

/// <summary>
/// BM25F over each paper's title and abstract: an in-memory inverted index, safe for concurrent
/// <see cref="Add"/> and searches (a reader-writer lock; searches share it).
/// </summary>
/// <remarks>
/// <para>A posting is one int: the paper's slot in the high 23 bits, then its term frequency in the
/// title and in the abstract, four bits each (capped at 15, where BM25 has long saturated). At four
/// bytes a posting, 100,000 papers (about eight million postings) take 32 MB, up to twice that
/// while lists grow by doubling.</para>
/// <para>A replaced paper gets a new slot and its old slot is left dead, so slots only grow and every
/// posting list stays sorted by slot (a paper's terms can be found by binary search). When dead
/// slots outnumber live ones the index compacts itself in one pass.</para>
/// <para>A score is normalised by the query's total IDF, the score of a paper that contains every
/// query term with saturated frequency, so it lies in [0, 1) and scores of different queries
/// (a subscriber's interests) can be compared.</para>
/// </remarks>
public sealed class LexicalIndex(RelevanceOptions? options = null)
{
    private const int SlotShift = 8;
    private const int MaxSlots = int.MaxValue >> SlotShift;
    private const int MaxFieldFrequency = 15;

    private readonly RelevanceOptions _options = options ?? new RelevanceOptions();
    private readonly ReaderWriterLockSlim _lock = new();
    private readonly Dictionary<string, Postings> _postings = new(StringComparer.Ordinal);
    private readonly Dictionary<string, int> _slotsById = new(StringComparer.Ordinal);
    private IndexedPaper?[] _papers = new IndexedPaper?[1024];
    private float[] _titleLengths = new float[1024];
    private float[] _abstractLengths = new float[1024];
    private int _slotCount;
    private int _liveCount;
    private double _titleLengthSum;
    private double _abstractLengthSum;

    /// <summary>How many papers are indexed.</summary>
    public int Count
    {
        get
        {
            _lock.EnterReadLock();
            try { return _liveCount; }
            finally { _lock.ExitReadLock(); }
        }
    }

    /// <summary>Indexes a paper's title and abstract, replacing what was indexed under the same id.</summary>
    public void Add(IndexedPaper paper)
    {
        ArgumentNullException.ThrowIfNull(paper);
        var document = Document.Of(paper);
        _lock.EnterWriteLock();
        try
        {
            if (_slotsById.TryGetValue(paper.Paper.Id, out var known))
            {
                var old = _papers[known]!;
                if (old.Paper.Title == paper.Paper.Title && old.Paper.Abstract == paper.Paper.Abstract)
                {
                    // Same text (a redelivery, a new upvote count): nothing to re-index.
                    _papers[known] = paper;
                    return;
                }

                Retire(known, Document.Of(old));
            }

            if (_slotCount - _liveCount > Math.Max(1024, _liveCount) || _slotCount == MaxSlots)
            {
                Compact();
            }

            if (_slotCount == MaxSlots)
            {
                throw new InvalidOperationException($"The lexical index holds at most {MaxSlots} papers.");
            }

            var slot = _slotCount++;
            if (slot == _papers.Length)
            {
                var size = Math.Min(_papers.Length * 2, MaxSlots);
                Array.Resize(ref _papers, size);
                Array.Resize(ref _titleLengths, size);
                Array.Resize(ref _abstractLengths, size);
            }

            _papers[slot] = paper;
            _slotsById[paper.Paper.Id] = slot;
            _titleLengths[slot] = document.TitleLength;
            _abstractLengths[slot] = document.AbstractLength;
            _titleLengthSum += document.TitleLength;
            _abstractLengthSum += document.AbstractLength;
            _liveCount++;
            foreach (var (term, (title, @abstract)) in document.Frequencies)
            {
                if (!_postings.TryGetValue(term, out var postings))
                {
                    postings = new Postings();
                    _postings[term] = postings;
                }

                postings.Append((slot << SlotShift) | (Math.Min(title, MaxFieldFrequency) << 4) | Math.Min(@abstract, MaxFieldFrequency));
            }
        }
        finally
        {
            _lock.ExitWriteLock();
        }
    }

    /// <summary>
    /// The <paramref name="limit"/> papers with the highest score for any of the queries (each a
    /// list of terms from <see cref="SearchTerms"/>), best first, among papers that contain at
    /// least one query term and that <paramref name="include"/> accepts.
    /// </summary>
    public IReadOnlyList<LexicalMatch> Search(IReadOnlyList<IReadOnlyList<string>> queries, int limit, Func<IndexedPaper, bool>? include = null)
    {
        if (queries.Count == 0 || limit <= 0)
        {
            return [];
        }

        _lock.EnterReadLock();
        float[]? scores = null;
        float[]? best = null;
        int[]? bestQuery = null;
        try
        {
            if (_liveCount == 0)
            {
                return [];
            }

            var slots = _slotCount;
            scores = ArrayPool<float>.Shared.Rent(slots);
            best = ArrayPool<float>.Shared.Rent(slots);
            bestQuery = ArrayPool<int>.Shared.Rent(slots);
            best.AsSpan(0, slots).Clear();
            var matchedAny = false;
            for (var q = 0; q < queries.Count; q++)
            {
                var scoresSpan = scores.AsSpan(0, slots);
                scoresSpan.Clear();
                if (!Accumulate(queries[q], scoresSpan))
                {
                    continue;
                }

                matchedAny = true;
                for (var slot = 0; slot < slots; slot++)
                {
                    if (scoresSpan[slot] > best[slot])
                    {
                        best[slot] = scoresSpan[slot];
                        bestQuery[slot] = q;
                    }
                }
            }

            return matchedAny ? TopOf(best.AsSpan(0, slots), bestQuery, limit, include) : [];
        }
        finally
        {
            _lock.ExitReadLock();
            if (scores is not null) ArrayPool<float>.Shared.Return(scores);
            if (best is not null) ArrayPool<float>.Shared.Return(best);
            if (bestQuery is not null) ArrayPool<int>.Shared.Return(bestQuery);
        }
    }

    /// <summary>One paper's score for the queries (0 when unknown or unmatched) and its best query.</summary>
    public (double Score, int BestQuery) Score(IReadOnlyList<IReadOnlyList<string>> queries, string paperId)
    {
        _lock.EnterReadLock();
        try
        {
            if (!_slotsById.TryGetValue(paperId, out var slot))
            {
                return (0, 0);
            }

            var (avgTitle, avgAbstract) = AverageLengths();
            var score = 0.0;
            var bestQuery = 0;
            for (var q = 0; q < queries.Count; q++)
            {
                var total = 0.0;
                var totalIdf = 0.0;
                foreach (var term in Distinct(queries[q]))
                {
                    var postings = _postings.GetValueOrDefault(term);
                    var idf = Idf(postings?.Live ?? 0);
                    totalIdf += idf;
                    var at = postings?.Find(slot) ?? -1;
                    if (at >= 0)
                    {
                        total += idf * Saturate(postings!.Items[at], slot, avgTitle, avgAbstract);
                    }
                }

                if (totalIdf > 0 && total / totalIdf > score)
                {
                    score = total / totalIdf;
                    bestQuery = q;
                }
            }

            return (score, bestQuery);
        }
        finally
        {
            _lock.ExitReadLock();
        }
    }

    /// <summary>Adds one query's normalised scores into <paramref name="scores"/>; false when no query term is known.</summary>
    private bool Accumulate(IReadOnlyList<string> terms, Span<float> scores)
    {
        var (avgTitle, avgAbstract) = AverageLengths();
        var totalIdf = 0.0;
        var known = 0;
        foreach (var term in Distinct(terms))
        {
            var postings = _postings.GetValueOrDefault(term);
            var idf = Idf(postings?.Live ?? 0);
            // An unknown term still counts in the total: a paper that matches half the query scores half.
            totalIdf += idf;
            if (postings is null || postings.Live == 0)
            {
                continue;
            }

            known++;
            var weight = (float)idf;
            var items = postings.Items.AsSpan(0, postings.Count);
            foreach (var item in items)
            {
                var slot = item >>> SlotShift;
                if (_papers[slot] is not null)
                {
                    scores[slot] += weight * Saturate(item, slot, avgTitle, avgAbstract);
                }
            }
        }

        if (known == 0)
        {
            return false;
        }

        System.Numerics.Tensors.TensorPrimitives.Multiply(scores, (float)(1 / totalIdf), scores);
        return true;
    }

    /// <summary>BM25F's saturated, length-normalised term frequency over both fields, in [0, 1).</summary>
    private float Saturate(int item, int slot, float avgTitle, float avgAbstract)
    {
        var o = _options;
        var title = (item >> 4) & MaxFieldFrequency;
        var @abstract = item & MaxFieldFrequency;
        var f = 0f;
        if (title > 0)
        {
            f += (float)o.TitleWeight * title / (float)(1 - o.TitleB + o.TitleB * _titleLengths[slot] / avgTitle);
        }

        if (@abstract > 0)
        {
            f += @abstract / (float)(1 - o.AbstractB + o.AbstractB * _abstractLengths[slot] / avgAbstract);
        }

        return f / ((float)o.K1 + f);
    }

    /// <summary>Lucene's BM25 IDF, which stays positive for terms in most papers.</summary>
    private double Idf(int documentFrequency) =>
        Math.Log(1 + (_liveCount - documentFrequency + 0.5) / (documentFrequency + 0.5));

    private (float Title, float Abstract) AverageLengths() => _liveCount == 0
        ? (1, 1)
        : ((float)Math.Max(_titleLengthSum / _liveCount, 1), (float)Math.Max(_abstractLengthSum / _liveCount, 1));

    private static IEnumerable<string> Distinct(IReadOnlyList<string> terms) =>
        terms.Count <= 1 ? terms : terms.Distinct(StringComparer.Ordinal);

    private LexicalMatch[] TopOf(ReadOnlySpan<float> best, int[] bestQuery, int limit, Func<IndexedPaper, bool>? include)
    {
        // A min-heap of the best so far; on equal scores the earlier paper ranks first, so answers are stable.
        var heap = new PriorityQueue<int, (float Score, int Slot)>(limit + 1, WorseFirst.Instance);
        for (var slot = 0; slot < best.Length; slot++)
        {
            var score = best[slot];
            if (score <= 0)
            {
                continue;
            }

            if (heap.Count == limit && heap.TryPeek(out _, out var floor) && WorseFirst.Instance.Compare((score, slot), floor) <= 0)
            {
                continue;
            }

            if (include is not null && !include(_papers[slot]!))
            {
                continue;
            }

            if (heap.Count < limit)
            {
                heap.Enqueue(slot, (score, slot));
            }
            else
            {
                heap.EnqueueDequeue(slot, (score, slot));
            }
        }

        var top = new LexicalMatch[heap.Count];
        for (var i = top.Length - 1; i >= 0; i--)
        {
            heap.TryDequeue(out var slot, out var priority);
            top[i] = new LexicalMatch(_papers[slot]!, priority.Score, bestQuery[slot]);
        }

        return top;
    }

    private void Retire(int slot, Document old)
    {
        foreach (var term in old.Frequencies.Keys)
        {
            _postings[term].Live--;
        }

        _titleLengthSum -= _titleLengths[slot];
        _abstractLengthSum -= _abstractLengths[slot];
        _papers[slot] = null;
        _liveCount--;
    }

    /// <summary>Drops dead slots and renumbers the live ones in order, so posting lists stay sorted.</summary>
    private void Compact()
    {
        var renumbered = new int[_slotCount];
        var next = 0;
        for (var slot = 0; slot < _slotCount; slot++)
        {
            if (_papers[slot] is { } paper)
            {
                renumbered[slot] = next;
                _papers[next] = paper;
                _titleLengths[next] = _titleLengths[slot];
                _abstractLengths[next] = _abstractLengths[slot];
                _slotsById[paper.Paper.Id] = next;
                next++;
            }
            else
            {
                renumbered[slot] = -1;
            }
        }

        Array.Clear(_papers, next, _slotCount - next);
        _slotCount = next;
        var emptied = new List<string>();
        foreach (var (term, postings) in _postings)
        {
            postings.Renumber(renumbered);
            if (postings.Count == 0)
            {
                emptied.Add(term);
            }
        }

        foreach (var term in emptied)
        {
            _postings.Remove(term);
        }
    }

    private sealed class Postings
    {
        public int[] Items = new int[2];
        public int Count;

        /// <summary>Postings of live papers: the term's document frequency.</summary>
        public int Live;

        public void Append(int item)
        {
            if (Count == Items.Length)
            {
                Array.Resize(ref Items, Items.Length * 2);
            }

            Items[Count++] = item;
            Live++;
        }

        /// <summary>Where the posting of <paramref name="slot"/> is, or -1.</summary>
        public int Find(int slot)
        {
            int low = 0, high = Count - 1;
            while (low <= high)
            {
                var middle = (low + high) >>> 1;
                var at = Items[middle] >>> SlotShift;
                if (at == slot) return middle;
                if (at < slot) low = middle + 1;
                else high = middle - 1;
            }

            return -1;
        }

        public void Renumber(int[] renumbered)
        {
            var kept = 0;
            for (var i = 0; i < Count; i++)
            {
                var slot = renumbered[Items[i] >>> SlotShift];
                if (slot >= 0)
                {
                    Items[kept++] = (slot << SlotShift) | (Items[i] & ((1 << SlotShift) - 1));
                }
            }

            Count = kept;
            Live = kept;
        }
    }

    /// <summary>Orders heap entries worst first: lower score, then later slot.</summary>
    private sealed class WorseFirst : IComparer<(float Score, int Slot)>
    {
        public static readonly WorseFirst Instance = new();

        public int Compare((float Score, int Slot) x, (float Score, int Slot) y)
        {
            var byScore = x.Score.CompareTo(y.Score);
            return byScore != 0 ? byScore : y.Slot.CompareTo(x.Slot);
        }
    }

    /// <summary>A paper's terms with their frequency in the title and in the abstract.</summary>
    private sealed record Document(Dictionary<string, (int Title, int Abstract)> Frequencies, int TitleLength, int AbstractLength)
    {
        public static Document Of(IndexedPaper paper)
        {
            var frequencies = new Dictionary<string, (int Title, int Abstract)>(StringComparer.Ordinal);
            var title = SearchTerms.Of(paper.Paper.Title);
            foreach (var t in title)
            {
                var (inTitle, inAbstract) = frequencies.GetValueOrDefault(t.Term);
                frequencies[t.Term] = (inTitle + 1, inAbstract);
            }

            var @abstract = SearchTerms.Of(paper.Paper.Abstract);
            foreach (var t in @abstract)
            {
                var (inTitle, inAbstract) = frequencies.GetValueOrDefault(t.Term);
                frequencies[t.Term] = (inTitle, inAbstract + 1);
            }

            return new Document(frequencies, title.Count, @abstract.Count);
        }
    }
}
