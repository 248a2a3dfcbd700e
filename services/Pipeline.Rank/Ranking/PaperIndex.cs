using System.Numerics.Tensors;
using Pipeline.Contracts.Messages;

namespace Pipeline.Rank.Ranking;

/// <summary>A paper as rank knows it.</summary>
public sealed record IndexedPaper(PaperSummary Paper, DateTimeOffset IngestedAt)
{
    /// <summary>When the paper appeared: its publication time, else when it was ingested.</summary>
    public DateTimeOffset SeenAt => Paper.PublishedAt ?? IngestedAt;
}

/// <summary>A paper with its relevance to a set of query vectors, and which query it matched best.</summary>
public readonly record struct ScoredPaper(IndexedPaper Paper, float Relevance, int BestQuery);

/// <summary>
/// Every paper and its vector, in memory, for scoring. Vectors sit in one contiguous array so a
/// scan is a run of SIMD dot products; the index is rebuilt from rank's Redis at start.
/// </summary>
public sealed class PaperIndex
{
    public const int Dimensions = 384;

    private readonly ReaderWriterLockSlim _lock = new();
    private readonly Dictionary<string, int> _slots = new(StringComparer.Ordinal);
    private IndexedPaper[] _papers = new IndexedPaper[1024];
    private float[] _vectors = new float[1024 * Dimensions];
    private int _count;

    public int Count
    {
        get
        {
            _lock.EnterReadLock();
            try { return _count; }
            finally { _lock.ExitReadLock(); }
        }
    }

    /// <summary>Adds a paper or replaces the known paper with the same id.</summary>
    public void Upsert(IndexedPaper paper, ReadOnlySpan<float> vector)
    {
        if (vector.Length != Dimensions)
        {
            throw new ArgumentException($"A vector has {Dimensions} dimensions, not {vector.Length}.", nameof(vector));
        }

        _lock.EnterWriteLock();
        try
        {
            if (!_slots.TryGetValue(paper.Paper.Id, out var slot))
            {
                slot = _count++;
                if (slot == _papers.Length)
                {
                    Array.Resize(ref _papers, _papers.Length * 2);
                    Array.Resize(ref _vectors, _vectors.Length * 2);
                }

                _slots[paper.Paper.Id] = slot;
            }

            _papers[slot] = paper;
            vector.CopyTo(_vectors.AsSpan(slot * Dimensions, Dimensions));
        }
        finally
        {
            _lock.ExitWriteLock();
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
                vector = _vectors.AsSpan(slot * Dimensions, Dimensions).ToArray();
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

    /// <summary>Every paper that <paramref name="include"/> accepts (all when null), in index order.</summary>
    public IReadOnlyList<IndexedPaper> Select(Func<IndexedPaper, bool>? include = null)
    {
        _lock.EnterReadLock();
        try
        {
            var result = new List<IndexedPaper>();
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
    /// </summary>
    public IReadOnlyList<ScoredPaper> Top(IReadOnlyList<float[]> queries, int limit, Func<IndexedPaper, bool>? include = null)
    {
        if (queries.Count == 0 || limit <= 0)
        {
            return [];
        }

        var best = new PriorityQueue<ScoredPaper, float>(limit + 1);
        _lock.EnterReadLock();
        try
        {
            for (var slot = 0; slot < _count; slot++)
            {
                var paper = _papers[slot];
                if (include is not null && !include(paper))
                {
                    continue;
                }

                var vector = new ReadOnlySpan<float>(_vectors, slot * Dimensions, Dimensions);
                var (score, bestQuery) = MaxSimilarity(queries, vector);
                if (best.Count < limit)
                {
                    best.Enqueue(new ScoredPaper(paper, score, bestQuery), score);
                }
                else if (score > best.Peek().Relevance)
                {
                    best.EnqueueDequeue(new ScoredPaper(paper, score, bestQuery), score);
                }
            }
        }
        finally
        {
            _lock.ExitReadLock();
        }

        var result = new ScoredPaper[best.Count];
        for (var i = result.Length - 1; i >= 0; i--)
        {
            result[i] = best.Dequeue();
        }

        return result;
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
}
