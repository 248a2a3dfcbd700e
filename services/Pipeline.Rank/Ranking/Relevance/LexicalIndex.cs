using System.Numerics;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

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
/// <para>The index keeps no text: each slot holds the slim paper it was given (by
/// <see cref="RelevanceRanker"/>, the one <see cref="PaperIndex"/> keeps) and the paper's terms as
/// sorted ints (term id, title tf, abstract tf), to retire them, to detect an unchanged re-delivery
/// and to say where a query word occurs (<see cref="Places"/>).</para>
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
    private const int FrequencyMask = (1 << SlotShift) - 1;

    private readonly RelevanceOptions _options = options ?? new RelevanceOptions();
    private readonly ReaderWriterLockSlim _lock = new();
    private const int MaxTerms = int.MaxValue >> SlotShift;

    /// <summary>A term on at least this many papers (and an eighth of them) is common: see <see cref="AccumulatePruned"/>.</summary>
    private const int CommonPostings = 4_096;

    private readonly Dictionary<string, int> _termIds = new(StringComparer.Ordinal);
    private readonly Dictionary<string, int> _slotsById = new(StringComparer.Ordinal);
    private readonly Stack<Accumulator> _accumulators = new();
    // Counters of one paper's terms, reused from paper to paper with the words, term strings and
    // term ids they met (TermCounter): one per concurrent Add, dropped by TrimExcess.
    private readonly Stack<TermCounter> _counts = new();
    private readonly Lock _countsLock = new();
    private Postings[] _terms = new Postings[1024];
    private int _termCount;
    private IndexedPaper?[] _papers = new IndexedPaper?[1024];
    private int[]?[] _slotTerms = new int[]?[1024];
    private float[] _titleLengths = new float[1024];
    private float[] _abstractLengths = new float[1024];
    // When each slot's paper appeared (IndexedPaper.SeenAt, UTC ticks; long.MinValue for a dead
    // slot), read in order by a windowed search ("since the last digest").
    private long[] _seenTicks = new long[1024];
    // Each slot's paper number (IndexedPaper.Ordinal), read without touching the paper when a
    // search asks whether a paper is left out (LeftOut).
    private int[] _ordinals = new int[1024];
    private int _slotCount;
    private int _liveCount;
    private double _titleLengthSum;
    private double _abstractLengthSum;

    /// <summary>
    /// Whether a search may skip the full lists of common terms when they cannot change its answer
    /// (<see cref="AccumulatePruned"/>); on by default. Off reads every posting (to compare).
    /// </summary>
    public bool PruneCommonTerms { get; set; } = true;

    private long _prunedQueries;

    /// <summary>Queries answered without reading their common terms' lists in full (for tests and benchmarks).</summary>
    internal long PrunedQueries => Interlocked.Read(ref _prunedQueries);

    /// <summary>
    /// Whether a search reads a common term from its column (a byte a slot, see
    /// <see cref="Postings.Column"/>) instead of its posting list; on by default. Off reads the
    /// posting lists only (to compare): the answers are the same to the bit.
    /// </summary>
    public bool ReadColumns { get; set; } = true;

    private long _columnSearches;

    /// <summary>Queries whose every posting was read, with at least one common term read as a column (for tests and benchmarks).</summary>
    internal long ColumnSearches => Interlocked.Read(ref _columnSearches);

    /// <summary>How often the index has dropped its dead slots (for tests). Written under the write lock.</summary>
    internal int Compactions { get; private set; }

    /// <summary>The terms that have a column: they grow with the slots.</summary>
    private readonly List<Postings> _columned = [];

    private long _windowSearches;

    /// <summary>Windowed searches answered from the window's papers' own term lists (for tests and benchmarks).</summary>
    internal long WindowSearches => Interlocked.Read(ref _windowSearches);

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

    /// <summary>
    /// Indexes a paper's title and abstract, replacing what was indexed under the same id. The index
    /// keeps <paramref name="keep"/> to answer with (by default the paper without its abstract: at
    /// 100,000 papers the abstracts are about 200 MB, and answers read them from Redis), and each
    /// paper's terms as ids with their frequencies, to retire them when the paper is replaced and to
    /// say where a query word occurs (<see cref="Places"/>). A record older than the one indexed
    /// (<see cref="IndexedPaper.IsOlderThan"/>) changes nothing.
    /// </summary>
    public void Add(IndexedPaper paper, IndexedPaper? keep = null)
    {
        ArgumentNullException.ThrowIfNull(paper);
        Add(paper, paper.Paper.Abstract, keep);
    }

    /// <summary>
    /// As <see cref="Add(IndexedPaper, IndexedPaper?)"/>, with the abstract given apart from the
    /// paper (whose own is then not read): the startup load passes the characters it decoded from
    /// Redis into a rented buffer instead of making a string of each abstract.
    /// </summary>
    public void Add(IndexedPaper paper, ReadOnlySpan<char> abstractText, IndexedPaper? keep = null)
    {
        ArgumentNullException.ThrowIfNull(paper);
        var counts = RentCounts();
        try
        {
            // Counted from spans, outside the lock, by a counter that stems a word it has met only once.
            var titleLength = SearchTerms.CountInto(paper.Paper.Title, counts, title: true);
            var abstractLength = SearchTerms.CountInto(abstractText, counts, title: false);
            Index(paper, counts, titleLength, abstractLength, keep ?? (paper.Paper.Abstract.Length == 0 ? paper : paper with { Paper = paper.Paper with { Abstract = "" } }));
        }
        finally
        {
            ReturnCounts(counts);
        }
    }

    private void Index(IndexedPaper paper, TermCounter counts, int titleLength, int abstractLength, IndexedPaper keep)
    {
        _lock.EnterWriteLock();
        try
        {
            var terms = TermsOf(counts);
            if (_slotsById.TryGetValue(paper.Paper.Id, out var known))
            {
                if (_papers[known] is { } held && paper.IsOlderThan(held))
                {
                    // A newer record of the paper is indexed (a redelivered earlier version): kept.
                    return;
                }

                if (terms.AsSpan().SequenceEqual(_slotTerms[known]) && _titleLengths[known] == titleLength && _abstractLengths[known] == abstractLength)
                {
                    // Same text (a redelivery, a new upvote count): nothing to re-index.
                    _papers[known] = keep;
                    _ordinals[known] = keep.Ordinal;
                    _seenTicks[known] = paper.WindowAt.UtcTicks;
                    return;
                }

                Retire(known);
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
                Array.Resize(ref _slotTerms, size);
                Array.Resize(ref _titleLengths, size);
                Array.Resize(ref _abstractLengths, size);
                Array.Resize(ref _seenTicks, size);
                Array.Resize(ref _ordinals, size);
                foreach (var columned in _columned)
                {
                    Array.Resize(ref columned.Column, size);
                }
            }

            _papers[slot] = keep;
            _slotTerms[slot] = terms;
            _slotsById[paper.Paper.Id] = slot;
            _titleLengths[slot] = titleLength;
            _abstractLengths[slot] = abstractLength;
            _seenTicks[slot] = paper.WindowAt.UtcTicks;
            _ordinals[slot] = keep.Ordinal;
            _titleLengthSum += titleLength;
            _abstractLengthSum += abstractLength;
            _liveCount++;
            var commonFrom = Math.Max(CommonPostings, _liveCount / 8);
            foreach (var term in terms)
            {
                var postings = _terms[term >>> SlotShift];
                postings.Append((slot << SlotShift) | (term & FrequencyMask));
                if (postings.Column is { } column)
                {
                    column[slot] = (byte)(term & FrequencyMask);
                }
                else if (postings.Live >= commonFrom)
                {
                    BuildColumn(postings);
                }
            }
        }
        finally
        {
            _lock.ExitWriteLock();
        }
    }

    /// <summary>
    /// Gives back the room posting lists grew into, called after a bulk load: at 100,000 synthetic
    /// papers 21.1 MB of lists hold 19.2 MB of postings (29.0 MB when lists doubled as they grew).
    /// </summary>
    public void TrimExcess()
    {
        lock (_countsLock)
        {
            // The load's counters and the words, terms and ids they remember (about 2 MB each).
            _counts.Clear();
        }

        _lock.EnterWriteLock();
        try
        {
            foreach (var postings in _terms)
            {
                postings?.TrimExcess();
            }
        }
        finally
        {
            _lock.ExitWriteLock();
        }
    }

    /// <summary>
    /// Gives a term that has become common its column: its live postings' frequency bytes by slot.
    /// Caller holds the write lock.
    /// </summary>
    private void BuildColumn(Postings postings)
    {
        postings.Column = new byte[_papers.Length];
        FillColumn(postings);
        _columned.Add(postings);
    }

    /// <summary>Writes a term's live postings into its (zeroed) column. Caller holds the write lock.</summary>
    private void FillColumn(Postings postings)
    {
        var column = postings.Column!;
        foreach (var item in postings.Items.AsSpan(0, postings.Count))
        {
            var slot = item >>> SlotShift;
            if (_slotTerms[slot] is not null)
            {
                column[slot] = (byte)(item & FrequencyMask);
            }
        }
    }

    /// <summary>The share of the indexed papers whose title or abstract has <paramref name="term"/> (0 when none are indexed).</summary>
    public double ShareOf(string term)
    {
        _lock.EnterReadLock();
        try
        {
            return _liveCount == 0 ? 0 : (double)(PostingsOf(term)?.Live ?? 0) / _liveCount;
        }
        finally
        {
            _lock.ExitReadLock();
        }
    }

    /// <summary>
    /// Where each of <paramref name="terms"/> occurs in paper <paramref name="paperId"/>: in the
    /// title, in the abstract (both can be true), or neither when the paper or the term is unknown.
    /// </summary>
    public (bool InTitle, bool InAbstract)[] Places(string paperId, IReadOnlyList<string> terms)
    {
        var places = new (bool, bool)[terms.Count];
        _lock.EnterReadLock();
        try
        {
            if (!_slotsById.TryGetValue(paperId, out var slot) || _slotTerms[slot] is not { } known)
            {
                return places;
            }

            for (var i = 0; i < terms.Count; i++)
            {
                if (!_termIds.TryGetValue(terms[i], out var id))
                {
                    continue;
                }

                var at = BinarySearchTerm(known, id);
                if (at >= 0)
                {
                    places[i] = (((known[at] >> 4) & MaxFieldFrequency) > 0, (known[at] & MaxFieldFrequency) > 0);
                }
            }

            return places;
        }
        finally
        {
            _lock.ExitReadLock();
        }
    }

    private TermCounter RentCounts()
    {
        TermCounter? counts;
        lock (_countsLock)
        {
            _counts.TryPop(out counts);
        }

        counts ??= new TermCounter();
        counts.Begin();
        return counts;
    }

    private void ReturnCounts(TermCounter counts)
    {
        lock (_countsLock)
        {
            _counts.Push(counts);
        }
    }

    /// <summary>A document's terms as (term id, title tf, abstract tf) packed like postings with the term id for the slot, sorted. Caller holds the write lock.</summary>
    private int[] TermsOf(TermCounter counts)
    {
        var terms = new int[counts.Distinct];
        for (var i = 0; i < terms.Length; i++)
        {
            var (_, title, @abstract) = counts[i];
            // The counter remembers the id, so a term it has met costs no lookup here (under the lock).
            var id = counts.IdOf(i, static (term, index) => index.IdOf(term), this);
            terms[i] = (id << SlotShift) | (Math.Min(title, MaxFieldFrequency) << 4) | Math.Min(@abstract, MaxFieldFrequency);
        }

        Array.Sort(terms);
        return terms;
    }

    /// <summary>The id of <paramref name="term"/>, given it (with an empty posting list) if it has none. Caller holds the write lock.</summary>
    private int IdOf(string term)
    {
        ref var id = ref CollectionsMarshal.GetValueRefOrAddDefault(_termIds, term, out var known);
        if (!known)
        {
            if (_termCount == MaxTerms)
            {
                _termIds.Remove(term);
                throw new InvalidOperationException($"The lexical index holds at most {MaxTerms} distinct terms.");
            }

            id = _termCount++;
            if (id == _terms.Length)
            {
                Array.Resize(ref _terms, _terms.Length * 2);
            }

            _terms[id] = new Postings();
        }

        return id;
    }

    private static int BinarySearchTerm(int[] terms, int id)
    {
        int low = 0, high = terms.Length - 1;
        while (low <= high)
        {
            var middle = (low + high) >>> 1;
            var at = terms[middle] >>> SlotShift;
            if (at == id) return middle;
            if (at < id) low = middle + 1;
            else high = middle - 1;
        }

        return -1;
    }

    private Postings? PostingsOf(string term) => _termIds.TryGetValue(term, out var id) ? _terms[id] : null;

    /// <summary>
    /// The <paramref name="limit"/> papers with the highest score for any of the queries (each a
    /// list of terms from <see cref="SearchTerms"/>), best first, among papers that contain at
    /// least one query term and that <paramref name="include"/> accepts, and, with
    /// <paramref name="seenSince"/>, that appeared then or later (<see cref="IndexedPaper.SeenAt"/>).
    /// <paramref name="leftOut"/> leaves papers out as <paramref name="include"/> would, by a bit
    /// test on the paper's number, asked (like it) only about papers that would enter the answer.
    /// </summary>
    public IReadOnlyList<LexicalMatch> Search(IReadOnlyList<IReadOnlyList<string>> queries, int limit, Func<IndexedPaper, bool>? include = null, DateTimeOffset? seenSince = null, LeftOut? leftOut = null)
    {
        if (queries.Count == 0 || limit <= 0)
        {
            return [];
        }

        _lock.EnterReadLock();
        try
        {
            if (_liveCount == 0)
            {
                return [];
            }

            if (seenSince is { } window && WindowSlots(queries, window.UtcTicks) is { } windowSlots)
            {
                Interlocked.Increment(ref _windowSearches);
                return SearchWindow(queries, windowSlots, limit, include, leftOut);
            }

            // Only the papers a posting list reaches are touched, and only they are cleared
            // afterwards: a query's cost is its postings, not the corpus. A pooled accumulator's
            // scores and bests are all zero (one whose search failed is not pooled again).
            // Papers outside the window are never touched (dead slots neither: see AccumulateAll).
            var from = Math.Max(seenSince?.UtcTicks ?? long.MinValue, long.MinValue + 1);
            var slots = _slotCount;
            var work = RentAccumulator(slots);
            var (scores, touched) = (work.Scores, work.Touched);
            var filter = include is null && leftOut is null ? null : work.Filter.For(include, _papers, leftOut, _ordinals);
            if (queries.Count == 1)
            {
                // One query (a search): its sums are the answer's scores, taken straight from the
                // accumulator, with no pass to keep a best query per paper.
                var reached = Accumulate(queries[0], scores, touched, out var scale, limit, filter, from);
                var top = TopOf(touched.AsSpan(0, Math.Max(reached, 0)), scores, scale, null, limit, filter, allSlots: reached == AllSlots);
                ReturnAccumulator(work);
                return top;
            }

            // Several queries (a subscriber's interests): only each query's own best `limit` are
            // offered, not every paper it reached. A paper whose best query leaves it out of that
            // query's best `limit` has `limit` papers above it there, each scoring at least as much
            // over all queries, so it cannot make the answer; and a paper that does make it is
            // offered by its best query with its best score. Ties order by slot throughout.
            var heap = new PriorityQueue<int, (float Score, int Slot)>(limit + 1, WorseFirst.Instance);
            for (var q = 0; q < queries.Count; q++)
            {
                var touchedCount = Accumulate(queries[q], scores, touched, out var normaliser, limit, filter, from);
                if (touchedCount == AllSlots)
                {
                    BestOfAll(scores, normaliser, limit, filter, heap);
                }
                else
                {
                    Best(touched.AsSpan(0, touchedCount), scores, normaliser, limit, filter, heap);
                }

                while (heap.TryDequeue(out var slot, out var priority))
                {
                    work.Offer(slot, priority.Score, q);
                }
            }

            return Answer(work, limit, filter);
        }
        finally
        {
            _lock.ExitReadLock();
        }
    }

    /// <summary>
    /// The live slots whose paper appeared at or after <paramref name="ticks"/>, when scoring each
    /// of them from its own term list is cheaper than reading the query terms' posting lists
    /// (a daily digest's day among months of papers); otherwise null. Reading a posting list costs
    /// about one step a paper on it; a paper of the window costs about a binary search a term.
    /// Caller holds the read lock.
    /// </summary>
    private int[]? WindowSlots(IReadOnlyList<IReadOnlyList<string>> queries, long ticks)
    {
        long postings = 0;
        var terms = 0;
        foreach (var query in queries)
        {
            foreach (var term in Distinct(query))
            {
                // A term read as a column costs a step per 16 slots, whatever its length.
                var list = PostingsOf(term);
                postings += list is null ? 0 : ReadColumns && list.Column is not null ? _slotCount / 16 : list.Live;
                terms++;
            }
        }

        var most = terms == 0 ? 0 : postings / (8L * terms);
        var slots = new List<int>();
        var seen = _seenTicks.AsSpan(0, _slotCount);
        for (var slot = 0; slot < seen.Length; slot++)
        {
            if (seen[slot] >= ticks)
            {
                if (slots.Count >= most)
                {
                    return null;
                }

                slots.Add(slot);
            }
        }

        return slots.ToArray();
    }

    /// <summary>
    /// <see cref="Search"/> over the papers of a window, each scored from its own sorted term list:
    /// the same BM25F sums, term by term in the same order, as the posting lists give.
    /// Caller holds the read lock.
    /// </summary>
    private LexicalMatch[] SearchWindow(IReadOnlyList<IReadOnlyList<string>> queries, int[] slots, int limit, Func<IndexedPaper, bool>? include, LeftOut? leftOut)
    {
        var bm25 = Bm25Of();
        var weighted = new List<(int Id, Postings Postings, float Weight)>[queries.Count];
        var normalisers = new float[queries.Count];
        for (var q = 0; q < queries.Count; q++)
        {
            (weighted[q], normalisers[q]) = Weigh(queries[q]);
        }

        // Each window paper's best score and query into the pooled accumulator, as the posting
        // path leaves them, so the answer is taken the same way (TopOf) and the slots cleared after.
        var work = RentAccumulator(_slotCount);
        var filter = include is null && leftOut is null ? null : work.Filter.For(include, _papers, leftOut, _ordinals);
        foreach (var slot in slots)
        {
            var paperTerms = _slotTerms[slot];
            if (paperTerms is null)
            {
                continue;
            }

            for (var q = 0; q < weighted.Length; q++)
            {
                var sum = 0f;
                var reached = false;
                foreach (var (id, _, weight) in weighted[q])
                {
                    var at = BinarySearchTerm(paperTerms, id);
                    if (at >= 0)
                    {
                        sum += weight * bm25.Saturate(paperTerms[at], _titleLengths[slot], _abstractLengths[slot]);
                        reached = true;
                    }
                }

                work.Offer(slot, reached ? sum * normalisers[q] : 0, q);
            }
        }

        return Answer(work, limit, filter);
    }

    /// <summary>
    /// The best <paramref name="limit"/> of the papers offered to <paramref name="work"/> that
    /// <paramref name="filter"/> accepts; then clears what was offered and pools the accumulator
    /// (not reached when the filter throws: that accumulator is dropped).
    /// </summary>
    private LexicalMatch[] Answer(Accumulator work, int limit, SlotFilter? filter)
    {
        var matched = work.Matched.AsSpan(0, work.MatchedCount);
        var top = matched.Length > 0 ? TopOf(matched, work.Best, 1f, work.BestQuery, limit, filter) : [];
        work.MatchedCount = 0;
        ReturnAccumulator(work);
        return top;
    }

    /// <summary>
    /// A search's filter. The papers left out (<see cref="LeftOut"/>) are a bit test on the slot's
    /// paper number. The include filter is asked at most once a paper and its answer kept by slot:
    /// a search meets the same papers in several passes (the pruning floor, then each interest's own
    /// top, then the answer), and asking costs a call and a look at the paper. Cleared when its
    /// accumulator goes back to the pool.
    /// </summary>
    private sealed class SlotFilter(int slots)
    {
        private readonly sbyte[] _verdicts = new sbyte[slots];
        private readonly List<int> _asked = new(256);
        private Func<IndexedPaper, bool>? _include;
        private IndexedPaper?[] _papers = [];
        private LeftOut? _leftOut;
        private int[] _ordinals = [];

        public SlotFilter For(Func<IndexedPaper, bool>? include, IndexedPaper?[] papers, LeftOut? leftOut, int[] ordinals)
        {
            (_include, _papers, _leftOut, _ordinals) = (include, papers, leftOut, ordinals);
            return this;
        }

        [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveInlining)]
        public bool Accepts(int slot)
        {
            if (_leftOut is { } leftOut && leftOut.Contains(_ordinals[slot]))
            {
                return false;
            }

            if (_include is null)
            {
                return true;
            }

            var verdict = _verdicts[slot];
            return verdict != 0 ? verdict > 0 : Ask(slot);
        }

        private bool Ask(int slot)
        {
            var accepted = _include!(_papers[slot]!);
            _verdicts[slot] = accepted ? (sbyte)1 : (sbyte)-1;
            _asked.Add(slot);
            return accepted;
        }

        public void Clear()
        {
            foreach (var slot in CollectionsMarshal.AsSpan(_asked))
            {
                _verdicts[slot] = 0;
            }

            _asked.Clear();
            (_include, _papers, _leftOut, _ordinals) = (null, [], null, []);
        }
    }

    /// <summary>
    /// Scratch arrays for a search, a slot each (21 bytes a paper: 2.1 MB at 100,000). The index keeps
    /// at most two per core for reuse; the shared array pool would keep one per thread and array
    /// type, tens of MB under concurrent load.
    /// </summary>
    private sealed class Accumulator(int slots)
    {
        public readonly float[] Scores = new float[slots];
        public readonly float[] Best = new float[slots];
        public readonly int[] BestQuery = new int[slots];
        public readonly int[] Touched = new int[slots];
        public readonly int[] Matched = new int[slots];
        public readonly SlotFilter Filter = new(slots);

        /// <summary>Papers in <see cref="Matched"/>: those with a best score above 0.</summary>
        public int MatchedCount;

        public int Capacity => Scores.Length;

        /// <summary>Keeps a paper's best score over the queries, and which query gave it (the first, on a tie).</summary>
        public void Offer(int slot, float score, int query)
        {
            if (score > Best[slot])
            {
                if (Best[slot] == 0)
                {
                    Matched[MatchedCount++] = slot;
                }

                Best[slot] = score;
                BestQuery[slot] = query;
            }
        }
    }

    private Accumulator RentAccumulator(int slots)
    {
        lock (_accumulators)
        {
            while (_accumulators.TryPop(out var kept))
            {
                if (kept.Capacity >= slots)
                {
                    return kept;
                }
            }
        }

        // Room to grow, so a growing index does not allocate anew on every search.
        return new Accumulator(Math.Max(slots, Math.Min(MaxSlots, slots + (slots / 8))));
    }

    private void ReturnAccumulator(Accumulator work)
    {
        work.Filter.Clear();
        lock (_accumulators)
        {
            if (_accumulators.Count < 2 * Environment.ProcessorCount)
            {
                _accumulators.Push(work);
            }
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

            var bm25 = Bm25Of();
            var score = 0.0;
            var bestQuery = 0;
            for (var q = 0; q < queries.Count; q++)
            {
                var total = 0.0;
                var totalIdf = 0.0;
                foreach (var term in Distinct(queries[q]))
                {
                    var postings = PostingsOf(term);
                    var idf = Idf(postings?.Live ?? 0);
                    totalIdf += idf;
                    if (ReadColumns && postings?.Column is { } column)
                    {
                        // A common term's frequencies at the paper's slot, without a search of its list.
                        if (column[slot] != 0)
                        {
                            total += idf * bm25.Saturate(column[slot], _titleLengths[slot], _abstractLengths[slot]);
                        }

                        continue;
                    }

                    var at = postings?.Find(slot) ?? -1;
                    if (at >= 0)
                    {
                        total += idf * bm25.Saturate(postings!.Items[at], _titleLengths[slot], _abstractLengths[slot]);
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

    /// <summary>
    /// A query's terms that some live paper has, each with its IDF as weight, and one over the
    /// query's total IDF. An unknown term still counts in the total: a paper that matches half the
    /// query scores half.
    /// </summary>
    private (List<(int Id, Postings Postings, float Weight)> Matching, float Normaliser) Weigh(IReadOnlyList<string> terms)
    {
        var totalIdf = 0.0;
        var matching = new List<(int Id, Postings Postings, float Weight)>(terms.Count);
        foreach (var term in Distinct(terms))
        {
            var known = _termIds.TryGetValue(term, out var id);
            var postings = known ? _terms[id] : null;
            var idf = Idf(postings?.Live ?? 0);
            totalIdf += idf;
            if (postings is { Live: > 0 })
            {
                matching.Add((id, postings, (float)idf));
            }
        }

        return (matching, totalIdf > 0 ? (float)(1 / totalIdf) : 0);
    }

    /// <summary>What <see cref="Accumulate"/> answers when any slot may have a score (a common term was read as a column): the papers reached are not listed.</summary>
    private const int AllSlots = -1;

    /// <summary>
    /// Adds one query's BM25F scores into <paramref name="scores"/> (zero on entry) and lists the
    /// papers it reached in <paramref name="touched"/>; returns how many, or <see cref="AllSlots"/>
    /// when a common term was read as a column and any slot may have a score. A score times
    /// <paramref name="normaliser"/> (one over the query's total IDF) is the normalised score.
    /// </summary>
    private int Accumulate(IReadOnlyList<string> terms, float[] scores, int[] touched, out float normaliser, int limit, SlotFilter? filter, long from)
    {
        var bm25 = Bm25Of();
        (var matching, normaliser) = Weigh(terms);
        var count = AccumulatePruned(matching, scores, touched, bm25, limit, filter, from);
        if (count < 0)
        {
            count = 0;
            var columns = ReadColumns && matching.Exists(m => m.Postings.Column is not null);
            foreach (var (_, postings, weight) in matching)
            {
                if (columns && postings.Column is { } column)
                {
                    AddColumn(column, weight, scores, bm25, from);
                }
                else
                {
                    count = AccumulateAll(postings, weight, scores, touched, count, bm25, from);
                }
            }

            if (columns)
            {
                // A column adds to every slot it has: the answer is read from all of them.
                Interlocked.Increment(ref _columnSearches);
                return AllSlots;
            }
        }

        if (count == 0)
        {
            normaliser = 0;
        }

        return count;
    }

    /// <summary>
    /// Exact top <paramref name="limit"/> without reading the long posting lists of common words
    /// ("model", "learning": in most papers, so a tenth of the score at most) in full, after
    /// MaxScore (Turtle and Flood, 1995): the rare terms are accumulated as usual; the common terms
    /// are looked up only for the papers the rare ones reached (a binary search each in lists kept
    /// in slot order). A paper the rare terms did not reach scores at most the common terms' summed
    /// IDF (a saturated frequency is below 1); when that is below the <paramref name="limit"/>-th
    /// score among the reached papers <paramref name="filter"/> accepts, no such paper can make
    /// the answer, and the scores of those that can are complete. Otherwise (or with no common term,
    /// or only common terms) answers -1 with <paramref name="scores"/> cleared for a full pass.
    /// </summary>
    private int AccumulatePruned(List<(int Id, Postings Postings, float Weight)> matching, float[] scores, int[] touched, in Bm25 bm25, int limit, SlotFilter? filter, long from)
    {
        var commonFrom = Math.Max(CommonPostings, _liveCount / 8);
        var common = 0;
        var commonBound = 0f;
        foreach (var (_, postings, weight) in matching)
        {
            if (postings.Count >= commonFrom)
            {
                common++;
                commonBound += weight;
            }
        }

        if (!PruneCommonTerms || common == 0 || common == matching.Count)
        {
            return -1;
        }

        // The rare terms' papers, listed in runs: each term adds the papers it reaches first, in
        // slot order (its list's), so each run is sorted and a common list is walked forward
        // once a run, not searched from its start for every paper.
        var count = 0;
        Span<int> runEnds = matching.Count <= 64 ? stackalloc int[matching.Count] : new int[matching.Count];
        var runs = 0;
        foreach (var (_, postings, weight) in matching)
        {
            if (postings.Count < commonFrom)
            {
                count = AccumulateAll(postings, weight, scores, touched, count, bm25, from);
                runEnds[runs++] = count;
            }
        }

        foreach (var (_, postings, weight) in matching)
        {
            if (postings.Count >= commonFrom && ReadColumns && postings.Column is { } column)
            {
                // The reached papers' frequencies read at their slots: no search at all.
                var (titleLengths, abstractLengths) = (_titleLengths, _abstractLengths);
                foreach (var slot in touched.AsSpan(0, count))
                {
                    var frequencies = column[slot];
                    if (frequencies != 0)
                    {
                        scores[slot] += weight * bm25.Saturate(frequencies, titleLengths[slot], abstractLengths[slot]);
                    }
                }
            }
            else if (postings.Count >= commonFrom)
            {
                var runStart = 0;
                foreach (var runEnd in runEnds[..runs])
                {
                    var cursor = 0;
                    for (var i = runStart; i < runEnd; i++)
                    {
                        var slot = touched[i];
                        var at = postings.FindFrom(slot, ref cursor);
                        if (at >= 0)
                        {
                            scores[slot] += weight * bm25.Saturate(postings.Items[at], _titleLengths[slot], _abstractLengths[slot]);
                        }
                    }

                    runStart = runEnd;
                }
            }
        }

        // The limit-th best score among the reached papers the caller accepts.
        var floor = new PriorityQueue<int, float>(limit + 1);
        for (var i = 0; i < count; i++)
        {
            var slot = touched[i];
            var score = scores[slot];
            if (floor.Count == limit && floor.TryPeek(out _, out var lowest) && score <= lowest)
            {
                continue;
            }

            if (filter is not null && !filter.Accepts(slot))
            {
                continue;
            }

            if (floor.Count < limit)
            {
                floor.Enqueue(slot, score);
            }
            else
            {
                floor.EnqueueDequeue(slot, score);
            }
        }

        if (floor.Count == limit && floor.TryPeek(out _, out var threshold) && commonBound < threshold)
        {
            Interlocked.Increment(ref _prunedQueries);
            return count;
        }

        for (var i = 0; i < count; i++)
        {
            scores[touched[i]] = 0;
        }

        return -1;
    }

    /// <summary>Adds one term's weighted contribution for every live paper on its list that appeared at or after <paramref name="from"/>; returns the new count of touched papers.</summary>
    private int AccumulateAll(Postings postings, float weight, float[] scores, int[] touched, int count, in Bm25 bm25, long from)
    {
        var items = postings.Items.AsSpan(0, postings.Count);
        // Locals, so the loop reads no field of the index per posting.
        var (seen, titleLengths, abstractLengths, constants) = (_seenTicks, _titleLengths, _abstractLengths, bm25);
        foreach (var item in items)
        {
            var slot = item >>> SlotShift;
            // A dead slot's time is long.MinValue, below any `from`: one read says live and in the window.
            if (seen[slot] >= from)
            {
                if (scores[slot] == 0)
                {
                    touched[count++] = slot;
                }

                scores[slot] += weight * constants.Saturate(item, titleLengths[slot], abstractLengths[slot]);
            }
        }

        return count;
    }

    /// <summary>
    /// <see cref="AccumulateAll"/> for a term read from its column: every slot below the count,
    /// 16 at a time with AVX-512, in the same float operations as <see cref="Bm25.Saturate"/>
    /// (a slot without the term, or dead, or before <paramref name="from"/>, adds exactly nothing),
    /// so the sums are the posting list's to the bit. Touches no list of reached papers.
    /// </summary>
    private void AddColumn(byte[] column, float weight, float[] scores, in Bm25 bm25, long from)
    {
        var count = _slotCount;
        var (seen, titleLengths, abstractLengths) = (_seenTicks, _titleLengths, _abstractLengths);
        var windowed = from > long.MinValue + 1;
        var i = 0;
        if (Avx512F.IsSupported)
        {
            var (titleWeight, titleBase, titleSlope) = (Vector512.Create(bm25.TitleWeight), Vector512.Create(bm25.TitleBase), Vector512.Create(bm25.TitleSlope));
            var (abstractBase, abstractSlope, k1) = (Vector512.Create(bm25.AbstractBase), Vector512.Create(bm25.AbstractSlope), Vector512.Create(bm25.K1));
            var (w, fifteen, window) = (Vector512.Create(weight), Vector512.Create(MaxFieldFrequency), Vector512.Create(from));
            ref var bytes = ref MemoryMarshal.GetArrayDataReference(column);
            ref var title = ref MemoryMarshal.GetArrayDataReference(titleLengths);
            ref var @abstract = ref MemoryMarshal.GetArrayDataReference(abstractLengths);
            ref var sums = ref MemoryMarshal.GetArrayDataReference(scores);
            ref var times = ref MemoryMarshal.GetArrayDataReference(seen);
            for (; i <= count - 16; i += 16)
            {
                var packed = Vector128.LoadUnsafe(ref bytes, (nuint)i);
                if (packed == Vector128<byte>.Zero)
                {
                    continue;
                }

                var items = Avx512F.ConvertToVector512Int32(packed);
                var has = Vector512.GreaterThan(items, Vector512<int>.Zero);
                if (windowed)
                {
                    has &= Vector512.Narrow(
                        Vector512.GreaterThanOrEqual(Vector512.LoadUnsafe(ref times, (nuint)i), window),
                        Vector512.GreaterThanOrEqual(Vector512.LoadUnsafe(ref times, (nuint)(i + 8)), window)).AsInt32();
                }

                var inTitle = Vector512.ConvertToSingle((items >>> 4) & fifteen);
                var inAbstract = Vector512.ConvertToSingle(items & fifteen);
                var f = (titleWeight * inTitle / (titleBase + (titleSlope * Vector512.LoadUnsafe(ref title, (nuint)i))))
                    + (inAbstract / (abstractBase + (abstractSlope * Vector512.LoadUnsafe(ref @abstract, (nuint)i))));
                var added = w * (f / (k1 + f));
                var sum = Vector512.LoadUnsafe(ref sums, (nuint)i);
                (sum + (added & has.AsSingle())).StoreUnsafe(ref sums, (nuint)i);
            }
        }

        for (; i < count; i++)
        {
            var frequencies = column[i];
            if (frequencies != 0 && seen[i] >= from)
            {
                scores[i] += weight * bm25.Saturate(frequencies, titleLengths[i], abstractLengths[i]);
            }
        }
    }

    /// <summary>Lucene's BM25 IDF, which stays positive for terms in most papers.</summary>
    private double Idf(int documentFrequency) =>
        Math.Log(1 + (_liveCount - documentFrequency + 0.5) / (documentFrequency + 0.5));

    /// <summary>The BM25F constants for the index as it is now (its average field lengths). Caller holds the lock.</summary>
    private Bm25 Bm25Of()
    {
        var (avgTitle, avgAbstract) = _liveCount == 0
            ? (1.0, 1.0)
            : (Math.Max(_titleLengthSum / _liveCount, 1), Math.Max(_abstractLengthSum / _liveCount, 1));
        var o = _options;
        return new Bm25(
            (float)o.TitleWeight, (float)(1 - o.TitleB), (float)(o.TitleB / avgTitle),
            (float)(1 - o.AbstractB), (float)(o.AbstractB / avgAbstract), (float)o.K1);
    }

    /// <summary>
    /// BM25F's saturated, length-normalised term frequency over both fields, in [0, 1), with the
    /// query's constants worked out once: a posting then costs three divisions and no branch.
    /// </summary>
    private readonly record struct Bm25(float TitleWeight, float TitleBase, float TitleSlope, float AbstractBase, float AbstractSlope, float K1)
    {
        [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveInlining)]
        public float Saturate(int item, float titleLength, float abstractLength)
        {
            // Both fields always (a field without the term adds exactly 0): no branch to mispredict
            // on a common word that is in some titles and not in others.
            var title = (item >> 4) & MaxFieldFrequency;
            var @abstract = item & MaxFieldFrequency;
            var f = (TitleWeight * title / (TitleBase + (TitleSlope * titleLength)))
                + (@abstract / (AbstractBase + (AbstractSlope * abstractLength)));
            return f / (K1 + f);
        }
    }

    private static IEnumerable<string> Distinct(IReadOnlyList<string> terms) =>
        terms.Count <= 1 ? terms : terms.Distinct(StringComparer.Ordinal);

    /// <summary>
    /// The best <paramref name="limit"/> of <paramref name="matched"/> that <paramref name="filter"/>
    /// accepts, each scored <paramref name="scores"/> times <paramref name="scale"/>, with its query
    /// from <paramref name="bestQuery"/> (the first when null); <paramref name="scores"/> of
    /// <paramref name="matched"/> are left at 0.
    /// </summary>
    private LexicalMatch[] TopOf(ReadOnlySpan<int> matched, float[] scores, float scale, int[]? bestQuery, int limit, SlotFilter? filter, bool allSlots = false)
    {
        var heap = new PriorityQueue<int, (float Score, int Slot)>(limit + 1, WorseFirst.Instance);
        if (allSlots)
        {
            BestOfAll(scores, scale, limit, filter, heap);
        }
        else
        {
            Best(matched, scores, scale, limit, filter, heap);
        }

        var top = new LexicalMatch[heap.Count];
        for (var i = top.Length - 1; i >= 0; i--)
        {
            heap.TryDequeue(out var slot, out var priority);
            top[i] = new LexicalMatch(_papers[slot]!, priority.Score, bestQuery?[slot] ?? 0);
        }

        return top;
    }

    /// <summary>
    /// Leaves in <paramref name="heap"/> (empty on entry; worst first) the best <paramref name="limit"/>
    /// of <paramref name="matched"/> with a score above 0 that <paramref name="filter"/> accepts,
    /// each scored <paramref name="scores"/> times <paramref name="scale"/>; on equal scores the
    /// earlier paper ranks first, so answers are stable. Each paper's score is set back to 0 as it
    /// is read: the accumulator is clean for the next query, without a pass of its own.
    /// </summary>
    private void Best(ReadOnlySpan<int> matched, float[] scores, float scale, int limit, SlotFilter? filter, PriorityQueue<int, (float Score, int Slot)> heap)
    {
        // The heap's worst entry once it is full, kept in a local: most papers of a common word's
        // long list fall below it and cost one comparison, without peeking into the heap.
        var floor = (Score: float.NegativeInfinity, Slot: int.MaxValue);
        foreach (var slot in matched)
        {
            var score = scores[slot] * scale;
            scores[slot] = 0;
            if (score > 0)
            {
                Keep(slot, score, limit, filter, heap, ref floor);
            }
        }
    }

    /// <summary>
    /// <see cref="Best"/> over every slot below the count (after a column was read, no list of the
    /// papers reached was kept): 16 scores compared with the heap's worst at once, and a block
    /// with no score above it skipped; every score is set back to 0.
    /// </summary>
    private void BestOfAll(float[] scores, float scale, int limit, SlotFilter? filter, PriorityQueue<int, (float Score, int Slot)> heap)
    {
        var count = _slotCount;
        var floor = (Score: float.NegativeInfinity, Slot: int.MaxValue);
        var i = 0;
        if (Vector512.IsHardwareAccelerated)
        {
            ref var sums = ref MemoryMarshal.GetArrayDataReference(scores);
            var scaleBy = Vector512.Create(scale);
            for (; i <= count - 16; i += 16)
            {
                var block = Vector512.LoadUnsafe(ref sums, (nuint)i);
                if (!Vector512.GreaterThanAny(block, Vector512<float>.Zero))
                {
                    continue;
                }

                Vector512<float>.Zero.StoreUnsafe(ref sums, (nuint)i);
                var scaled = block * scaleBy;
                // Candidates: above 0 and not below the worst kept (a tie is settled by slot below).
                var lanes = (Vector512.GreaterThan(scaled, Vector512<float>.Zero) & Vector512.GreaterThanOrEqual(scaled, Vector512.Create(floor.Score))).ExtractMostSignificantBits();
                while (lanes != 0)
                {
                    var lane = BitOperations.TrailingZeroCount(lanes);
                    lanes &= lanes - 1;
                    Keep(i + lane, scaled.GetElement(lane), limit, filter, heap, ref floor);
                }
            }
        }

        for (; i < count; i++)
        {
            var score = scores[i] * scale;
            scores[i] = 0;
            if (score > 0)
            {
                Keep(i, score, limit, filter, heap, ref floor);
            }
        }
    }

    /// <summary>
    /// Offers one scored slot to a heap of the best <paramref name="limit"/> (worst first) that
    /// <paramref name="filter"/> accepts; <paramref name="floor"/> is the heap's worst once it is
    /// full, so most slots cost one comparison.
    /// </summary>
    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveInlining)]
    private void Keep(int slot, float score, int limit, SlotFilter? filter, PriorityQueue<int, (float Score, int Slot)> heap, ref (float Score, int Slot) floor)
    {
        if (WorseFirst.Instance.Compare((score, slot), floor) <= 0 || (filter is not null && !filter.Accepts(slot)))
        {
            return;
        }

        if (heap.Count < limit)
        {
            heap.Enqueue(slot, (score, slot));
        }
        else
        {
            heap.EnqueueDequeue(slot, (score, slot));
        }

        if (heap.Count == limit)
        {
            heap.TryPeek(out _, out floor);
        }
    }

    private void Retire(int slot)
    {
        foreach (var term in _slotTerms[slot]!)
        {
            var postings = _terms[term >>> SlotShift];
            postings.Live--;
            if (postings.Column is { } column)
            {
                column[slot] = 0;
            }
        }

        _slotTerms[slot] = null;
        _seenTicks[slot] = long.MinValue;
        _titleLengthSum -= _titleLengths[slot];
        _abstractLengthSum -= _abstractLengths[slot];
        _papers[slot] = null;
        _liveCount--;
    }

    /// <summary>Drops dead slots and renumbers the live ones in order, so posting lists stay sorted.</summary>
    private void Compact()
    {
        Compactions++;
        var renumbered = new int[_slotCount];
        var next = 0;
        for (var slot = 0; slot < _slotCount; slot++)
        {
            if (_papers[slot] is { } paper)
            {
                renumbered[slot] = next;
                _papers[next] = paper;
                _slotTerms[next] = _slotTerms[slot];
                _titleLengths[next] = _titleLengths[slot];
                _abstractLengths[next] = _abstractLengths[slot];
                _seenTicks[next] = _seenTicks[slot];
                _ordinals[next] = _ordinals[slot];
                _slotsById[paper.Paper.Id] = next;
                next++;
            }
            else
            {
                renumbered[slot] = -1;
            }
        }

        Array.Clear(_papers, next, _slotCount - next);
        Array.Clear(_slotTerms, next, _slotCount - next);
        _slotCount = next;
        // A term no live paper has keeps its id and an empty list (terms are few next to postings).
        for (var id = 0; id < _termCount; id++)
        {
            _terms[id].Renumber(renumbered);
        }

        foreach (var columned in _columned)
        {
            Array.Clear(columned.Column!);
            FillColumn(columned);
        }
    }

    private sealed class Postings
    {
        public int[] Items = new int[2];
        public int Count;

        /// <summary>Postings of live papers: the term's document frequency.</summary>
        public int Live;

        /// <summary>
        /// A common term's postings again, as a byte a slot (its posting's two frequencies, 0 where
        /// the paper lacks the term or is dead), given once the term is on an eighth of the papers
        /// (and 4,096): a paper's frequency is then read at its slot instead of searched for, and a
        /// whole list is added 16 slots an instruction. At 100,000 papers a column is 100 kB, a
        /// third of the list of a term on 80 % of them.
        /// </summary>
        public byte[]? Column;

        /// <summary>From this length a list grows by a quarter, not by doubling (at most a fifth of it unused).</summary>
        private const int LargeList = 256;

        public void Append(int item)
        {
            if (Count == Items.Length)
            {
                Array.Resize(ref Items, Items.Length < LargeList ? Math.Max(2, Items.Length * 2) : Items.Length + (Items.Length >> 2));
            }

            Items[Count++] = item;
            Live++;
        }

        public void TrimExcess()
        {
            if (Items.Length > Math.Max(2, Count))
            {
                Array.Resize(ref Items, Math.Max(2, Count));
            }
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

        /// <summary>
        /// Where the posting of <paramref name="slot"/> is, or -1, searching from
        /// <paramref name="start"/> on (galloping, then binary search), and leaving
        /// <paramref name="start"/> at the first posting of <paramref name="slot"/> or a later one:
        /// slots asked in increasing order walk the list forward once.
        /// </summary>
        public int FindFrom(int slot, ref int start)
        {
            var items = Items;
            var count = Count;
            var low = start;
            var high = low;
            var step = 1;
            while (high < count && (items[high] >>> SlotShift) < slot)
            {
                low = high + 1;
                high += step;
                step <<= 1;
            }

            high = Math.Min(high, count - 1);
            while (low <= high)
            {
                var middle = (low + high) >>> 1;
                if ((items[middle] >>> SlotShift) < slot) low = middle + 1;
                else high = middle - 1;
            }

            start = low;
            return low < count && (items[low] >>> SlotShift) == slot ? low : -1;
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
}
