using Pipeline.Contracts.Messages;
using Pipeline.Rank.Ranking;

namespace Pipeline.Rank.Tests;

public class PaperIndexSpecs
{
    internal static float[] Unit(params (int Axis, float Weight)[] parts)
    {
        var v = new float[PaperIndex.Dimensions];
        foreach (var (axis, weight) in parts)
        {
            v[axis] = weight;
        }

        var norm = MathF.Sqrt(v.Sum(x => x * x));
        return v.Select(x => x / norm).ToArray();
    }

    internal static IndexedPaper Paper(string id, DateTimeOffset? published = null) =>
        new(new PaperSummary(id, 1, "Title " + id, "Abstract", [], [], published, "https://arxiv.org/abs/" + id, "api", 0), DateTimeOffset.UnixEpoch);

    [Theory]
    [InlineData(VectorPrecision.Float32)]
    [InlineData(VectorPrecision.Int8)]
    public void A_papers_vector_found_by_its_number_is_the_one_its_id_finds_and_follows_a_new_version(VectorPrecision precision)
    {
        var index = new PaperIndex(precision);
        // More papers than the index first makes room for, so its tables grow on the way.
        var papers = Enumerable.Range(0, 3_000).Select(i => Paper($"by-number-{precision}-{i}")).ToArray();
        for (var i = 0; i < papers.Length; i++)
        {
            index.Upsert(papers[i], Unit((i % PaperIndex.Dimensions, 1), ((i * 7 + 3) % PaperIndex.Dimensions, 0.5f)));
        }

        // A new version of a paper (same id, another vector) keeps its place.
        index.Upsert(papers[1_234], Unit((5, 1)));

        var byNumber = new float[PaperIndex.Dimensions];
        var byId = new float[PaperIndex.Dimensions];
        foreach (var i in new[] { 0, 1, 1_023, 1_024, 1_234, 2_999 })
        {
            Assert.True(index.TryGetVector(papers[i], byNumber));
            Assert.True(index.TryGetVector(papers[i].Paper.Id, byId));
            Assert.Equal(byId, byNumber);
        }

        index.TryGetVector(papers[1_234], byNumber);
        Assert.True(byNumber[5] > 0.99f, "the new version's vector");

        // A paper the index does not hold: a number given to it elsewhere (a sent history) finds nothing.
        var elsewhere = Paper($"never-indexed-{precision}");
        Assert.False(index.TryGetVector(elsewhere, byNumber));
    }

    [Fact]
    public void An_author_of_many_papers_is_kept_once_and_every_paper_still_names_its_authors()
    {
        var index = new PaperIndex();
        for (var i = 0; i < 3; i++)
        {
            // A new string each time, as papers deserialised from Redis or the bus arrive.
            var authors = new[] { string.Concat("Ada ", "Lovelace"), $"Co-author {i}" };
            index.Upsert(Paper($"p{i}") with { Paper = Paper($"p{i}").Paper with { Authors = authors } }, Unit((i, 1)));
        }

        var papers = Enumerable.Range(0, 3).Select(i => index.Find($"p{i}")!.Paper).ToArray();

        Assert.All(papers, p => Assert.Equal("Ada Lovelace", p.Authors[0]));
        Assert.Equal(["Co-author 0", "Co-author 1", "Co-author 2"], papers.Select(p => p.Authors[1]));
        Assert.Same(papers[0].Authors[0], papers[1].Authors[0]);
        Assert.Same(papers[0].Authors[0], papers[2].Authors[0]);
    }

    [Fact]
    public void Papers_come_back_most_similar_first()
    {
        var index = new PaperIndex();
        index.Upsert(Paper("far"), Unit((1, 1)));
        index.Upsert(Paper("near"), Unit((0, 1), (1, 0.2f)));
        index.Upsert(Paper("middle"), Unit((0, 1), (1, 1)));

        var top = index.Top([Unit((0, 1))], limit: 3);

        Assert.Equal(["near", "middle", "far"], top.Select(s => s.Paper.Paper.Id));
        Assert.True(top[0].Relevance > top[1].Relevance);
    }

    [Fact]
    public void The_limit_keeps_only_the_best()
    {
        var index = new PaperIndex();
        for (var i = 0; i < 2000; i++)
        {
            index.Upsert(Paper($"p{i}"), Unit((0, i), (1, 2000 - i)));
        }

        var top = index.Top([Unit((0, 1))], limit: 2);
        Assert.Equal(["p1999", "p1998"], top.Select(s => s.Paper.Paper.Id));
    }

    [Fact]
    public void Upserting_a_known_id_replaces_the_paper_instead_of_adding_one()
    {
        var index = new PaperIndex();
        index.Upsert(Paper("a"), Unit((0, 1)));
        index.Upsert(Paper("a"), Unit((1, 1)));

        Assert.Equal(1, index.Count);
        Assert.Equal(1f, index.Top([Unit((1, 1))], 1)[0].Relevance, 5);
    }

    [Fact]
    public void The_best_matching_query_is_reported()
    {
        var index = new PaperIndex();
        index.Upsert(Paper("a"), Unit((2, 1)));
        var top = index.Top([Unit((0, 1)), Unit((2, 1))], 1);
        Assert.Equal(1, top[0].BestQuery);
    }

    [Theory]
    [InlineData(VectorPrecision.Float32)]
    [InlineData(VectorPrecision.Int8)]
    public void A_papers_similarity_to_queries_is_that_of_its_stored_vector(VectorPrecision precision)
    {
        var index = new PaperIndex(precision);
        index.Upsert(Paper("a"), Unit((0, 1), (1, 0.3f), (5, -0.2f)));
        index.Upsert(Paper("b"), Unit((2, 1), (3, 0.7f)));
        float[][] queries = [Unit((0, 1)), Unit((2, 1), (3, 1)), Unit((5, 1))];

        foreach (var id in new[] { "a", "b" })
        {
            Assert.True(index.TryGet(id, out _, out var vector));
            Assert.True(index.TrySimilarity(id, queries, out var similarity));
            Assert.Equal(PaperIndex.MaxSimilarity(queries, vector), similarity);
        }

        Assert.Equal(1, index.TrySimilarity("b", queries, out var b) ? b.Query : -1);
        Assert.False(index.TrySimilarity("unknown", queries, out _));
    }

    [Fact]
    public void Excluded_papers_are_left_out()
    {
        var index = new PaperIndex();
        index.Upsert(Paper("a"), Unit((0, 1)));
        index.Upsert(Paper("b"), Unit((0, 1), (1, 1)));
        var top = index.Top([Unit((0, 1))], 5, p => p.Paper.Id != "a");
        Assert.Equal(["b"], top.Select(s => s.Paper.Paper.Id));
    }

    [Fact]
    public void A_vector_of_the_wrong_size_is_refused()
    {
        Assert.Throws<ArgumentException>(() => new PaperIndex().Upsert(Paper("a"), new float[10]));
    }
}

public class InstantMatcherSpecs
{
    private static SubscriberProfile Profile(string id, string cadence, double threshold, params float[][] vectors) =>
        new(id, vectors.Select((_, i) => $"interest {i}").ToArray(), vectors, cadence, threshold, DateTimeOffset.UnixEpoch);

    [Fact]
    public void A_paper_above_an_instant_subscribers_threshold_matches_with_the_interest_named()
    {
        var profiles = new ProfileIndex();
        profiles.Upsert(Profile("s1", "instant", 0.8, PaperIndexSpecs.Unit((5, 1)), PaperIndexSpecs.Unit((0, 1))));

        var matches = new InstantMatcher(profiles).Match(PaperIndexSpecs.Unit((0, 1), (1, 0.3f)));

        var match = Assert.Single(matches);
        Assert.Equal("interest 1", match.Interest);
        Assert.StartsWith("matches your interest 'interest 1' (similarity 0.96)", match.Reason);
    }

    [Fact]
    public void A_paper_below_the_threshold_does_not_match()
    {
        var profiles = new ProfileIndex();
        profiles.Upsert(Profile("s1", "instant", 0.8, PaperIndexSpecs.Unit((0, 1))));
        Assert.Empty(new InstantMatcher(profiles).Match(PaperIndexSpecs.Unit((0, 1), (1, 1))));
    }

    [Fact]
    public void Digest_subscribers_get_no_instant_alerts()
    {
        var profiles = new ProfileIndex();
        profiles.Upsert(Profile("s1", "daily", 0.1, PaperIndexSpecs.Unit((0, 1))));
        Assert.Empty(new InstantMatcher(profiles).Match(PaperIndexSpecs.Unit((0, 1))));
    }

    [Fact]
    public void A_removed_profile_no_longer_matches()
    {
        var profiles = new ProfileIndex();
        profiles.Upsert(Profile("s1", "instant", 0.1, PaperIndexSpecs.Unit((0, 1))));
        profiles.Remove("s1");
        Assert.Empty(new InstantMatcher(profiles).Match(PaperIndexSpecs.Unit((0, 1))));
    }

    [Fact]
    public void An_older_change_neither_replaces_nor_removes_a_later_profile()
    {
        var profiles = new ProfileIndex();
        var later = Profile("s1", "instant", 0.1, PaperIndexSpecs.Unit((0, 1))) with { ChangedAt = DateTimeOffset.UnixEpoch.AddDays(2) };
        Assert.True(profiles.Upsert(later));

        Assert.False(profiles.Upsert(Profile("s1", "daily", 0.1, PaperIndexSpecs.Unit((0, 1)))));
        profiles.Remove("s1", DateTimeOffset.UnixEpoch.AddDays(1));

        Assert.Equal("s1", Assert.Single(new InstantMatcher(profiles).Match(PaperIndexSpecs.Unit((0, 1)))).Profile.SubscriberId);
        profiles.Remove("s1", later.ChangedAt);
        Assert.Empty(new InstantMatcher(profiles).Match(PaperIndexSpecs.Unit((0, 1))));
    }
}
