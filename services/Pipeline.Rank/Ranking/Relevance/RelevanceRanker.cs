using System.Buffers;
using System.Text;

namespace Pipeline.Rank.Ranking.Relevance;

/// <summary>A query: its text (for lexical matching) and its embedding (for dense matching).</summary>
public sealed record RelevanceQuery(string Text, float[] Vector);

/// <summary>
/// A paper's relevance to a set of queries: the fused score (0 to 1, higher is better), its dense
/// part (the cosine of the best query), its lexical part (BM25F normalised to 0 to 1, see
/// <see cref="LexicalIndex"/>) and which query it matched best.
/// </summary>
public sealed record RelevanceHit(IndexedPaper Paper, double Score, double Dense, double Lexical, int BestQuery)
{
    /// <summary>
    /// The query <see cref="Dense"/> is the cosine of (-1: not known, taken as <see cref="BestQuery"/>).
    /// It differs from <see cref="BestQuery"/> when the words of one query ranked the paper higher
    /// than the meaning of another did.
    /// </summary>
    public int DenseQuery { get; init; } = -1;
}

/// <summary>
/// Ranks papers by relevance to queries: hybrid retrieval that fuses a lexical ranking (BM25F over
/// title and abstract) with a dense one (cosine over the <see cref="PaperIndex"/> vectors).
/// Keyword search finds rare names and acronyms that an embedding blurs; the embedding finds
/// papers that say the same thing in other words. Each side proposes its best
/// <see cref="RelevanceOptions.CandidatePool"/> papers and the two lists are fused.
/// </summary>
/// <remarks>
/// Several queries (a subscriber's interests) rank a paper by its best query: the dense side takes
/// the highest cosine over the queries, the lexical side the highest normalised BM25F.
/// <para>The score of <see cref="RelevanceFusion.ReciprocalRank"/> is rank-based: 1 for a paper first
/// on both sides, about 0.5 for one first on one side only. It orders one answer; for an absolute
/// threshold use <see cref="RelevanceHit.Dense"/>.</para>
/// </remarks>
public sealed class RelevanceRanker(PaperIndex index, RelevanceOptions? options = null)
{
    private readonly RelevanceOptions _options = options ?? new RelevanceOptions();
    private readonly LexicalIndex _lexical = new(options);
    private int _fusing;
    private long _changes;
    private long _concurrentFusions;

    public RelevanceOptions Options => _options;

    /// <summary>
    /// Goes up whenever the papers ranked change: an upsert into the vector index or a paper
    /// indexed for lexical matching (after its text is in). A ranking kept for later
    /// (<see cref="KeptRankings"/>) is valid while this is what it was when the ranking began.
    /// </summary>
    public long Stamp => index.Version + Interlocked.Read(ref _changes);

    /// <summary>The candidates each side proposes for an answer of <paramref name="limit"/> papers.</summary>
    public int SidePool(int limit) => Math.Max(limit, _options.CandidatePool);

    /// <summary>The lexical side (for tests and benchmarks that switch its shortcuts off to compare).</summary>
    internal LexicalIndex Lexical => _lexical;

    /// <summary>
    /// Whether a hybrid ranking that is the only one running (and has a second core) ranks its
    /// dense and lexical sides at once, one on the calling thread and one on the thread pool; on by
    /// default. With other rankings in flight every core is already busy and the sides run one
    /// after the other. Off always runs them one after the other (to compare).
    /// </summary>
    public bool ConcurrentSides { get; set; } = true;

    /// <summary>Hybrid rankings whose two sides ran at once (for tests and benchmarks).</summary>
    internal long ConcurrentFusions => Interlocked.Read(ref _concurrentFusions);

    /// <summary>
    /// Indexes a paper's text for lexical matching (its vector lives in <see cref="PaperIndex"/>);
    /// the same id again replaces it. Call it after <see cref="PaperIndex.Upsert"/>: the lexical
    /// index then shares the vector index's slim copy of the paper instead of keeping its own. A
    /// record older than the one either index holds (<see cref="IndexedPaper.IsOlderThan"/>) changes
    /// nothing, so the two sides keep the same version of a paper.
    /// </summary>
    public void Add(IndexedPaper paper)
    {
        if (IsStale(paper, out var keep))
        {
            return;
        }

        _lexical.Add(paper, keep);
        Interlocked.Increment(ref _changes);
    }

    /// <summary>
    /// As <see cref="Add(IndexedPaper)"/>, with the abstract as the UTF-8 bytes rank's Redis holds
    /// (the paper's own <c>Abstract</c> is not read): decoded into a rented buffer, so the startup
    /// load makes no string of each abstract only to tokenise it. Invalid bytes decode as U+FFFD,
    /// as they do into a string.
    /// </summary>
    public void Add(IndexedPaper paper, ReadOnlySpan<byte> abstractUtf8)
    {
        if (IsStale(paper, out var keep))
        {
            return;
        }

        var buffer = ArrayPool<char>.Shared.Rent(Encoding.UTF8.GetMaxCharCount(abstractUtf8.Length));
        try
        {
            var length = Encoding.UTF8.GetChars(abstractUtf8, buffer);
            _lexical.Add(paper, buffer.AsSpan(0, length), keep);
        }
        finally
        {
            ArrayPool<char>.Shared.Return(buffer);
            Interlocked.Increment(ref _changes);
        }
    }

    /// <summary>
    /// Whether the vector index holds a newer record of <paramref name="paper"/>; <paramref name="keep"/>
    /// is that index's copy of the paper, if it holds one.
    /// </summary>
    private bool IsStale(IndexedPaper paper, out IndexedPaper? keep)
    {
        keep = index.Find(paper.Paper.Id);
        return keep is not null && paper.IsOlderThan(keep);
    }

    /// <summary>How many papers the lexical index holds.</summary>
    public int PaperCount => _lexical.Count;

    /// <summary>After a bulk load: the lexical index gives back the room its lists grew into.</summary>
    public void TrimExcess() => _lexical.TrimExcess();

    /// <summary>The share of the indexed papers whose title or abstract has <paramref name="term"/> (a term of <see cref="SearchTerms"/>).</summary>
    public double ShareOf(string term) => _lexical.ShareOf(term);

    /// <summary>
    /// Why <paramref name="hit"/> matched, in words (<see cref="RelevanceReason"/>): which query
    /// words occur in the title and in the abstract, read from the lexical index, so a paper found
    /// by either side is explained the same way without keeping its abstract in memory.
    /// </summary>
    public string Explain(RelevanceHit hit, IReadOnlyList<string> queryTexts, string what = "interest") =>
        RelevanceReason.Explain(hit, queryTexts, what, terms => _lexical.Places(hit.Paper.Paper.Id, terms));

    /// <summary>As above, naming each query by its index, with an optional note beside the similarity (<see cref="RelevanceReason"/>).</summary>
    public string Explain(RelevanceHit hit, IReadOnlyList<string> queryTexts, Func<int, string> what, string? similarityNote) =>
        RelevanceReason.Explain(hit, queryTexts, what, terms => _lexical.Places(hit.Paper.Paper.Id, terms), similarityNote);

    /// <summary>
    /// The <paramref name="limit"/> papers most relevant to any of <paramref name="queries"/>, best
    /// first, among those <paramref name="include"/> accepts. <paramref name="mode"/> chooses the
    /// signals (hybrid in the product; one side alone to measure it); every hit carries both parts.
    /// <paramref name="seenSince"/>, when given, keeps only papers that appeared then or later (the
    /// dense side reads it from a contiguous array; <paramref name="include"/> need not repeat it).
    /// <paramref name="exclude"/> leaves out papers by number, giving the answer a filter rejecting
    /// them would, for a bit test a paper asked about (<see cref="PaperIndex.Top"/>): for what a
    /// subscriber was already sent.
    /// </summary>
    public IReadOnlyList<RelevanceHit> Rank(
        IReadOnlyList<RelevanceQuery> queries,
        int limit,
        Func<IndexedPaper, bool>? include = null,
        RelevanceMode mode = RelevanceMode.Hybrid,
        DateTimeOffset? seenSince = null,
        LeftOut? exclude = null)
    {
        ArgumentNullException.ThrowIfNull(queries);
        if (queries.Count == 0 || limit <= 0)
        {
            return [];
        }

        var vectors = new float[queries.Count][];
        var terms = new IReadOnlyList<string>[queries.Count];
        for (var q = 0; q < queries.Count; q++)
        {
            vectors[q] = queries[q].Vector;
            terms[q] = TermsOf(queries[q].Text);
            if (mode != RelevanceMode.Lexical && vectors[q].Length != PaperIndex.Dimensions)
            {
                throw new ArgumentException($"Query {q} has a vector of {vectors[q].Length} dimensions, not {PaperIndex.Dimensions}.", nameof(queries));
            }
        }

        return mode switch
        {
            RelevanceMode.Dense => index.Top(vectors, limit, include, seenSince, exclude)
                .Select(s => WithLexical(s.Paper, Math.Max(0, s.Relevance), s.Relevance, s.BestQuery, terms))
                .ToArray(),
            RelevanceMode.Lexical => _lexical.Search(terms, limit, include, seenSince, exclude)
                .Select(m => WithDense(m.Paper, m.Score, m.Score, m.BestQuery, vectors))
                .ToArray(),
            _ => Fuse(vectors, terms, limit, include, seenSince, exclude),
        };
    }

    /// <summary>The terms the lexical side matches for a query text (also what <see cref="RelevanceReason"/> looks for).</summary>
    public static IReadOnlyList<string> TermsOf(string? text) =>
        SearchTerms.Of(text).Select(t => t.Term).Distinct(StringComparer.Ordinal).ToArray();

    private RelevanceHit[] Fuse(float[][] vectors, IReadOnlyList<string>[] terms, int limit, Func<IndexedPaper, bool>? include, DateTimeOffset? seenSince, LeftOut? exclude)
    {
        var pool = SidePool(limit);
        var (dense, lexical) = Sides(vectors, terms, pool, include, seenSince, exclude);

        var candidates = new Dictionary<string, Candidate>(dense.Count + lexical.Count, StringComparer.Ordinal);
        for (var rank = 0; rank < dense.Count; rank++)
        {
            var s = dense[rank];
            candidates[s.Paper.Paper.Id] = new Candidate(s.Paper) { DenseRank = rank + 1, Dense = s.Relevance, DenseQuery = s.BestQuery };
        }

        for (var rank = 0; rank < lexical.Count; rank++)
        {
            var m = lexical[rank];
            if (!candidates.TryGetValue(m.Paper.Paper.Id, out var candidate))
            {
                candidate = new Candidate(m.Paper);
                candidates[m.Paper.Paper.Id] = candidate;
            }

            (candidate.LexicalRank, candidate.Lexical, candidate.LexicalQuery) = (rank + 1, m.Score, m.BestQuery);
        }

        if (_options.Fusion == RelevanceFusion.ScoreMix)
        {
            MixScores(candidates.Values, vectors, terms, dense, lexical);
        }
        else
        {
            var k = _options.RrfK;
            foreach (var c in candidates.Values)
            {
                var fused = (c.DenseRank > 0 ? 1.0 / (k + c.DenseRank) : 0) + (c.LexicalRank > 0 ? 1.0 / (k + c.LexicalRank) : 0);
                // Scaled so a paper ranked first on both sides scores 1.
                c.Fused = fused * (k + 1) / 2;
                c.BestQuery = c.LexicalRank > 0 && (c.DenseRank == 0 || c.LexicalRank < c.DenseRank) ? c.LexicalQuery : c.DenseQuery;
            }
        }

        // Ids are unique here, so the order is total and an unstable sort gives LINQ's answer
        // (OrderByDescending … ThenBy id) with less work: the merge of ~200 candidates took 0.117 ms
        // instead of 0.155 in process.
        var top = new Candidate[candidates.Count];
        candidates.Values.CopyTo(top, 0);
        Array.Sort(top, FusedFirst.Instance);
        if (top.Length > limit)
        {
            Array.Resize(ref top, limit);
        }

        var hits = new RelevanceHit[top.Length];
        for (var i = 0; i < top.Length; i++)
        {
            var c = top[i];
            FillMissing(c, vectors, terms);
            hits[i] = new RelevanceHit(c.Paper, Math.Clamp(c.Fused, 0, 1), c.Dense, c.Lexical, c.BestQuery) { DenseQuery = c.DenseQuery };
        }

        return hits;
    }

    /// <summary>
    /// Both sides' candidates. They read the indexes only (each under its own read lock), so they
    /// can run at once; they do when this is the only hybrid ranking in flight and there is a second
    /// core (<see cref="ConcurrentSides"/>): the call then takes about as long as its slower side
    /// instead of both (docs/benchmarks.md, "Both sides at once").
    /// </summary>
    private (IReadOnlyList<ScoredPaper> Dense, IReadOnlyList<LexicalMatch> Lexical) Sides(
        float[][] vectors, IReadOnlyList<string>[] terms, int pool, Func<IndexedPaper, bool>? include, DateTimeOffset? seenSince, LeftOut? exclude)
    {
        var fusing = Interlocked.Increment(ref _fusing);
        try
        {
            if (!ConcurrentSides || fusing > 1 || Environment.ProcessorCount < 2)
            {
                return (index.Top(vectors, pool, include, seenSince, exclude), _lexical.Search(terms, pool, include, seenSince, exclude));
            }

            Interlocked.Increment(ref _concurrentFusions);
            IReadOnlyList<ScoredPaper> dense = [];
            IReadOnlyList<LexicalMatch> lexical = [];
            try
            {
                Parallel.Invoke(
                    () => lexical = _lexical.Search(terms, pool, include, seenSince, exclude),
                    () => dense = index.Top(vectors, pool, include, seenSince, exclude));
            }
            catch (AggregateException e)
            {
                // The caller sees what a side threw (the first, if both did), as with the sides in turn.
                System.Runtime.ExceptionServices.ExceptionDispatchInfo.Throw(e.InnerExceptions[0]);
            }

            return (dense, lexical);
        }
        finally
        {
            Interlocked.Decrement(ref _fusing);
        }
    }

    /// <summary>
    /// A convex mix of the two scores, each made comparable first: the cosine min-max normalised
    /// over the dense candidates, BM25F divided by the best lexical candidate's.
    /// </summary>
    private void MixScores(IEnumerable<Candidate> candidates, float[][] vectors, IReadOnlyList<string>[] terms, IReadOnlyList<ScoredPaper> dense, IReadOnlyList<LexicalMatch> lexical)
    {
        var maxCosine = dense.Count > 0 ? dense[0].Relevance : 1;
        var minCosine = dense.Count > 0 ? dense[^1].Relevance : 0;
        var maxLexical = lexical.Count > 0 ? lexical[0].Score : 1;
        var w = Math.Clamp(_options.DenseWeight, 0, 1);
        foreach (var c in candidates)
        {
            FillMissing(c, vectors, terms);
            var denseNorm = maxCosine > minCosine ? Math.Clamp((c.Dense - minCosine) / (maxCosine - minCosine), 0, 1) : 1;
            var lexicalNorm = maxLexical > 0 ? Math.Clamp(c.Lexical / maxLexical, 0, 1) : 0;
            c.Fused = w * denseNorm + (1 - w) * lexicalNorm;
            c.BestQuery = w * denseNorm >= (1 - w) * lexicalNorm ? c.DenseQuery : c.LexicalQuery;
        }
    }

    /// <summary>Scores the side a candidate was not proposed by, so every hit carries both parts.</summary>
    private void FillMissing(Candidate c, float[][] vectors, IReadOnlyList<string>[] terms)
    {
        if (double.IsNaN(c.Dense))
        {
            (c.Dense, c.DenseQuery) = DenseOf(c.Paper, vectors);
        }

        if (double.IsNaN(c.Lexical))
        {
            (c.Lexical, c.LexicalQuery) = _lexical.Score(terms, c.Paper.Paper.Id);
        }
    }

    private (double Cosine, int Query) DenseOf(IndexedPaper paper, float[][] vectors)
    {
        // Scored from a row on the stack: no vector allocated per candidate.
        return vectors.Length == 0 || vectors[0].Length != PaperIndex.Dimensions || !index.TrySimilarity(paper.Paper.Id, vectors, out var similarity)
            ? (0, 0)
            : similarity;
    }

    private RelevanceHit WithLexical(IndexedPaper paper, double score, double dense, int bestQuery, IReadOnlyList<string>[] terms) =>
        new(paper, score, dense, _lexical.Score(terms, paper.Paper.Id).Score, bestQuery);

    private RelevanceHit WithDense(IndexedPaper paper, double score, double lexical, int bestQuery, float[][] vectors)
    {
        var (cosine, query) = DenseOf(paper, vectors);
        return new(paper, score, cosine, lexical, bestQuery) { DenseQuery = query };
    }

    /// <summary>Fused score, then cosine (papers the dense side did not propose last), then id.</summary>
    private sealed class FusedFirst : IComparer<Candidate>
    {
        public static readonly FusedFirst Instance = new();

        public int Compare(Candidate? x, Candidate? y)
        {
            var order = y!.Fused.CompareTo(x!.Fused);
            if (order == 0)
            {
                order = (y.DenseRank > 0 ? y.Dense : double.MinValue).CompareTo(x.DenseRank > 0 ? x.Dense : double.MinValue);
            }

            return order != 0 ? order : string.CompareOrdinal(x.Paper.Paper.Id, y.Paper.Paper.Id);
        }
    }

    private sealed class Candidate(IndexedPaper paper)
    {
        public IndexedPaper Paper { get; } = paper;
        public int DenseRank { get; set; }
        public double Dense { get; set; } = double.NaN;
        public int DenseQuery { get; set; }
        public int LexicalRank { get; set; }
        public double Lexical { get; set; } = double.NaN;
        public int LexicalQuery { get; set; }
        public double Fused { get; set; }
        public int BestQuery { get; set; }
    }
}
