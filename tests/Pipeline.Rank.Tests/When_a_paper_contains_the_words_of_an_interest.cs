using Pipeline.Contracts.Messages;
using Pipeline.Rank.Ranking;
using Pipeline.Rank.Ranking.Relevance;

namespace Pipeline.Rank.Tests;

/// <summary>
/// Instant matching's lexical half: a paper whose title or abstract holds every word of an
/// interest alerts the subscriber even when its vector is far from the interest's, as a keyword
/// alert would; fewer words, or another subscriber's words, do not.
/// </summary>
public class When_a_paper_contains_the_words_of_an_interest
{
    // Interest vectors on axis 0, papers on axis 1: cosine 0, so only words can match.
    private static readonly float[] InterestVector = PaperIndexSpecs.Unit((0, 1));
    private static readonly float[] FarPaper = PaperIndexSpecs.Unit((1, 1));

    private static SubscriberProfile Instant(string id, params string[] interests) =>
        new(id, interests, interests.Select(_ => InterestVector).ToArray(), "instant", 0.5, DateTimeOffset.UnixEpoch);

    private static PaperSummary Paper(string title, string @abstract) =>
        new("2501.00001", 1, title, @abstract, [], [], null, "https://arxiv.org/abs/2501.00001", "api", 0);

    private static InstantMatcher Matcher(params SubscriberProfile[] profiles)
    {
        var index = new ProfileIndex();
        index.UpsertMany(profiles);
        return new InstantMatcher(index);
    }

    [Fact]
    public void Every_word_in_the_title_or_abstract_alerts_and_the_reason_says_where()
    {
        var matcher = Matcher(Instant("ada", "protein folding", "metamorphic testing"), Instant("bob", "metamorphic relations for compilers"));
        var paper = Paper("Metamorphic testing of deep learning libraries", "We generate follow-up inputs and check that outputs agree.");

        var match = Assert.Single(matcher.Match(FarPaper, paper));

        Assert.Equal("ada", match.Profile.SubscriberId);
        Assert.Equal("metamorphic testing", match.Interest);
        Assert.Equal(0, match.Score, 6);
        Assert.Equal("matches your interest 'metamorphic testing': 'metamorphic', 'testing' in the title; similar in meaning (0.00)", match.Reason);
    }

    [Fact]
    public void Words_split_between_title_and_abstract_count_and_stems_and_hyphens_are_matched_as_search_matches_them()
    {
        var matcher = Matcher(Instant("ada", "test-time scaling of language models"));

        var match = Assert.Single(matcher.Match(FarPaper, Paper("Scaling test time compute", "Larger language models answer better when they think longer.")));

        Assert.Equal("matches your interest 'test-time scaling of language models': 'test', 'time', 'scaling' in the title, 'language', 'models' in the abstract; similar in meaning (0.00)", match.Reason);
    }

    [Fact]
    public void Some_of_the_words_are_not_enough()
    {
        var matcher = Matcher(Instant("ada", "metamorphic testing"), Instant("bob", "graph neural networks"));

        Assert.Empty(matcher.Match(FarPaper, Paper("Property-based testing in practice", "Generators, shrinking and neural networks of properties.")));
    }

    [Fact]
    public void An_interest_of_stopwords_only_never_matches_by_words()
    {
        var matcher = Matcher(Instant("ada", "the of and"));

        Assert.Empty(matcher.Match(FarPaper, Paper("The art of the deal", "And then there were none.")));
    }

    [Fact]
    public void Without_the_paper_only_similarity_counts_and_a_similar_paper_still_matches_with_its_words_named()
    {
        var matcher = Matcher(Instant("ada", "metamorphic testing"));
        var paper = Paper("Metamorphic testing of compilers", "Equivalent programs must compile to equivalent behaviour.");

        Assert.Empty(matcher.Match(FarPaper, null));

        var similar = Assert.Single(matcher.Match(PaperIndexSpecs.Unit((0, 1), (1, 0.2f)), paper));
        Assert.Equal(0.98, similar.Score, 2);
        Assert.Equal("matches your interest 'metamorphic testing': 'metamorphic', 'testing' in the title; similar in meaning (0.98)", similar.Reason);
    }

    [Fact]
    public void A_profile_matched_by_words_and_by_meaning_is_alerted_once_on_the_similar_interest()
    {
        var matcher = Matcher(new SubscriberProfile("ada", ["metamorphic testing", "compiler fuzzing"], [FarPaper, InterestVector], "instant", 0.5, DateTimeOffset.UnixEpoch));

        var match = Assert.Single(matcher.Match(InterestVector, Paper("Metamorphic testing", "Relations between runs.")));

        Assert.Equal("compiler fuzzing", match.Interest);
        Assert.Equal(1, match.Score, 4);
    }

    [Fact]
    public void Among_thousands_of_interests_the_matcher_finds_exactly_those_whose_words_the_paper_holds()
    {
        // Interests of one to three words from a small vocabulary, so many share their words and
        // each key term files many interests; dense never matches (threshold above any cosine).
        string[] vocabulary = ["graph", "neural", "network", "protein", "folding", "language", "model", "diffusion", "testing", "quantum", "error", "correction", "robot", "grasping", "speech", "recognition"];
        var random = new Random(11);
        string Words(int count) => string.Join(' ', Enumerable.Range(0, count).Select(_ => vocabulary[random.Next(vocabulary.Length)]));
        var profiles = Enumerable.Range(0, 3000).Select(i =>
        {
            var interests = Enumerable.Range(0, 1 + random.Next(3)).Select(_ => Words(1 + random.Next(3))).ToArray();
            return new SubscriberProfile($"s{i}", interests, interests.Select(_ => InterestVector).ToArray(), i % 5 == 0 ? "daily" : "instant", 1.5, DateTimeOffset.UnixEpoch);
        }).ToArray();
        var matcher = Matcher(profiles);

        for (var p = 0; p < 50; p++)
        {
            var paper = Paper(Words(3), Words(6));
            var words = (paper.Title + " " + paper.Abstract).Split(' ').ToHashSet();
            var expected = profiles
                .Where(s => s.WantsInstantAlerts && s.Interests.Any(i => i.Split(' ').All(words.Contains)))
                .Select(s => s.SubscriberId).Order(StringComparer.Ordinal).ToArray();

            var got = matcher.Match(FarPaper, paper).Select(m => m.Profile.SubscriberId).Order(StringComparer.Ordinal).ToArray();

            Assert.Equal(expected, got);
            Assert.All(matcher.Match(FarPaper, paper), m => Assert.True(m.Interest.Split(' ').All(words.Contains), $"{m.Interest} is not in the paper"));
        }
    }
}

/// <summary>
/// Words that are on a large share of the papers rank holds ("deep learning") would alert on a
/// large part of everything that arrives: such interests are matched by meaning only, once rank
/// holds enough papers to tell which words are common.
/// </summary>
public class When_every_word_of_an_interest_is_common
{
    private static readonly float[] InterestVector = PaperIndexSpecs.Unit((0, 1));
    private static readonly float[] FarPaper = PaperIndexSpecs.Unit((1, 1));

    /// <summary>20 papers: "learning" on all, "deep" on 15 of them, "metamorphic" on one.</summary>
    private static RelevanceRanker Corpus()
    {
        var index = new PaperIndex();
        var ranker = new RelevanceRanker(index);
        for (var i = 0; i < 20; i++)
        {
            var paper = Pipeline.Rank.Tests.Relevance.TestPapers.Paper($"p{i}", i < 15 ? $"Deep learning study {i}" : $"Learning study {i}", i == 0 ? "Metamorphic relations." : "Results.");
            index.Upsert(paper, FarPaper);
            ranker.Add(paper);
        }

        return ranker;
    }

    private static InstantMatcher Matcher(RelevanceRanker ranker, int minPapers)
    {
        var profiles = new ProfileIndex();
        profiles.UpsertMany([
            new SubscriberProfile("broad", ["deep learning"], [InterestVector], "instant", 0.5, DateTimeOffset.UnixEpoch),
            new SubscriberProfile("narrow", ["metamorphic deep learning"], [InterestVector], "instant", 0.5, DateTimeOffset.UnixEpoch),
        ]);
        return new InstantMatcher(profiles, ranker, null) { CommonWordMinPapers = minPapers };
    }

    private static PaperSummary NewPaper() =>
        new("2501.00002", 1, "Metamorphic testing of deep learning compilers", "Equivalent graphs must compute equal tensors.", [], [], null, "https://arxiv.org/abs/2501.00002", "api", 0);

    [Fact]
    public void An_interest_of_common_words_only_is_left_to_meaning_and_one_with_a_rarer_word_still_matches()
    {
        var ranker = Corpus();
        Assert.Equal(0.75, ranker.ShareOf("deep"), 3);

        var matches = Matcher(ranker, minPapers: 10).Match(FarPaper, NewPaper());

        Assert.Equal(["narrow"], matches.Select(m => m.Profile.SubscriberId));
    }

    [Fact]
    public void With_fewer_papers_than_the_minimum_no_word_counts_as_common()
    {
        var matches = Matcher(Corpus(), minPapers: 1_000).Match(FarPaper, NewPaper());

        Assert.Equal(["broad", "narrow"], matches.Select(m => m.Profile.SubscriberId).Order(StringComparer.Ordinal));
    }

    [Fact]
    public void A_common_words_interest_still_matches_by_meaning()
    {
        var matches = Matcher(Corpus(), minPapers: 10).Match(InterestVector, NewPaper());

        Assert.Equal(["broad", "narrow"], matches.Select(m => m.Profile.SubscriberId).Order(StringComparer.Ordinal));
    }
}

/// <summary>A paper by an author an instant subscriber follows alerts them, whatever its words and meaning.</summary>
public class When_a_paper_is_by_a_followed_author
{
    private static readonly float[] InterestVector = PaperIndexSpecs.Unit((0, 1));
    private static readonly float[] FarPaper = PaperIndexSpecs.Unit((1, 1));

    private static PaperSummary Paper(params string[] authors) =>
        new("2501.00003", 1, "Tax registers of medieval towns", "We transcribe what merchants paid.", authors, [], null, "https://arxiv.org/abs/2501.00003", "api", 0);

    private static (InstantMatcher Matcher, Feedback Feedback) Subscribers()
    {
        var profiles = new ProfileIndex();
        profiles.UpsertMany([
            new SubscriberProfile("ada", ["protein folding"], [InterestVector], "instant", 0.5, DateTimeOffset.UnixEpoch),
            new SubscriberProfile("bob", ["protein folding"], [InterestVector], "daily", 0.5, DateTimeOffset.UnixEpoch),
            new SubscriberProfile("cy", ["quantum codes"], [InterestVector], "instant", 0.5, DateTimeOffset.UnixEpoch),
        ]);
        var feedback = new Feedback();
        feedback.SetPreferences("ada", new ProfilePreferences([], ["Grace Hopper"], []));
        feedback.SetPreferences("bob", new ProfilePreferences([], ["Grace Hopper"], []));
        feedback.SetPreferences("cy", new ProfilePreferences([], ["Alan Turing"], []));
        return (new InstantMatcher(profiles, null, null, feedback), feedback);
    }

    [Fact]
    public void An_instant_follower_is_alerted_with_the_author_named_and_a_digest_follower_is_not()
    {
        var (matcher, _) = Subscribers();

        var match = Assert.Single(matcher.Match(FarPaper, Paper("Barbara Tuchman", "grace hopper")));

        Assert.Equal("ada", match.Profile.SubscriberId);
        Assert.Equal("by grace hopper, whom you follow", match.Reason);
        Assert.Equal("protein folding", match.Interest);
    }

    [Fact]
    public void Unfollowing_or_leaving_stops_the_alerts_and_a_paper_by_nobody_followed_alerts_nobody()
    {
        var (matcher, feedback) = Subscribers();
        Assert.Empty(matcher.Match(FarPaper, Paper("Barbara Tuchman")));

        feedback.SetPreferences("ada", new ProfilePreferences([], ["Barbara Tuchman"], []));
        Assert.Equal("by Barbara Tuchman, whom you follow", Assert.Single(matcher.Match(FarPaper, Paper("Barbara Tuchman", "Grace Hopper"))).Reason);

        feedback.Forget("ada");
        Assert.Empty(matcher.Match(FarPaper, Paper("Barbara Tuchman", "Grace Hopper")));
    }

    [Fact]
    public void A_follower_the_paper_is_similar_to_is_alerted_once_for_the_interest()
    {
        var (matcher, _) = Subscribers();

        var matches = matcher.Match(InterestVector, Paper("Grace Hopper", "Alan Turing"));

        Assert.Equal(["ada", "cy"], matches.Select(m => m.Profile.SubscriberId).Order(StringComparer.Ordinal));
        Assert.Equal(["similar in meaning to your interest 'protein folding' (1.00)", "similar in meaning to your interest 'quantum codes' (1.00)"],
            matches.OrderBy(m => m.Profile.SubscriberId, StringComparer.Ordinal).Select(m => m.Reason));
    }
}
