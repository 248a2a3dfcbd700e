using System.Numerics.Tensors;
using Pipeline.Contracts.Messages;
using Pipeline.Rank.Ranking.Relevance;

namespace Pipeline.Rank.Ranking;

/// <summary>
/// A paper that could be recommended: how relevant it is, and why. <see cref="Vector"/> may be a
/// slice of a block the caller lends (<see cref="Recommender.Candidates"/>): valid while it does.
/// </summary>
public sealed record RecommendationCandidate(IndexedPaper Paper, ReadOnlyMemory<float> Vector, double Relevance, string RelevanceReason, int Votes);

/// <summary>A recommended paper with its score, the score's parts and a reason a person can read.</summary>
public sealed record Recommendation(IndexedPaper Paper, double Score, double Relevance, double Trending, double Recency, string Reason, int Votes);

/// <summary>
/// Mixes relevance with trending and freshness, then picks a diverse list with maximal marginal
/// relevance: each next paper is the one with the best <c>λ·score − (1−λ)·(similarity to the papers
/// already picked)</c>, and a near-duplicate of a picked paper (cosine above 0.95) is never picked.
/// </summary>
public static class Recommender
{
    public const double RelevanceWeight = 0.75;
    public const double TrendingWeight = 0.15;
    public const double RecencyWeight = 0.10;
    public const double AuthorBoost = 0.10;
    public const double CategoryBoost = 0.05;
    public const double Lambda = 0.7;
    public const double NearDuplicate = 0.95;

    /// <summary>A candidate needs a cosine this high to its best interest, or <see cref="MinLexical"/>.</summary>
    public const double MinSimilarity = 0.3;

    /// <summary>A candidate needs this share of its best interest's BM25F weight (about half its words, by rarity), or <see cref="MinSimilarity"/>.</summary>
    public const double MinLexical = 0.5;

    /// <summary>The trending score of 10 points a day old: the trending part is ½ there.</summary>
    private static readonly double TrendingMidpoint = TrendingScore.Of(10, TimeSpan.FromDays(1));

    /// <summary>How many of the hybrid ranking's best papers a recommendation of <paramref name="limit"/> is chosen from.</summary>
    public static int RankedFor(int limit) => Math.Max(limit * 4, 50);

    /// <summary>
    /// The papers a recommendation is chosen from: the hybrid ranking's best
    /// <c>max(4 · limit, 50)</c> for the queries (<paramref name="rank"/>, when given, ranks them
    /// instead: <see cref="KeptRankings"/>), among those <paramref name="include"/> accepts,
    /// <paramref name="exclude"/> does not leave out (<see cref="RelevanceRanker.Rank"/>) and
    /// seen since <paramref name="since"/>, each with its vector and votes (<paramref name="votes"/>:
    /// a paper's net votes by its number), and the hits by paper number (for reasons). Vectors,
    /// votes and hits are found by the number each hit carries, not by hashing its id. Fused
    /// relevance is rank-based: the best of a window with nothing on an interest still ranks first. So a candidate must also carry evidence of its own
    /// (<paramref name="evidence"/>, by default <see cref="HasEvidence(RelevanceHit)"/>): a cosine of
    /// at least <see cref="MinSimilarity"/> to its best interest, or a normalised BM25F of at least
    /// <see cref="MinLexical"/>. A quiet day then gives a shorter digest instead of one filled with
    /// whatever shares a word (docs/ranking.md, "Recommendations"). A paper without evidence by an
    /// author <paramref name="preferences"/> follow is a candidate too, what they asked for whatever
    /// its topic, with no relevance of its own (its rank among the window's papers says nothing).
    /// </summary>
    public static (RecommendationCandidate[] Pool, Dictionary<int, RelevanceHit> Hits) Candidates(
        RelevanceRanker relevance, PaperIndex papers, Func<int, int> votes, IReadOnlyList<RelevanceQuery> queries, int limit,
        Func<IndexedPaper, bool>? include = null, DateTimeOffset? since = null, Func<RelevanceHit, bool>? evidence = null,
        ProfilePreferences? preferences = null, LeftOut? exclude = null, Func<int, IReadOnlyList<RelevanceHit>>? rank = null,
        float[]? vectors = null)
    {
        evidence ??= HasEvidence;
        var followed = preferences is null ? [] : Followed(preferences);
        var pool = new List<RecommendationCandidate>();
        var hits = new Dictionary<int, RelevanceHit>();
        var ranked = rank is not null
            ? rank(RankedFor(limit))
            : relevance.Rank(queries, RankedFor(limit), include, seenSince: since, exclude: exclude);
        foreach (var h in ranked)
        {
            var relevant = evidence(h);
            if (!relevant && (followed.Length == 0 || !h.Paper.Paper.Authors.Any(a => IsFollowed(a, followed))))
            {
                continue;
            }

            ReadOnlyMemory<float> vector;
            if (vectors is not null && (pool.Count + 1) * PaperIndex.Dimensions <= vectors.Length)
            {
                var row = vectors.AsMemory(pool.Count * PaperIndex.Dimensions, PaperIndex.Dimensions);
                vector = papers.TryGetVector(h.Paper, row.Span) ? row : ReadOnlyMemory<float>.Empty;
            }
            else
            {
                papers.TryGet(h.Paper.Paper.Id, out _, out var own);
                vector = own;
            }

            pool.Add(new RecommendationCandidate(h.Paper, vector, relevant ? h.Score : 0, "", votes(h.Paper.Ordinal)));
            hits[h.Paper.Ordinal] = h;
        }

        return (pool.ToArray(), hits);
    }

    /// <summary>
    /// The pool with the papers of the window (<paramref name="since"/> on) by authors the
    /// subscriber follows that the relevance ranking did not propose (a paper on another topic):
    /// at most <paramref name="limit"/>, the newest, among those <paramref name="include"/>
    /// accepts. They have no relevance of their own (0, then the author boost), so they compete on
    /// trending and freshness alone and mostly come after the papers with evidence; they have no
    /// hit, so their reason is the author alone. A window is read from the index's contiguous times; a paper's authors are looked up
    /// by their folded surnames before any is parsed.
    /// </summary>
    public static RecommendationCandidate[] WithFollowedAuthors(
        RecommendationCandidate[] pool, PaperIndex papers, Func<int, int> votes, ProfilePreferences preferences,
        DateTimeOffset since, Func<IndexedPaper, bool>? include, int limit)
    {
        var followed = Followed(preferences);
        if (followed.Length == 0)
        {
            return pool;
        }

        var inPool = pool.Select(c => c.Paper.Paper.Id).ToHashSet(StringComparer.Ordinal);
        var added = new List<RecommendationCandidate>();
        // Every paper of the window by a followed author competes; past the limit, the newest
        // (the index holds papers in the order they arrived, not by age).
        var byFollowed = papers.SeenSince(since)
            .Where(p => !inPool.Contains(p.Paper.Id) && (include is null || include(p)) && p.Paper.Authors.Any(a => IsFollowed(a, followed)))
            .OrderByDescending(p => p.SeenAt)
            .Take(limit);
        foreach (var paper in byFollowed)
        {
            if (papers.TryGet(paper.Paper.Id, out var current, out var vector))
            {
                added.Add(new RecommendationCandidate(current!, vector, 0, "", votes(paper.Ordinal)));
            }
        }

        return added.Count == 0 ? pool : [.. pool, .. added];
    }

    /// <summary>How many floats <see cref="Candidates"/> needs to read the vectors of a recommendation of <paramref name="limit"/> into one block.</summary>
    public static int VectorsFor(int limit) => RankedFor(limit) * PaperIndex.Dimensions;

    /// <summary>True when a hit is relevant on its own evidence, not only by its place in the ranking.</summary>
    public static bool HasEvidence(RelevanceHit hit) => HasEvidence(hit, MinSimilarity, MinLexical);

    /// <summary>The same test with other bounds (to measure them).</summary>
    public static bool HasEvidence(RelevanceHit hit, double minSimilarity, double minLexical) =>
        hit.Dense >= minSimilarity || hit.Lexical >= minLexical;

    /// <summary>
    /// Picks at most <paramref name="limit"/> candidates by maximal marginal relevance. Papers by
    /// an author the subscriber follows are what they asked for whatever their topic: up to half the
    /// list (<see cref="FollowedShare"/>) is kept for them. When the relevant papers fill the list,
    /// the last of them give their places to the best followed-author papers left out, which then
    /// come after the rest (still no near-duplicate of a picked paper).
    /// </summary>
    public static IReadOnlyList<Recommendation> Choose(
        IReadOnlyList<RecommendationCandidate> candidates, ProfilePreferences preferences, DateTimeOffset now, int limit)
    {
        var followed = Followed(preferences);
        var scored = candidates.Select(c => Score(c, preferences, followed, now)).ToList();
        var picked = new List<int>(Math.Min(limit, scored.Count));
        Pick(candidates, scored, picked, limit, _ => true);
        if (followed.Length > 0 && picked.Count == limit)
        {
            bool ByFollowed(int i) => scored[i].ByFollowed;
            var kept = picked.Count(ByFollowed);
            var give = Math.Min(scored.Count(s => s.ByFollowed) - kept, limit / FollowedShare - kept);
            if (give > 0)
            {
                // The last relevant picks leave; followed-author papers are picked for their places.
                for (var at = picked.Count - 1; at >= 0 && give > 0; at--)
                {
                    if (!ByFollowed(picked[at]))
                    {
                        picked.RemoveAt(at);
                        give--;
                    }
                }

                var stay = picked.Count;
                Pick(candidates, scored, picked, limit, ByFollowed);
                var given = picked[stay..];

                // Places no followed-author paper could take (too close to what stays) go back to
                // the relevant ones; the followed-author papers given places stay last.
                Pick(candidates, scored, picked, limit, _ => true);
                picked.RemoveRange(stay, given.Count);
                picked.AddRange(given);
            }
        }

        // The reason is written for the picked papers only (a fifth of the candidates).
        return picked.Select(i => scored[i].Recommendation with { Reason = ReasonOf(candidates[i], preferences, followed, now) }).ToArray();
    }

    /// <summary>Followed authors' papers get up to 1/<c>FollowedShare</c> of a list (half of it).</summary>
    public const int FollowedShare = 2;

    /// <summary>
    /// Adds to <paramref name="picked"/> (indexes into the candidates), until it holds
    /// <paramref name="limit"/>, the candidates <paramref name="eligible"/> accepts by maximal
    /// marginal relevance against what is picked already.
    /// </summary>
    private static void Pick(
        IReadOnlyList<RecommendationCandidate> candidates, List<(Recommendation Recommendation, bool ByFollowed)> scored, List<int> picked,
        int limit, Func<int, bool> eligible)
    {
        // Each candidate's highest cosine to a paper already picked, updated with each pick: one
        // dot product per candidate and pick instead of one per candidate, pick and earlier pick.
        var redundancy = new double[scored.Count];
        var open = new bool[scored.Count];
        for (var i = 0; i < scored.Count; i++)
        {
            open[i] = eligible(i);
        }

        foreach (var p in picked)
        {
            open[p] = false;
        }

        var remaining = open.Count(o => o);

        // Nothing picked: no redundancy (0). Then the highest cosine, negative ones included.
        if (picked.Count > 0)
        {
            Array.Fill(redundancy, double.NegativeInfinity);
        }

        foreach (var p in picked)
        {
            Cover(candidates, candidates[p].Vector, redundancy, open);
        }

        while (picked.Count < limit && remaining > 0)
        {
            var best = -1;
            var bestValue = double.NegativeInfinity;
            for (var i = 0; i < scored.Count; i++)
            {
                if (!open[i])
                {
                    continue;
                }

                if (redundancy[i] > NearDuplicate)
                {
                    open[i] = false;
                    remaining--;
                    continue;
                }

                var value = Lambda * scored[i].Recommendation.Score - (1 - Lambda) * redundancy[i];
                if (value > bestValue)
                {
                    bestValue = value;
                    best = i;
                }
            }

            if (best < 0)
            {
                break;
            }

            picked.Add(best);
            open[best] = false;
            remaining--;
            if (picked.Count == 1)
            {
                Array.Fill(redundancy, double.NegativeInfinity);
            }

            Cover(candidates, candidates[best].Vector, redundancy, open);
        }
    }

    private static void Cover(IReadOnlyList<RecommendationCandidate> candidates, ReadOnlyMemory<float> vector, double[] redundancy, bool[] open)
    {
        var picked = vector.Span;
        for (var i = 0; i < candidates.Count; i++)
        {
            if (open[i])
            {
                redundancy[i] = Math.Max(redundancy[i], TensorPrimitives.Dot(picked, candidates[i].Vector.Span));
            }
        }
    }

    private static AuthorName[] Followed(ProfilePreferences preferences) =>
        preferences.Authors.Count == 0 ? [] : preferences.Authors.Select(AuthorName.Parse).Where(n => !n.IsEmpty).ToArray();

    /// <summary>The first of the paper's authors (as the paper writes the name) who is one of <paramref name="names"/>, or null.</summary>
    public static string? AuthorAmong(PaperSummary paper, AuthorName[] names) => paper.Authors.FirstOrDefault(a => IsFollowed(a, names));

    /// <summary>True when <paramref name="author"/>, as a paper writes the name, is one of <paramref name="names"/>.</summary>
    public static bool IsOneOf(string author, AuthorName[] names) => IsFollowed(author, names);

    private static bool IsFollowed(string author, AuthorName[] followed)
    {
        // The surname first, without allocating: a paper can have a thousand authors.
        Span<char> buffer = author.Length <= 256 ? stackalloc char[2 * author.Length] : new char[2 * author.Length];
        var surname = buffer[..AuthorName.SurnameOf(author, buffer)];
        var any = false;
        foreach (var f in followed)
        {
            any |= surname.SequenceEqual(f.Surname);
        }

        if (!any)
        {
            return false;
        }

        var name = AuthorName.Parse(author);
        return Array.Exists(followed, f => f.Matches(name));
    }

    private static (Recommendation Recommendation, bool ByFollowed) Score(
        RecommendationCandidate c, ProfilePreferences preferences, AuthorName[] followed, DateTimeOffset now)
    {
        var paper = c.Paper.Paper;
        var age = now - c.Paper.SeenAt;
        var points = TrendingScore.Points(paper.Upvotes, c.Votes);
        var trendingScore = TrendingScore.Of(points, age);
        var trending = trendingScore / (trendingScore + TrendingMidpoint);
        var recency = TrendingScore.Recency(age);

        var relevance = c.Relevance;
        var byFollowed = followed.Length > 0 && paper.Authors.Any(a => IsFollowed(a, followed));
        if (byFollowed)
        {
            relevance += AuthorBoost;
        }

        if (InPreferredCategory(paper, preferences) is not null)
        {
            relevance += CategoryBoost;
        }

        relevance = Math.Min(1, relevance);
        var score = RelevanceWeight * relevance + TrendingWeight * trending + RecencyWeight * recency;
        return (new Recommendation(c.Paper, score, relevance, trending, recency, "", c.Votes), byFollowed);
    }

    /// <summary>
    /// Why a candidate is recommended, in words: its relevance reason, the followed author, the
    /// preferred category and its upvotes, as <see cref="Score"/> weighed them.
    /// </summary>
    private static string ReasonOf(RecommendationCandidate c, ProfilePreferences preferences, AuthorName[] followed, DateTimeOffset now)
    {
        var paper = c.Paper.Paper;
        var reasons = new List<string>(4) { c.RelevanceReason };
        if (followed.Length > 0 && paper.Authors.FirstOrDefault(a => IsFollowed(a, followed)) is { } author)
        {
            reasons.Add($"by {author}, whom you follow");
        }

        if (InPreferredCategory(paper, preferences) is { } category)
        {
            reasons.Add($"in {category}");
        }

        var points = TrendingScore.Points(paper.Upvotes, c.Votes);
        if (points > 0)
        {
            reasons.Add(TrendingScore.Reason(points, now - c.Paper.SeenAt, sinceFeatured: c.Paper.SeenByFeaturing));
        }

        return string.Join("; ", reasons.Where(r => r.Length > 0));
    }

    private static string? InPreferredCategory(PaperSummary paper, ProfilePreferences preferences) =>
        preferences.Categories.Count == 0
            ? null
            : paper.Categories.FirstOrDefault(cat => preferences.Categories.Contains(cat, StringComparer.OrdinalIgnoreCase));
}
