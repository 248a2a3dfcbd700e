using Pipeline.Rank.Ranking;
using Pipeline.Rank.Ranking.Relevance;

namespace Pipeline.Rank.Tests;

/// <summary>
/// A paper the subscriber voted on has been seen. A liked one, which the votes pull every query
/// towards, used to come back at the top of their next Recommend.
/// </summary>
public sealed class When_a_subscriber_has_voted
{
    [Fact]
    public void Papers_voted_up_or_down_are_left_out_with_the_seeds_and_the_call_s_exclusions()
    {
        var liked = PaperOrdinals.Of($"liked-{Guid.NewGuid():N}");
        var disliked = PaperOrdinals.Of($"disliked-{Guid.NewGuid():N}");
        var seed = $"seed-{Guid.NewGuid():N}";
        var excluded = $"excluded-{Guid.NewGuid():N}";
        // Papers rank has met have their numbers.
        var (seedNumber, excludedNumber) = (PaperOrdinals.Of(seed), PaperOrdinals.Of(excluded));
        var inputs = new RecommendInputs([new RelevanceQuery("graphs", new float[PaperIndex.Dimensions])], new ProfilePreferences([seed], [], []), [liked], [disliked]);

        var leftOut = SubscriberQueries.Excluded([excluded], inputs);

        Assert.Equal(new[] { liked, disliked, seedNumber, excludedNumber }.Order(), leftOut);
    }

    [Fact]
    public void The_reason_says_likes_moved_the_vectors_only_when_rank_holds_a_liked_paper()
    {
        var index = new PaperIndex();
        var held = new IndexedPaper(new Pipeline.Contracts.Messages.PaperSummary($"held-{Guid.NewGuid():N}", 1, "T", "A", [], [], null, "", "api", 0), DateTimeOffset.UtcNow);
        var vector = new float[PaperIndex.Dimensions];
        vector[0] = 1;
        index.Upsert(held, vector);
        var queries = new SubscriberQueries(index, new ProfileIndex(), new Feedback());
        var query = new RelevanceQuery("graphs", Normalised(1, 1));

        queries.ApplyFeedback([query], [held.Ordinal], [], out var moved);
        queries.ApplyFeedback([query], [PaperOrdinals.Of($"gone-{Guid.NewGuid():N}")], [], out var notMoved);

        Assert.True(moved);
        Assert.False(notMoved);
    }

    private static float[] Normalised(params float[] head)
    {
        var v = new float[PaperIndex.Dimensions];
        head.CopyTo(v, 0);
        var norm = MathF.Sqrt(v.Sum(x => x * x));
        return v.Select(x => x / norm).ToArray();
    }
}
