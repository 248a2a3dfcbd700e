using System.Numerics.Tensors;
using Pipeline.Rank.Ranking.Relevance;

namespace Pipeline.Rank.Ranking;

/// <summary>
/// What a Recommend ranks for: the queries (interests, then seed papers, moved by the voter's
/// votes), the preferences, the votes, and the papers left out besides what was sent (dislikes
/// and seeds). One place builds them, so a Recommend and the warm-up of kept rankings
/// (<see cref="KeptRankingsWarmer"/>) ask the same question. Voted papers are held by their
/// numbers (<see cref="PaperOrdinals"/>), as the votes are.
/// </summary>
public sealed record RecommendInputs(
    List<RelevanceQuery> Queries, ProfilePreferences Preferences, IReadOnlyList<int> Liked, IReadOnlyList<int> Disliked)
{
    /// <summary>How many of <see cref="Queries"/>, from the first, are interests; the rest are seed papers ("more like this one").</summary>
    public int InterestCount { get; init; } = Queries.Count;

    /// <summary>Whether papers the subscriber liked moved the queries' vectors (rank holds at least one of them): reasons then say so.</summary>
    public bool MovedByLikes { get; init; }
}

/// <summary>Builds <see cref="RecommendInputs"/> from a subscriber's profile or from a request's interests.</summary>
public sealed class SubscriberQueries(PaperIndex papers, ProfileIndex profiles, Feedback feedback)
{
    /// <summary>Rocchio weights: how far liked and disliked papers pull a subscriber's interests.</summary>
    public const float LikedWeight = 0.5f;
    public const float DislikedWeight = 0.25f;

    /// <summary>Whether an active subscriber has that id.</summary>
    public bool Knows(string subscriberId) => profiles.Get(subscriberId) is not null;

    /// <summary>A known subscriber's inputs, or null when no active subscriber has that id.</summary>
    public RecommendInputs? Of(string subscriberId)
    {
        var profile = profiles.Get(subscriberId);
        if (profile is null)
        {
            return null;
        }

        var queries = profile.Interests.Select((text, i) => new RelevanceQuery(text, profile.Vectors[i])).ToList();
        var preferences = feedback.PreferencesOf(subscriberId);
        // A seed paper rank does not hold (yet) is skipped for a subscriber: their profile stays usable.
        WithSeeds(queries, preferences);
        var (liked, disliked) = feedback.OpinionNumbersOf(subscriberId);
        var moved = ApplyFeedback(queries, liked, disliked, out var movedByLikes);
        return new RecommendInputs(moved, preferences, liked, disliked) { InterestCount = profile.Interests.Count, MovedByLikes = movedByLikes };
    }

    /// <summary>
    /// Adds each seed paper rank holds as a query ("more like this one": its title and vector) and
    /// answers the first seed it does not hold, or null.
    /// </summary>
    public string? WithSeeds(List<RelevanceQuery> queries, ProfilePreferences preferences)
    {
        string? unknown = null;
        foreach (var seed in preferences.SeedPaperIds)
        {
            if (papers.TryGet(seed, out var seedPaper, out var seedVector))
            {
                queries.Add(new RelevanceQuery(seedPaper!.Paper.Title, seedVector));
            }
            else
            {
                unknown ??= seed;
            }
        }

        return unknown;
    }

    /// <summary>
    /// The paper numbers a Recommend leaves out besides the subscriber's history: the request's
    /// <paramref name="excludePaperIds"/>, the papers voted on (liked or not: the subscriber has
    /// seen them, and a liked one, which the votes pull the queries towards, would otherwise come
    /// back at the top) and the seeds; sorted, each once. An id rank never met has no number and no
    /// paper to leave out.
    /// </summary>
    public static int[] Excluded(IEnumerable<string> excludePaperIds, RecommendInputs inputs) =>
        excludePaperIds.Concat(inputs.Preferences.SeedPaperIds)
            .Select(id => PaperOrdinals.TryGet(id, out var ordinal) ? ordinal : -1)
            .Concat(inputs.Disliked)
            .Concat(inputs.Liked)
            .Where(ordinal => ordinal >= 0)
            .Distinct()
            .Order()
            .ToArray();

    /// <summary>Rocchio: the votes pull every query towards what was liked and away from what was not.</summary>
    public List<RelevanceQuery> ApplyFeedback(List<RelevanceQuery> queries, IReadOnlyList<int> liked, IReadOnlyList<int> disliked) =>
        ApplyFeedback(queries, liked, disliked, out _);

    /// <inheritdoc cref="ApplyFeedback(List{RelevanceQuery}, IReadOnlyList{int}, IReadOnlyList{int})"/>
    /// <param name="movedByLikes">Whether a liked paper's vector moved the queries (rank holds at least one).</param>
    public List<RelevanceQuery> ApplyFeedback(List<RelevanceQuery> queries, IReadOnlyList<int> liked, IReadOnlyList<int> disliked, out bool movedByLikes)
    {
        var likedCentroid = Centroid(liked);
        var dislikedCentroid = Centroid(disliked);
        movedByLikes = likedCentroid is not null;
        if (likedCentroid is null && dislikedCentroid is null)
        {
            return queries;
        }

        return queries.Select(q =>
        {
            var moved = q.Vector.ToArray();
            if (likedCentroid is not null)
            {
                TensorPrimitives.MultiplyAdd(likedCentroid, LikedWeight, moved, moved);
            }

            if (dislikedCentroid is not null)
            {
                TensorPrimitives.MultiplyAdd(dislikedCentroid, -DislikedWeight, moved, moved);
            }

            var norm = TensorPrimitives.Norm(moved);
            if (norm > 0)
            {
                TensorPrimitives.Divide(moved, norm, moved);
            }

            return q with { Vector = moved };
        }).ToList();
    }

    private float[]? Centroid(IReadOnlyList<int> paperNumbers)
    {
        float[]? sum = null;
        var n = 0;
        // Each voted paper's vector is read into one row on the stack, not a new array a paper.
        Span<float> row = stackalloc float[PaperIndex.Dimensions];
        foreach (var number in paperNumbers)
        {
            if (papers.TryGetVector(number, row))
            {
                sum ??= new float[PaperIndex.Dimensions];
                TensorPrimitives.Add(sum, row, sum);
                n++;
            }
        }

        if (sum is not null)
        {
            TensorPrimitives.Divide(sum, n, sum);
        }

        return sum;
    }
}
