using System.Numerics;
using System.Numerics.Tensors;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using Pipeline.Contracts.Messages;

namespace Pipeline.Rank.Ranking;

/// <summary>A paper as rank knows it.</summary>
public sealed record IndexedPaper(PaperSummary Paper, DateTimeOffset IngestedAt)
{
    public PaperSummary Paper
    {
        get;
        init
        {
            field = value;
            // A copy with another paper (`with { Paper = … }`) gets that paper's number.
            Ordinal = PaperOrdinals.Of(value.Id);
        }
    } = Paper;

    /// <summary>The paper id's number in this process (<see cref="PaperOrdinals"/>): sets of papers are kept and searched by it.</summary>
    public int Ordinal { get; private init; } = PaperOrdinals.Of(Paper.Id);

    // When ingest first stored the paper, UTC ticks; 0 when unknown. A long, not a DateTimeOffset?
    // (24 bytes): 100,000 papers are held.
    private readonly long _firstIngestedTicks;

    /// <summary>
    /// When ingest first stored the paper, whatever records came after (<c>PaperIngested.FirstIngestedAt</c>;
    /// <see cref="IngestedAt"/> is when it stored this record); null when the event did not say.
    /// </summary>
    public DateTimeOffset? FirstIngestedAt
    {
        get => _firstIngestedTicks == 0 ? null : new DateTimeOffset(_firstIngestedTicks, TimeSpan.Zero);
        init => _firstIngestedTicks = value?.UtcTicks ?? 0;
    }

    // When rank first indexed the paper, UTC ticks; 0 when unknown.
    private readonly long _arrivedTicks;

    /// <summary>
    /// When rank first indexed the paper (kept by every later record of it, and in rank's Redis as
    /// <c>arrived_at</c>); null for a paper stored before that was kept, or rebuilt from upstream,
    /// whose arrival is taken as <see cref="FirstIngestedAt"/>.
    /// </summary>
    public DateTimeOffset? ArrivedAt
    {
        get => _arrivedTicks == 0 ? null : new DateTimeOffset(_arrivedTicks, TimeSpan.Zero);
        init => _arrivedTicks = value?.UtcTicks ?? 0;
    }

    /// <summary>
    /// How long after a paper's own date it may still arrive and count as new: arXiv announces a
    /// submission a day to four days after its submission time (the time its API gives), and a
    /// paper held for moderation later still. A paper that arrives later than this is an old paper
    /// brought in late (an import): windows keep its own date.
    /// </summary>
    public static readonly TimeSpan ArrivalLag = TimeSpan.FromDays(7);

    /// <summary>
    /// The time windows read (Trending's day, <c>since</c> of a digest's Recommend and of Search):
    /// <see cref="SeenAt"/>, or the paper's arrival (<see cref="ArrivedAt"/>, else
    /// <see cref="FirstIngestedAt"/>) when that is later and within <see cref="ArrivalLag"/> of it.
    /// A paper arXiv announced today with Monday's submission time is in today's window, so a digest
    /// that asks for what came since the last one gets it; ages, reasons and freshness stay counted
    /// from <see cref="SeenAt"/>.
    /// </summary>
    public DateTimeOffset WindowAt
    {
        get
        {
            var seen = SeenAt;
            return (ArrivedAt ?? FirstIngestedAt) is { } arrived && arrived > seen && arrived - seen <= ArrivalLag ? arrived : seen;
        }
    }

    /// <summary>
    /// Whether the paper is news at <paramref name="now"/>, what an instant alert is for: its window
    /// time (<see cref="WindowAt"/>) is within <see cref="ArrivalLag"/> of now. Not a paper brought
    /// in late (an import of old papers, a new version or new upvotes of a paper that arrived long
    /// ago), which windows also keep at its own date; a paper a daily-papers site features today
    /// is news, as on the site.
    /// </summary>
    public bool IsNewsAt(DateTimeOffset now) => now - WindowAt <= ArrivalLag;

    /// <summary>
    /// When the paper appeared to readers: its publication time (else when ingest first stored it,
    /// else when it stored this record) or,
    /// when a daily-papers site featured it later, that featuring (its time, else the start of its
    /// day, UTC; never before that start). Ages and freshness are counted from it, and windows
    /// (Trending's day, a digest's <c>since</c>) from it or a later arrival (<see cref="WindowAt"/>): an arXiv paper of last week that Hugging Face features today is today's news, as on
    /// the site, and its upvotes are counted over the hours it has been featured.
    /// </summary>
    public DateTimeOffset SeenAt => FeaturedLater(out var featured) ? featured : Paper.PublishedAt ?? FirstIngestedAt ?? IngestedAt;

    /// <summary>
    /// Whether <see cref="SeenAt"/> is a featuring on a daily-papers site, later than the paper's
    /// publication (reasons then say "since it was featured": the paper's own date is older).
    /// </summary>
    public bool SeenByFeaturing => FeaturedLater(out _);

    private bool FeaturedLater(out DateTimeOffset featuredAt)
    {
        featuredAt = default;
        if (Paper.Metadata is not { } m || (m.FeaturedOn is null && m.FeaturedAt is null))
        {
            return false;
        }

        // The featuring's time, but never before the start of its day (a source that gave an
        // earlier time, such as the paper's own date, in its place).
        DateTimeOffset? featured = m.FeaturedOn is { } day ? new DateTimeOffset(day.ToDateTime(TimeOnly.MinValue), TimeSpan.Zero) : null;
        if (m.FeaturedAt is { } at && !(at < featured))
        {
            featured = at;
        }

        if (featured > (Paper.PublishedAt ?? FirstIngestedAt ?? IngestedAt))
        {
            featuredAt = featured.Value;
            return true;
        }

        return false;
    }

    /// <summary>
    /// Whether this record of a paper is older than <paramref name="other"/>, a record of the same
    /// paper: a lower <see cref="PaperSummary.Version"/>, or the same version ingested earlier (ingest
    /// stamps each new content of a paper with the time it stored it, and <c>PaperEmbedded</c>
    /// carries that time). Times are compared to the millisecond, as rank's Redis keeps them, so the
    /// save to Redis (<see cref="Storage.RankStore.SavePapersAsync"/>) and the indexes in memory order
    /// two records alike. A record equal to <paramref name="other"/> in both is not older: the
    /// last one written wins (a redelivery).
    /// </summary>
    public bool IsOlderThan(IndexedPaper other) =>
        Paper.Version != other.Paper.Version
            ? Paper.Version < other.Paper.Version
            : IngestedAt.ToUnixTimeMilliseconds() < other.IngestedAt.ToUnixTimeMilliseconds();
}

/// <summary>A paper with its relevance to a set of query vectors, and which query it matched best.</summary>
public readonly record struct ScoredPaper(IndexedPaper Paper, float Relevance, int BestQuery);

/// <summary>
/// Every paper and its vector, in memory, for scoring. Vectors sit in one contiguous matrix
/// (<see cref="VectorRows"/>, fp32, fp16 or int8) so a scan is a run of SIMD dot products over a
/// block of rows decoded into a per-thread buffer: no allocation per paper. The index is rebuilt
/// from rank's Redis at start.
/// </summary>
/// <remarks>
/// Papers are kept without their abstract and without per-author details: at 100,000 papers the
/// abstracts alone are about 200 MB of .NET strings and nothing here scores on them (the lexical
/// index reads them when a paper is added). Answers fetch the abstracts of the papers they return
/// from Redis (<see cref="Storage.RankStore.GetAbstractsAsync"/>). Category and source strings are
/// interned: a few hundred values shared by every paper.
/// </remarks>
public sealed class PaperIndex
{
    public const int Dimensions = 384;

    /// <summary>The precision the service uses unless <c>Ranking:VectorPrecision</c> says otherwise (see docs/benchmarks.md).</summary>
    public const VectorPrecision ServiceDefaultPrecision = VectorPrecision.Int8;

    private readonly ReaderWriterLockSlim _lock = new();
    private readonly Dictionary<string, int> _slots = new(StringComparer.Ordinal);
    private readonly Dictionary<string, string> _interned = new(StringComparer.Ordinal);
    private readonly VectorRows _vectors;
    private IndexedPaper[] _papers = new IndexedPaper[1024];
    // When each paper appeared (UTC ticks), contiguous: a window is found without touching 100,000 objects.
    private long[] _seen = new long[1024];
    // Each row's paper number (IndexedPaper.Ordinal), contiguous: the prefilter's candidates are
    // checked against what a call leaves out (LeftOut) without touching the paper objects.
    private int[] _ordinals = new int[1024];
    // Each paper number's slot + 1 (0: not held), the reverse of _ordinals: a ranking's hit finds
    // its vector by the number it carries, without hashing its id (a kept Recommend reads 50).
    private int[] _slotsByOrdinal = new int[1024];
    private int _count;
    private long _version;
    private int _scans;

    /// <summary>An exact index: fp32 vectors, every scan scores every row (no prefilter).</summary>
    public PaperIndex()
        : this(VectorPrecision.Float32)
    {
        PrefilterFrom = int.MaxValue;
    }

    public PaperIndex(VectorPrecision precision) => _vectors = new VectorRows(Dimensions, precision);

    /// <summary>The service's index: precision from <c>Ranking:VectorPrecision</c>, else <see cref="ServiceDefaultPrecision"/>.</summary>
    public PaperIndex(IConfiguration configuration)
        : this(configuration.GetValue("Ranking:VectorPrecision", ServiceDefaultPrecision))
    {
        PrefilterFrom = configuration.GetValue("Ranking:PrefilterFrom", PrefilterFrom);
        PrefilterCandidates = configuration.GetValue("Ranking:PrefilterCandidates", PrefilterCandidates);
    }

    public VectorPrecision Precision => _vectors.Precision;

    /// <summary>Goes up with every upsert (answers cached on the index compare it).</summary>
    public long Version => Interlocked.Read(ref _version);

    /// <summary>
    /// From this many papers up, a scan runs on two threads (when there are two cores and no other
    /// scan is running): it halved one query's scan on the quiet 2-core machine (docs/benchmarks.md).
    /// int.MaxValue turns it off.
    /// </summary>
    public int ParallelThreshold { get; set; } = 32_768;

    /// <summary>
    /// From this many papers up, <see cref="Top"/> ranks by sign codes first and scores only the
    /// closest <see cref="PrefilterCandidates"/> rows exactly (a 1-bit prefilter with exact
    /// re-scoring, see docs/ranking.md). Below it every row is scored. int.MaxValue turns it off.
    /// </summary>
    public int PrefilterFrom { get; set; } = 20_000;

    /// <summary>
    /// How many rows the prefilter hands to exact scoring, at least: the rows of the smallest Hamming
    /// distances that the filter accepts (whole distance buckets, so ties are kept), and at least 20
    /// per result asked for.
    /// </summary>
    public int PrefilterCandidates { get; set; } = 2_000;

    public int Count
    {
        get
        {
            _lock.EnterReadLock();
            try { return _count; }
            finally { _lock.ExitReadLock(); }
        }
    }

    /// <summary>Bytes held by the vector matrix.</summary>
    public long VectorBytes
    {
        get
        {
            _lock.EnterReadLock();
            try { return _vectors.Bytes; }
            finally { _lock.ExitReadLock(); }
        }
    }

    /// <summary>
    /// Makes room for <paramref name="papers"/> papers at once: the loader knows the count, and
    /// growing by doubling would leave up to half the vector matrix unused (and copy it on the way).
    /// </summary>
    public void EnsureCapacity(int papers)
    {
        _lock.EnterWriteLock();
        try
        {
            if (papers > _papers.Length)
            {
                Array.Resize(ref _papers, papers);
                Array.Resize(ref _seen, papers);
                Array.Resize(ref _ordinals, papers);
            }

            if (papers > _slotsByOrdinal.Length)
            {
                Array.Resize(ref _slotsByOrdinal, papers);
            }

            _vectors.EnsureCapacity(papers);
        }
        finally
        {
            _lock.ExitWriteLock();
        }
    }

    /// <summary>
    /// Adds a paper or replaces the known paper with the same id. The index keeps a slim copy (no
    /// abstract). A record older than the one held (<see cref="IndexedPaper.IsOlderThan"/>: a
    /// redelivered earlier version, or one that lost a race with a newer) changes nothing.
    /// </summary>
    /// <returns>False when the index holds a newer record of the paper and kept it.</returns>
    public bool Upsert(IndexedPaper paper, ReadOnlySpan<float> vector)
    {
        if (vector.Length != Dimensions)
        {
            throw new ArgumentException($"A vector has {Dimensions} dimensions, not {vector.Length}.", nameof(vector));
        }

        _lock.EnterWriteLock();
        try
        {
            if (_slots.TryGetValue(paper.Paper.Id, out var slot))
            {
                if (paper.IsOlderThan(_papers[slot]))
                {
                    return false;
                }
            }
            else
            {
                slot = _count++;
                if (slot == _papers.Length)
                {
                    Array.Resize(ref _papers, _papers.Length * 2);
                    Array.Resize(ref _seen, _papers.Length);
                    Array.Resize(ref _ordinals, _papers.Length);
                }

                _slots[paper.Paper.Id] = slot;
            }

            _papers[slot] = Slim(paper);
            _seen[slot] = paper.WindowAt.UtcTicks;
            _ordinals[slot] = paper.Ordinal;
            if (paper.Ordinal >= _slotsByOrdinal.Length)
            {
                Array.Resize(ref _slotsByOrdinal, Math.Max(paper.Ordinal + 1, _slotsByOrdinal.Length * 2));
            }

            _slotsByOrdinal[paper.Ordinal] = slot + 1;
            _vectors.Set(slot, vector);
            Interlocked.Increment(ref _version);
            return true;
        }
        finally
        {
            _lock.ExitWriteLock();
        }
    }

    /// <summary>The index's (slim) copy of paper <paramref name="id"/>, or null.</summary>
    public IndexedPaper? Find(string id)
    {
        _lock.EnterReadLock();
        try
        {
            return _slots.TryGetValue(id, out var slot) ? _papers[slot] : null;
        }
        finally
        {
            _lock.ExitReadLock();
        }
    }

    public bool TryGet(string id, out IndexedPaper? paper, out float[] vector)
    {
        _lock.EnterReadLock();
        try
        {
            if (_slots.TryGetValue(id, out var slot))
            {
                paper = _papers[slot];
                vector = new float[Dimensions];
                _vectors.Get(slot, vector);
                return true;
            }

            paper = null;
            vector = [];
            return false;
        }
        finally
        {
            _lock.ExitReadLock();
        }
    }

    /// <summary>Paper <paramref name="id"/>'s vector (dequantized) into <paramref name="destination"/>, no array made; false for an unknown id.</summary>
    public bool TryGetVector(string id, Span<float> destination)
    {
        _lock.EnterReadLock();
        try
        {
            if (!_slots.TryGetValue(id, out var slot))
            {
                return false;
            }

            _vectors.Get(slot, destination);
            return true;
        }
        finally
        {
            _lock.ExitReadLock();
        }
    }

    /// <summary>
    /// The vector of <paramref name="paper"/> (dequantized) into <paramref name="destination"/>,
    /// found by its number (<see cref="IndexedPaper.Ordinal"/>) rather than its id; false when the
    /// index does not hold that paper.
    /// </summary>
    public bool TryGetVector(IndexedPaper paper, Span<float> destination) => TryGetVector(paper.Ordinal, destination);

    /// <summary>The vector of the paper numbered <paramref name="ordinal"/> (<see cref="PaperOrdinals"/>) into <paramref name="destination"/>; false when the index does not hold it.</summary>
    public bool TryGetVector(int ordinal, Span<float> destination)
    {
        _lock.EnterReadLock();
        try
        {
            var slots = _slotsByOrdinal;
            if ((uint)ordinal >= (uint)slots.Length || slots[ordinal] == 0)
            {
                return false;
            }

            _vectors.Get(slots[ordinal] - 1, destination);
            return true;
        }
        finally
        {
            _lock.ExitReadLock();
        }
    }

    /// <summary>
    /// The highest cosine between paper <paramref name="id"/>'s vector and any of
    /// <paramref name="queries"/>, and that query's index (as <see cref="MaxSimilarity"/> of the
    /// vector <see cref="TryGet"/> gives), from a row on the stack instead of a new vector; false
    /// for an unknown id.
    /// </summary>
    public bool TrySimilarity(string id, IReadOnlyList<float[]> queries, out (float Score, int Query) similarity)
    {
        Span<float> row = stackalloc float[Dimensions];
        _lock.EnterReadLock();
        try
        {
            if (!_slots.TryGetValue(id, out var slot))
            {
                similarity = default;
                return false;
            }

            _vectors.Get(slot, row);
        }
        finally
        {
            _lock.ExitReadLock();
        }

        similarity = MaxSimilarity(queries, row);
        return true;
    }

    /// <summary>
    /// The papers that appeared at or after <paramref name="from"/> (see <see cref="IndexedPaper.SeenAt"/>),
    /// of <paramref name="category"/> when not empty (case-insensitive), in index order. Reads the
    /// contiguous times first and touches only the papers of the window.
    /// </summary>
    public IReadOnlyList<IndexedPaper> SeenSince(DateTimeOffset from, string category = "")
    {
        var ticks = from.UtcTicks;
        _lock.EnterReadLock();
        try
        {
            var result = new List<IndexedPaper>();
            var seen = _seen.AsSpan(0, _count);
            for (var slot = 0; slot < seen.Length; slot++)
            {
                if (seen[slot] >= ticks && (category.Length == 0 || _papers[slot].Paper.Categories.Contains(category, StringComparer.OrdinalIgnoreCase)))
                {
                    result.Add(_papers[slot]);
                }
            }

            return result;
        }
        finally
        {
            _lock.ExitReadLock();
        }
    }

    /// <summary>Every paper that <paramref name="include"/> accepts (all when null), in index order.</summary>
    public IReadOnlyList<IndexedPaper> Select(Func<IndexedPaper, bool>? include = null)
    {
        _lock.EnterReadLock();
        try
        {
            var result = new List<IndexedPaper>(include is null ? _count : 0);
            for (var slot = 0; slot < _count; slot++)
            {
                if (include is null || include(_papers[slot]))
                {
                    result.Add(_papers[slot]);
                }
            }

            return result;
        }
        finally
        {
            _lock.ExitReadLock();
        }
    }

    /// <summary>
    /// The <paramref name="limit"/> papers most similar to any of <paramref name="queries"/> (each
    /// L2-normalised, so the dot product is the cosine), best first, among those <paramref name="include"/> accepts.
    /// <paramref name="include"/> may run on two threads at once and must not call back into this index.
    /// <paramref name="seenSince"/> keeps only papers that appeared then or later (<see cref="IndexedPaper.SeenAt"/>),
    /// read from a contiguous array before anything else: a digest's window costs no call per paper.
    /// <paramref name="exclude"/> names papers to leave out (those a subscriber was already sent,
    /// disliked or gave as seeds), a bitmap by paper number: the answer is the one a filter
    /// rejecting them would give. It costs a bit test on a row's number, and an exact scan asks it
    /// only about papers that would enter the answer, so a long history costs nothing per row
    /// (docs/ranking.md, "Papers left out").
    /// </summary>
    public IReadOnlyList<ScoredPaper> Top(IReadOnlyList<float[]> queries, int limit, Func<IndexedPaper, bool>? include = null, DateTimeOffset? seenSince = null, LeftOut? exclude = null)
    {
        if (queries.Count == 0 || limit <= 0)
        {
            return [];
        }

        foreach (var query in queries)
        {
            if (query.Length != Dimensions)
            {
                throw new ArgumentException($"A query vector has {Dimensions} dimensions, not {query.Length}.", nameof(queries));
            }
        }

        // int8 rows are scored against an int16 copy of each query in integer arithmetic.
        var quantized = Precision == VectorPrecision.Int8 ? QuantizedQueries.Of(queries) : null;
        var from = seenSince?.UtcTicks ?? long.MinValue;
        PriorityQueue<ScoredPaper, float> best;
        var scans = Interlocked.Increment(ref _scans);
        _lock.EnterReadLock();
        try
        {
            if (_count >= PrefilterFrom)
            {
                // A window that holds no more papers than the prefilter would score anyway (a
                // daily digest's day): all of them are scored exactly, and no row's code is read.
                best = from != long.MinValue && CountSeenFrom(from) <= PrefilterWanted(limit)
                    ? Scan(queries, quantized, limit, include, exclude, from, 0, _count)
                    : Prefiltered(queries, quantized, limit, include, exclude, from);
            }
            // Two threads only when this is the only scan running: with other requests in flight
            // every core is already busy, and splitting would only add hand-offs.
            else if (_count >= ParallelThreshold && Environment.ProcessorCount > 1 && scans == 1)
            {
                // Two halves on two threads; the read lock held here keeps writers out of both.
                var middle = _count / 2;
                PriorityQueue<ScoredPaper, float>? low = null, high = null;
                Parallel.Invoke(
                    () => low = Scan(queries, quantized, limit, include, exclude, from, 0, middle),
                    () => high = Scan(queries, quantized, limit, include, exclude, from, middle, _count));
                best = low!;
                while (high!.TryDequeue(out var s, out var score))
                {
                    Offer(best, s, score, limit);
                }
            }
            else
            {
                best = Scan(queries, quantized, limit, include, exclude, from, 0, _count);
            }
        }
        finally
        {
            _lock.ExitReadLock();
            Interlocked.Decrement(ref _scans);
        }

        var result = new ScoredPaper[best.Count];
        for (var i = result.Length - 1; i >= 0; i--)
        {
            result[i] = best.Dequeue();
        }

        return result;
    }

    /// <summary>Rows the prefilter scores exactly for an answer of <paramref name="limit"/>: <see cref="PrefilterCandidates"/>, or 20 per result.</summary>
    private int PrefilterWanted(int limit) => Math.Max(PrefilterCandidates, 20 * limit);

    /// <summary>How many papers appeared at or after <paramref name="ticks"/>: 8 times compared at once. Caller holds the read lock.</summary>
    private int CountSeenFrom(long ticks)
    {
        var seen = _seen.AsSpan(0, _count);
        var count = 0;
        var i = 0;
        if (Vector512.IsHardwareAccelerated)
        {
            var from = Vector512.Create(ticks);
            for (; i <= seen.Length - Vector512<long>.Count; i += Vector512<long>.Count)
            {
                count += BitOperations.PopCount(Vector512.GreaterThanOrEqual(Vector512.Create(seen.Slice(i, Vector512<long>.Count)), from).ExtractMostSignificantBits());
            }
        }

        for (; i < seen.Length; i++)
        {
            count += seen[i] >= ticks ? 1 : 0;
        }

        return count;
    }

    /// <summary>The highest cosine between <paramref name="vector"/> and any query, and that query's index.</summary>
    public static (float Score, int Query) MaxSimilarity(IReadOnlyList<float[]> queries, ReadOnlySpan<float> vector)
    {
        var score = float.NegativeInfinity;
        var bestQuery = 0;
        for (var q = 0; q < queries.Count; q++)
        {
            var s = TensorPrimitives.Dot(queries[q], vector);
            if (s > score)
            {
                score = s;
                bestQuery = q;
            }
        }

        return (score, bestQuery);
    }

    /// <summary>Slots [from, to): the best <paramref name="limit"/> as a min-heap. Caller holds the read lock.</summary>
    private PriorityQueue<ScoredPaper, float> Scan(IReadOnlyList<float[]> queries, QuantizedQueries? quantized, int limit, Func<IndexedPaper, bool>? include, LeftOut? exclude, long seenFrom, int from, int to)
    {
        var best = new PriorityQueue<ScoredPaper, float>(limit + 1);
        if (quantized is not null)
        {
            ScanInt8(quantized, limit, include, exclude, seenFrom, from, to, best);
            return best;
        }

        var scratch = _vectors.Scratch();
        Span<bool> accepted = stackalloc bool[VectorRows.BlockRows];
        for (var first = from; first < to; first += VectorRows.BlockRows)
        {
            var rows = Math.Min(VectorRows.BlockRows, to - first);
            var any = false;
            for (var r = 0; r < rows; r++)
            {
                accepted[r] = _seen[first + r] >= seenFrom && (include is null || include(_papers[first + r]));
                any |= accepted[r];
            }

            if (!any)
            {
                continue;
            }

            var block = _vectors.Decode(first, rows, scratch);
            for (var r = 0; r < rows; r++)
            {
                if (!accepted[r])
                {
                    continue;
                }

                var slot = first + r;
                var (score, bestQuery) = MaxSimilarity(queries, block.Slice(r * Dimensions, Dimensions));
                score *= _vectors.ScaleOf(slot);
                if ((best.Count < limit || score > best.Peek().Relevance) && (exclude is null || !exclude.Contains(_ordinals[slot])))
                {
                    Offer(best, new ScoredPaper(_papers[slot], score, bestQuery), score, limit);
                }
            }
        }

        return best;
    }

    /// <summary>
    /// <see cref="Scan"/> for int8 rows: integer dot products against the int16 queries, straight
    /// from the matrix (no decode, no scratch). Caller holds the read lock.
    /// </summary>
    private void ScanInt8(QuantizedQueries queries, int limit, Func<IndexedPaper, bool>? include, LeftOut? exclude, long seenFrom, int from, int to, PriorityQueue<ScoredPaper, float> best)
    {
        var filtered = include is not null || seenFrom != long.MinValue;
        Span<bool> accepted = stackalloc bool[VectorRows.BlockRows];
        var floor = float.NegativeInfinity;
        var many = queries.Count > 1 && Dimensions == 384 && VectorRows.CanScoreManyAt384;
        for (var first = from; first < to; first += VectorRows.BlockRows)
        {
            var rows = Math.Min(VectorRows.BlockRows, to - first);
            if (filtered)
            {
                var any = false;
                for (var r = 0; r < rows; r++)
                {
                    accepted[r] = _seen[first + r] >= seenFrom && (include is null || include(_papers[first + r]));
                    any |= accepted[r];
                }

                if (!any)
                {
                    continue;
                }
            }

            for (var r = 0; r < rows; r++)
            {
                if (filtered && !accepted[r])
                {
                    continue;
                }

                var slot = first + r;
                var row = _vectors.Int8Row(slot);
                var score = float.NegativeInfinity;
                var bestQuery = 0;
                if (many)
                {
                    // Several interests: the row is widened once for all of them (same integers).
                    (score, bestQuery) = VectorRows.BestDotInt8At384(row, queries.Flat, queries.Scales);
                }
                else
                {
                    for (var q = 0; q < queries.Count; q++)
                    {
                        var s = VectorRows.DotInt8(row, queries.Values(q)) * queries.Scales[q];
                        if (s > score)
                        {
                            score = s;
                            bestQuery = q;
                        }
                    }
                }

                score *= _vectors.ScaleOf(slot);
                if ((best.Count < limit || score > floor) && (exclude is null || !exclude.Contains(_ordinals[slot])))
                {
                    Offer(best, new ScoredPaper(_papers[slot], score, bestQuery), score, limit);
                    if (best.Count == limit)
                    {
                        floor = best.Peek().Relevance;
                    }
                }
            }
        }
    }

    /// <summary>
    /// The best <paramref name="limit"/> rows by exact score among the rows whose sign codes are
    /// closest to the queries' (the smallest Hamming distance to any query): every row costs one
    /// XOR and popcount per 64 dimensions and query, and only the candidates are scored exactly
    /// (and offered to <paramref name="include"/>). Candidates are taken in whole distance
    /// buckets, nearest first, until <see cref="PrefilterCandidates"/> of them are accepted; a
    /// filter that rejects most rows widens the net rather than returning fewer papers. Rows
    /// <paramref name="exclude"/> leaves out are rejected the same way, by a bit test on each
    /// candidate's number. Caller holds the read lock.
    /// </summary>
    private PriorityQueue<ScoredPaper, float> Prefiltered(IReadOnlyList<float[]> queries, QuantizedQueries? quantized, int limit, Func<IndexedPaper, bool>? include, LeftOut? exclude, long seenFrom)
    {
        var words = _vectors.CodeWords;
        var codes = new ulong[queries.Count * words];
        for (var q = 0; q < queries.Count; q++)
        {
            VectorRows.SignCode(queries[q], codes.AsSpan(q * words, words));
        }

        var distances = t_distances is { } kept && kept.Length >= _count ? kept : t_distances = new ushort[Math.Max(_count, _count + (_count / 8))];
        var histogram = new int[Dimensions + 2];
        VectorRows.NearestCodes(_vectors.Codes(_count), codes, words, distances.AsSpan(0, _count), histogram);
        if (seenFrom != long.MinValue)
        {
            // Outside the window: out of every bucket (the sentinel is above the last one).
            for (var slot = 0; slot < _count; slot++)
            {
                if (_seen[slot] < seenFrom)
                {
                    histogram[distances[slot]]--;
                    distances[slot] = ushort.MaxValue;
                }
            }
        }

        var best = new PriorityQueue<ScoredPaper, float>(limit + 1);
        var scratch = quantized is null ? _vectors.Scratch() : default;
        var many = quantized is not null && quantized.Count > 1 && VectorRows.CanScoreManyAt384;
        var wanted = PrefilterWanted(limit);
        var accepted = 0;
        var candidates = new List<int>(wanted + (wanted / 2));
        var below = 0; // buckets [0, below) are done
        var taken = 0;
        var floor = float.NegativeInfinity;
        while (accepted < wanted && below < histogram.Length)
        {
            // Whole buckets up to the one that brings the rows taken to what is still wanted (all
            // of it if nothing was taken yet, three times what was if the filter passed none of it, else
            // in proportion to what the filter passed).
            var need = accepted == 0 ? Math.Max(wanted, 3L * taken) : (long)(wanted - accepted) * taken / accepted;
            var upTo = below;
            var rows = 0L;
            while (upTo < histogram.Length && rows < need)
            {
                rows += histogram[upTo++];
            }

            taken += (int)rows;
            candidates.Clear();
            VectorRows.RowsWithin(distances.AsSpan(0, _count), below, upTo, candidates);
            if (include is not null || exclude is not null)
            {
                // What the call leaves out leaves the net as a filter's rejections do (a bit test
                // on the row's number a candidate), so a long history widens the net instead of
                // filling it with papers that cannot be answered.
                var passed = 0;
                var found = CollectionsMarshal.AsSpan(candidates);
                foreach (var slot in found)
                {
                    if ((exclude is null || !exclude.Contains(_ordinals[slot])) && (include is null || include(_papers[slot])))
                    {
                        found[passed++] = slot;
                    }
                }

                candidates.RemoveRange(passed, candidates.Count - passed);
            }

            accepted += candidates.Count;
            // Candidates are scattered over the matrix: each row is hinted into cache a few rows
            // before it is scored, so the memory waits overlap instead of adding up.
            const int Ahead = 8;
            var slots = CollectionsMarshal.AsSpan(candidates);
            for (var i = 0; i < Math.Min(Ahead, slots.Length); i++)
            {
                _vectors.Prefetch(slots[i]);
            }

            for (var i = 0; i < slots.Length; i++)
            {
                if (i + Ahead < slots.Length)
                {
                    _vectors.Prefetch(slots[i + Ahead]);
                }

                var slot = slots[i];
                var (score, bestQuery) = ScoreRow(slot, queries, quantized, many, scratch);
                if (best.Count < limit || score > floor)
                {
                    Offer(best, new ScoredPaper(_papers[slot], score, bestQuery), score, limit);
                    if (best.Count == limit)
                    {
                        floor = best.Peek().Relevance;
                    }
                }
            }

            below = upTo;
        }

        return best;
    }

    /// <summary>One row's exact score against the queries (the best one) and which query that was. Caller holds the read lock.</summary>
    private (float Score, int Query) ScoreRow(int slot, IReadOnlyList<float[]> queries, QuantizedQueries? quantized, bool many, Span<float> scratch)
    {
        if (quantized is null)
        {
            var row = scratch[..Dimensions];
            _vectors.Get(slot, row);
            return MaxSimilarity(queries, row);
        }

        var int8 = _vectors.Int8Row(slot);
        float score;
        var bestQuery = 0;
        if (many)
        {
            (score, bestQuery) = VectorRows.BestDotInt8At384(int8, quantized.Flat, quantized.Scales);
        }
        else
        {
            score = float.NegativeInfinity;
            for (var q = 0; q < quantized.Count; q++)
            {
                var s = VectorRows.DotInt8(int8, quantized.Values(q)) * quantized.Scales[q];
                if (s > score)
                {
                    score = s;
                    bestQuery = q;
                }
            }
        }

        return (score * _vectors.ScaleOf(slot), bestQuery);
    }

    [ThreadStatic]
    private static ushort[]? t_distances;

    /// <summary>Queries as int16 (see <see cref="VectorRows.QuantizeQuery"/>), back to back, with their scales.</summary>
    private sealed class QuantizedQueries
    {
        private QuantizedQueries(short[] flat, float[] scales) => (Flat, Scales) = (flat, scales);

        public short[] Flat { get; }

        public float[] Scales { get; }

        public int Count => Scales.Length;

        public ReadOnlySpan<short> Values(int query) => Flat.AsSpan(query * Dimensions, Dimensions);

        public static QuantizedQueries Of(IReadOnlyList<float[]> queries)
        {
            var flat = new short[queries.Count * Dimensions];
            var scales = new float[queries.Count];
            for (var q = 0; q < queries.Count; q++)
            {
                scales[q] = VectorRows.QuantizeQuery(queries[q], flat.AsSpan(q * Dimensions, Dimensions));
            }

            return new QuantizedQueries(flat, scales);
        }
    }

    private static void Offer(PriorityQueue<ScoredPaper, float> best, ScoredPaper paper, float score, int limit)
    {
        if (best.Count < limit)
        {
            best.Enqueue(paper, score);
        }
        else if (score > best.Peek().Relevance)
        {
            best.EnqueueDequeue(paper, score);
        }
    }

    /// <summary>What the index keeps of a paper: everything but the abstract and per-author details. Caller holds the write lock.</summary>
    private IndexedPaper Slim(IndexedPaper paper)
    {
        var p = paper.Paper;
        var categories = new string[p.Categories.Count];
        for (var i = 0; i < categories.Length; i++)
        {
            categories[i] = Intern(p.Categories[i]);
        }

        // Authors repeat across papers (a prolific author, a lab's list): one string each.
        var authors = new string[p.Authors.Count];
        for (var i = 0; i < authors.Length; i++)
        {
            authors[i] = Intern(p.Authors[i]);
        }

        var metadata = p.Metadata is { AuthorDetails: not null } m ? m with { AuthorDetails = null } : p.Metadata;
        var slim = p with { Abstract = "", Authors = authors, Categories = categories, Source = Intern(p.Source), Metadata = metadata };
        return paper with { Paper = slim };
    }

    private string Intern(string value)
    {
        if (!_interned.TryGetValue(value, out var known))
        {
            _interned[value] = known = value;
        }

        return known;
    }
}
