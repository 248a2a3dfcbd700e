using Pipeline.Contracts.Messages;
using Pipeline.Rank.Ranking;

namespace Pipeline.Rank.Tests;

public class TrendingScoreSpecs
{
    [Fact]
    public void A_new_paper_with_a_few_votes_overtakes_an_old_one_with_many()
    {
        var fresh = TrendingScore.Of(10, TimeSpan.FromHours(3));
        var old = TrendingScore.Of(100, TimeSpan.FromDays(6));
        Assert.True(fresh > old);
    }

    [Fact]
    public void More_points_at_the_same_age_rank_higher()
    {
        Assert.True(TrendingScore.Of(64, TimeSpan.FromDays(2)) > TrendingScore.Of(63, TimeSpan.FromDays(2)));
    }

    [Fact]
    public void The_formula_is_the_one_the_docs_give()
    {
        // (points + 1) / (age_hours + 2)^1.5
        Assert.Equal(65 / Math.Pow(50, 1.5), TrendingScore.Of(64, TimeSpan.FromHours(48)), 12);
    }

    [Fact]
    public void Down_votes_never_make_points_negative()
    {
        Assert.Equal(0, TrendingScore.Points(upvotes: 2, votes: -5));
    }

    [Theory]
    [InlineData(64, 48.5, "64 upvotes in 2 days")]
    [InlineData(1, 5, "1 upvote in 5 hours")]
    [InlineData(0, 0.2, "new in the last hour")]
    [InlineData(3, 0.5, "3 upvotes in the last hour")]
    [InlineData(0, 1.5, "no upvotes yet, 1 hour old")]
    [InlineData(0, 20.9 * 24, "no upvotes yet, 20 days old")]
    public void The_reason_says_how_many_points_in_how_long(int points, double hours, string reason)
    {
        Assert.Equal(reason, TrendingScore.Reason(points, TimeSpan.FromHours(hours)));
    }

    [Theory]
    [InlineData(3, -3, 5, "no net upvotes in 5 hours")]
    [InlineData(3, -7, 0.5, "no net upvotes in the last hour")]
    [InlineData(0, -2, 30, "no net upvotes in 30 hours")]
    [InlineData(0, 0, 30, "no upvotes yet, 30 hours old")]
    [InlineData(3, -1, 5, "2 upvotes in 5 hours")]
    public void Down_votes_that_cancel_the_upvotes_are_not_called_no_upvotes_yet(int upvotes, int votes, double hours, string reason)
    {
        Assert.Equal(reason, TrendingScore.Reason(upvotes, votes, TimeSpan.FromHours(hours)));
    }

    [Fact]
    public void Up_and_down_votes_cast_here_that_cancel_out_are_no_net_upvotes()
    {
        Assert.Equal("no net upvotes in 5 hours", TrendingScore.Reason(0, 0, TimeSpan.FromHours(5), upVotesCast: 2));
    }

    [Fact]
    public void Recency_halves_every_week()
    {
        Assert.Equal(0.5, TrendingScore.Recency(TimeSpan.FromDays(7)), 6);
        Assert.Equal(1, TrendingScore.Recency(TimeSpan.Zero), 6);
    }
}

public class RecommenderSpecs
{
    private static readonly DateTimeOffset Now = new(2026, 11, 26, 12, 0, 0, TimeSpan.Zero);

    private static RecommendationCandidate Candidate(string id, float[] vector, double relevance, string[]? authors = null, int upvotes = 0) =>
        new(new IndexedPaper(new PaperSummary(id, 1, "T " + id, "A", authors ?? [], ["cs.LG"], Now.AddDays(-1), "", "api", upvotes), Now),
            vector, relevance, $"matches your interest 'x' ({relevance:F2})", 0);

    [Fact]
    public void Near_duplicates_never_appear_twice_in_one_list()
    {
        var a = PaperIndexSpecs.Unit((0, 1));
        var aCopy = PaperIndexSpecs.Unit((0, 1), (1, 0.05f));
        var b = PaperIndexSpecs.Unit((0, 1), (2, 1));
        var chosen = Recommender.Choose([Candidate("a", a, 0.9), Candidate("a-copy", aCopy, 0.89), Candidate("b", b, 0.6)], ProfilePreferences.None, Now, 3);
        Assert.Equal(["a", "b"], chosen.Select(c => c.Paper.Paper.Id));
    }

    [Fact]
    public void A_diverse_paper_can_beat_a_slightly_more_relevant_similar_one()
    {
        var a = PaperIndexSpecs.Unit((0, 1));
        var similar = PaperIndexSpecs.Unit((0, 1), (1, 0.4f));
        var different = PaperIndexSpecs.Unit((3, 1));
        var chosen = Recommender.Choose([Candidate("a", a, 0.9), Candidate("similar", similar, 0.85), Candidate("different", different, 0.8)], ProfilePreferences.None, Now, 2);
        Assert.Equal(["a", "different"], chosen.Select(c => c.Paper.Paper.Id));
    }

    [Fact]
    public void A_followed_author_lifts_a_paper_and_is_named_in_the_reason()
    {
        var chosen = Recommender.Choose(
            [Candidate("plain", PaperIndexSpecs.Unit((0, 1)), 0.6), Candidate("by-ada", PaperIndexSpecs.Unit((5, 1)), 0.55, ["Ada Lovelace"])],
            new ProfilePreferences([], ["ada lovelace"], []), Now, 2);
        Assert.Equal("by-ada", chosen[0].Paper.Paper.Id);
        Assert.Contains("by Ada Lovelace, whom you follow", chosen[0].Reason);
    }

    [Fact]
    public void Every_item_explains_its_score_and_the_parts_add_up()
    {
        var chosen = Recommender.Choose([Candidate("a", PaperIndexSpecs.Unit((0, 1)), 0.7, upvotes: 30)], ProfilePreferences.None, Now, 1);
        var r = Assert.Single(chosen);
        Assert.Equal(Recommender.RelevanceWeight * r.Relevance + Recommender.TrendingWeight * r.Trending + Recommender.RecencyWeight * r.Recency, r.Score, 9);
        Assert.Contains("matches your interest", r.Reason);
        Assert.Contains("30 upvotes in 24 hours", r.Reason);
    }
}

public class FeedbackSpecs
{
    [Fact]
    public void One_voter_counts_once_per_paper_however_often_they_vote()
    {
        var feedback = new Feedback();
        Assert.True(feedback.Vote("p", "ada", 1));
        Assert.False(feedback.Vote("p", "ada", 1));
        feedback.Vote("p", "alan", 1);
        Assert.Equal(2, feedback.Votes("p"));
    }

    [Fact]
    public void Changing_a_vote_moves_the_total_by_the_difference()
    {
        var feedback = new Feedback();
        feedback.Vote("p", "ada", 1);
        feedback.Vote("p", "ada", -1);
        Assert.Equal(-1, feedback.Votes("p"));
        feedback.Vote("p", "ada", 0);
        Assert.Equal(0, feedback.Votes("p"));
    }

    [Fact]
    public void A_voters_likes_and_dislikes_are_kept_for_their_profile()
    {
        var feedback = new Feedback();
        feedback.Vote("p1", "sub", 1);
        feedback.Vote("p2", "sub", -1);
        var (liked, disliked) = feedback.OpinionsOf("sub");
        Assert.Equal(["p1"], liked);
        Assert.Equal(["p2"], disliked);
    }
}
