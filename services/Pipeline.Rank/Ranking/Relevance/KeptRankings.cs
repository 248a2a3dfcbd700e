using System.Collections.Concurrent;
using System.Runtime.InteropServices;

namespace Pipeline.Rank.Ranking.Relevance;

/// <summary>
/// Each subscriber's last hybrid ranking (what <see cref="Recommender.Candidates"/> ranks a
/// Recommend from), kept until anything it was ranked from changes. A Recommend of a subscriber
/// whose papers, profile, votes and history are as they were then costs no ranking of the index:
/// only the choice among the kept candidates (trending and freshness are read at each call).
/// </summary>
/// <remarks>
/// A kept ranking is used only when the call asks the same question, so its answer is the one a
/// ranking now would give, exactly:
/// <list type="bullet">
/// <item>the same papers: <see cref="RelevanceRanker.Stamp"/> as it was when the ranking began
/// (a paper added or changed anywhere invalidates every kept ranking);</item>
/// <item>the same queries: a 64-bit fingerprint of their texts and vectors, so a new interest, a
/// vote that moves them (Rocchio) or a new seed paper does;</item>
/// <item>the same papers left out: the same history object with the same count (a history only
/// grows while it is the same object) and the same other exclusions (dislikes, seeds,
/// <c>exclude_paper_ids</c>);</item>
/// <item>an answer at least as long, ranked from the same side pools: a shorter one is its prefix.</item>
/// </list>
/// Only rankings without a window (<c>since</c>) or filter are kept: a window moves with the clock.
/// At most <see cref="Capacity"/> subscribers are kept (about 2 KB each for a Recommend of up to
/// 12 papers); beyond it an arbitrary one makes room. 0 keeps none. Rankings longer than
/// <see cref="MaxKeptLimit"/> are not kept.
/// </remarks>
public sealed class KeptRankings
{
    private readonly RelevanceRanker _ranker;
    private readonly ConcurrentDictionary<string, Entry> _entries = new(StringComparer.Ordinal);
    private long _hits;
    private long _misses;

    public KeptRankings(RelevanceRanker ranker, int capacity)
    {
        _ranker = ranker;
        Capacity = Math.Max(0, capacity);
    }

    public KeptRankings(RelevanceRanker ranker, IConfiguration configuration)
        : this(ranker, configuration.GetValue("Ranking:KeptRankings", DefaultCapacity))
    {
    }

    public const int DefaultCapacity = 10_000;

    /// <summary>
    /// The longest ranking kept: what a Recommend of up to 50 papers ranks (<see cref="Recommender.RankedFor"/>).
    /// A longer one is ranked each time, so a caller asking for 1,000 papers for every subscriber
    /// cannot make rank hold 160 KB for each.
    /// </summary>
    public const int MaxKeptLimit = 200;

    public int Capacity { get; }

    /// <summary>Subscribers whose ranking is kept (some may be out of date).</summary>
    public int Count => _entries.Count;

    /// <summary>Rankings answered from what was kept.</summary>
    public long Hits => Interlocked.Read(ref _hits);

    /// <summary>Rankings computed (nothing kept, or what was kept was out of date).</summary>
    public long Misses => Interlocked.Read(ref _misses);

    /// <summary>
    /// The ranking kept for <paramref name="key"/> when it is what <see cref="Rank"/> would answer
    /// now (true), without ranking anything when it is not (false): a caller can then skip the
    /// queue for a core that a ranking takes (<see cref="RankingGate"/>).
    /// </summary>
    public bool TryKept(
        string key, IReadOnlyList<RelevanceQuery> queries, int limit, SentPapers? sent, int[] extra, out IReadOnlyList<RelevanceHit> hits)
    {
        hits = [];
        return Capacity > 0 && limit > 0 && limit <= MaxKeptLimit
            && TryFind(key, _ranker.Stamp, Fingerprint(queries), _ranker.SidePool(limit), limit, sent, sent?.Count ?? 0, extra, out hits);
    }

    /// <summary>
    /// The hybrid ranking of <paramref name="queries"/> (<see cref="RelevanceRanker.Rank"/>, no
    /// window, no filter) leaving out the papers of <paramref name="sent"/> and those numbered
    /// <paramref name="extra"/> (sorted, as <see cref="SubscriberQueries.Excluded"/> gives them):
    /// the ranking kept for <paramref name="key"/> when it is still what a ranking now would give,
    /// else a new one, kept.
    /// </summary>
    public IReadOnlyList<RelevanceHit> Rank(string key, IReadOnlyList<RelevanceQuery> queries, int limit, SentPapers? sent, int[] extra)
    {
        // The count before the bitmap: what is left out holds at least the history counted, so a
        // paper sent meanwhile makes the next call rank again rather than miss it.
        var sentCount = sent?.Count ?? 0;
        if (Capacity == 0 || limit <= 0 || limit > MaxKeptLimit)
        {
            using var all = LeftOut.Of(sent, extra);
            return _ranker.Rank(queries, limit, exclude: all);
        }

        var stamp = _ranker.Stamp;
        var fingerprint = Fingerprint(queries);
        var sidePool = _ranker.SidePool(limit);
        if (TryFind(key, stamp, fingerprint, sidePool, limit, sent, sentCount, extra, out var hits))
        {
            return hits;
        }

        Interlocked.Increment(ref _misses);
        IReadOnlyList<RelevanceHit> ranked;
        using (var leftOut = LeftOut.Of(sent, extra))
        {
            ranked = _ranker.Rank(queries, limit, exclude: leftOut);
        }

        var entry = new Entry(
            stamp, fingerprint, sent, sentCount, extra.ToArray(), sidePool, limit,
            ranked.Select(h => new Kept(h.Paper, h.Score, h.Dense, h.Lexical, h.BestQuery, h.DenseQuery)).ToArray());
        if (!_entries.ContainsKey(key) && _entries.Count >= Capacity)
        {
            // The first entry met makes room (enumerating the dictionary itself takes no snapshot of its keys).
            foreach (var other in _entries)
            {
                _entries.TryRemove(other.Key, out _);
                break;
            }
        }

        _entries[key] = entry;
        return ranked;
    }

    private bool TryFind(
        string key, long stamp, ulong fingerprint, int sidePool, int limit, SentPapers? sent, int sentCount, int[] extra,
        out IReadOnlyList<RelevanceHit> hits)
    {
        if (_entries.TryGetValue(key, out var kept)
            && kept.Stamp == stamp
            && kept.Fingerprint == fingerprint
            && ReferenceEquals(kept.Sent, sent)
            && kept.SentCount == sentCount
            && kept.SidePool == sidePool
            && kept.Limit >= limit
            && kept.Extra.AsSpan().SequenceEqual(extra))
        {
            Interlocked.Increment(ref _hits);
            var answer = new RelevanceHit[Math.Min(limit, kept.Hits.Length)];
            for (var i = 0; i < answer.Length; i++)
            {
                var k = kept.Hits[i];
                answer[i] = new RelevanceHit(k.Paper, k.Score, k.Dense, k.Lexical, k.BestQuery) { DenseQuery = k.DenseQuery };
            }

            hits = answer;
            return true;
        }

        hits = [];
        return false;
    }

    /// <summary>Forgets what is kept for <paramref name="key"/> (a subscriber who left).</summary>
    public void Forget(string key) => _entries.TryRemove(key, out _);

    /// <summary>
    /// Two 32-bit hashes of the queries' texts and vectors (each seeded apart), as one 64-bit value:
    /// queries that differ in any bit of a vector or any character of a text give another
    /// fingerprint but for a chance of one in 2^64.
    /// </summary>
    internal static ulong Fingerprint(IReadOnlyList<RelevanceQuery> queries)
    {
        var low = new HashCode();
        var high = new HashCode();
        low.Add(0x5bd1e995);
        high.Add(0x27d4eb2f);
        low.Add(queries.Count);
        high.Add(queries.Count);
        foreach (var q in queries)
        {
            low.Add(q.Text, StringComparer.Ordinal);
            high.Add(q.Text.Length);
            high.Add(q.Text, StringComparer.Ordinal);
            var bytes = MemoryMarshal.AsBytes(q.Vector.AsSpan());
            low.AddBytes(bytes);
            high.Add(bytes.Length);
            high.AddBytes(bytes);
        }

        return ((ulong)(uint)high.ToHashCode() << 32) | (uint)low.ToHashCode();
    }

    /// <summary>A kept hit: what <see cref="RelevanceHit"/> holds, in one array instead of an object each.</summary>
    // DenseQuery fills what was the struct's padding: 40 bytes a kept hit either way.
    private readonly record struct Kept(IndexedPaper Paper, double Score, double Dense, double Lexical, int BestQuery, int DenseQuery);

    private sealed record Entry(
        long Stamp, ulong Fingerprint, SentPapers? Sent, int SentCount, int[] Extra, int SidePool, int Limit, Kept[] Hits);
}
