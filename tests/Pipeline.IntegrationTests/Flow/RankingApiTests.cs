using Google.Protobuf.WellKnownTypes;
using Grpc.Core;
using Pipeline.Contracts.Ingest.V1;
using Pipeline.Contracts.Rank.V1;
using Pipeline.IntegrationTests.Infrastructure;

namespace Pipeline.IntegrationTests.Flow;

/// <summary>The ranking API as its clients call it: trending, votes, recommendations, errors.</summary>
public sealed class RankingApiTests(RabbitMqFixture rabbit, PipelineFixture pipeline) : PipelineTestBase(rabbit, pipeline)
{
    private static Paper Published(Paper paper, TimeSpan ago, int upvotes, string category)
    {
        paper.PublishedAt = Timestamp.FromDateTimeOffset(DateTimeOffset.UtcNow - ago);
        paper.Upvotes = upvotes;
        paper.Categories.Add(category);
        return paper;
    }

    [Fact]
    public async Task Trending_answers_like_a_front_page_hottest_first_with_the_reason()
    {
        var category = $"test.T{Guid.NewGuid():N}"[..16];
        var hot = Published(Papers.QuantumErrorCorrection(), TimeSpan.FromHours(10), 50, category);
        var fresh = Published(Papers.SpeechRecognition(), TimeSpan.FromHours(2), 5, category);
        // Older than a week: submitted now, it is an old paper brought in late, dated by its own date
        // (a paper of a few days ago reaching rank now would count as today's: "Windows").
        var old = Published(Papers.RoboticGrasping(), TimeSpan.FromDays(9), 100, category);
        await SubmitAsync(hot, fresh, old);
        await WaitUntilAsync(async () => (await TrendingAsync(TrendingWindow.Month, category)).Papers.Count == 3, "all three are indexed");

        var day = await TrendingAsync(TrendingWindow.Day, category);
        Assert.Equal([hot.Id, fresh.Id], day.Papers.Select(p => p.Id));
        Assert.Equal("50 upvotes in 10 hours", day.Papers[0].Reason);
        // What the in-memory index leaves out comes back from rank's Redis: the abstract, and the
        // trace the paper arrived in (a digest links to it).
        Assert.Equal(hot.Abstract, day.Papers[0].Abstract);
        Assert.Matches("^00-[0-9a-f]{32}-[0-9a-f]{16}-0[01]$", day.Papers[0].TraceParent);
        Assert.True(day.Papers[0].Parts.Trending > day.Papers[1].Parts.Trending);

        // A month reaches back to the old paper; its 100 upvotes are nine days old and weigh less.
        var month = await TrendingAsync(TrendingWindow.Month, category);
        Assert.Equal([hot.Id, fresh.Id, old.Id], month.Papers.Select(p => p.Id));
        Assert.Equal([hot.Id, fresh.Id], (await TrendingAsync(TrendingWindow.Week, category)).Papers.Select(p => p.Id));
    }

    [Fact]
    public async Task A_paper_hugging_face_features_today_is_on_the_days_page_with_its_upvotes_counted_from_the_featuring()
    {
        var category = $"test.F{Guid.NewGuid():N}"[..16];
        // arXiv published it nine days ago, and it was ingested then (as far as rank can tell: more
        // than a week after its date): out of the day's window.
        var arxiv = Published(Papers.QuantumErrorCorrection(), TimeSpan.FromDays(9), 0, category);
        var fresh = Published(Papers.SpeechRecognition(), TimeSpan.FromHours(10), 5, category);
        await SubmitAsync(arxiv, fresh);
        await WaitUntilAsync(async () => (await TrendingAsync(TrendingWindow.Month, category)).Papers.Count == 2, "both are indexed");
        Assert.Equal([fresh.Id], (await TrendingAsync(TrendingWindow.Day, category)).Papers.Select(p => p.Id));

        // Hugging Face features it two hours ago; 40 upvotes since.
        var featuredAt = DateTimeOffset.UtcNow.AddHours(-2);
        var hf = new Paper
        {
            Id = arxiv.Id, Title = arxiv.Title, Abstract = "HF's copy of the abstract.", Source = "huggingface", Upvotes = 40,
            PublishedAt = arxiv.PublishedAt,
            Metadata = new PaperMetadata { FeaturedOn = featuredAt.UtcDateTime.ToString("yyyy-MM-dd", System.Globalization.CultureInfo.InvariantCulture), FeaturedAt = Timestamp.FromDateTimeOffset(featuredAt) },
        };
        Assert.Equal(1, (await SubmitAsync(hf)).Updated);
        await WaitUntilAsync(async () => (await TrendingAsync(TrendingWindow.Day, category)).Papers.Count == 2, "the featured paper joins the day");

        var day = await TrendingAsync(TrendingWindow.Day, category);
        Assert.Equal([arxiv.Id, fresh.Id], day.Papers.Select(p => p.Id));
        Assert.Equal("40 upvotes in 2 hours since it was featured", day.Papers[0].Reason);
        // arXiv's record and date stay the paper's.
        Assert.Equal((arxiv.Abstract, arxiv.PublishedAt), (day.Papers[0].Abstract, day.Papers[0].PublishedAt));
    }

    [Fact]
    public async Task A_paper_without_a_date_stays_as_old_as_its_first_ingestion_when_it_changes()
    {
        var category = $"test.U{Guid.NewGuid():N}"[..16];
        var paper = Papers.RoboticGrasping();
        paper.Categories.Add(category);
        var beforeFirst = DateTimeOffset.UtcNow.AddSeconds(-1);
        await SubmitAsync(paper);
        Task<RankedPaper?> Found(DateTimeOffset since) => SearchSinceAsync(paper.Title, category, since);
        var longAgo = DateTimeOffset.UtcNow.AddHours(-1);
        await WaitUntilAsync(async () => await Found(longAgo) is not null, "rank indexed the paper");

        // Changed after this moment: 12 upvotes.
        var afterFirst = DateTimeOffset.UtcNow.AddMilliseconds(100);
        await Task.Delay(300);
        paper.Upvotes = 12;
        Assert.Equal(1, (await SubmitAsync(paper)).Updated);
        await WaitUntilAsync(async () => (await Found(longAgo))?.Upvotes == 12, "rank holds the new record");

        // It appeared when ingest first stored it, not when its upvotes changed.
        Assert.Null(await Found(afterFirst));
        Assert.NotNull(await Found(beforeFirst));
    }

    [Fact]
    public async Task A_vote_counts_once_per_voter_and_moves_the_paper_up_trending()
    {
        var category = $"test.V{Guid.NewGuid():N}"[..16];
        var a = Published(Papers.QuantumErrorCorrection(), TimeSpan.FromHours(5), 3, category);
        var b = Published(Papers.SpeechRecognition(), TimeSpan.FromHours(5), 4, category);
        await SubmitAsync(a, b);
        await WaitUntilAsync(async () => (await TrendingAsync(TrendingWindow.Day, category)).Papers.Count == 2, "both are indexed");
        Assert.Equal(b.Id, (await TrendingAsync(TrendingWindow.Day, category)).Papers[0].Id);

        var first = await Pipeline.Rank.VoteAsync(new VoteRequest { PaperId = a.Id, VoterId = "ada", Value = 1 }, PipelineFixture.WithApiKey);
        var again = await Pipeline.Rank.VoteAsync(new VoteRequest { PaperId = a.Id, VoterId = "ada", Value = 1 }, PipelineFixture.WithApiKey);
        var other = await Pipeline.Rank.VoteAsync(new VoteRequest { PaperId = a.Id, VoterId = "alan", Value = 1 }, PipelineFixture.WithApiKey);

        Assert.Equal((1, true), (first.Votes, first.Changed));
        Assert.Equal((1, false), (again.Votes, again.Changed));
        Assert.Equal(2, other.Votes);
        var after = await TrendingAsync(TrendingWindow.Day, category);
        Assert.Equal([a.Id, b.Id], after.Papers.Select(p => p.Id));
        Assert.Equal(2, after.Papers[0].Votes);
        Assert.Equal("5 upvotes in 5 hours", after.Papers[0].Reason);

        // Each answer lists the voted paper as Trending does, with the vote counted.
        var voted = Assert.Single(other.Papers);
        Assert.Equal((a.Id, "5 upvotes in 5 hours", 2), (voted.Id, voted.Reason, voted.Votes));
        Assert.Equal(after.Papers[0].Parts.Trending, voted.Parts.Trending, 1e-3);
        Assert.Equal(voted.Score, voted.Parts.Trending, 1e-9);
        Assert.Equal("4 upvotes in 5 hours", Assert.Single(first.Papers).Reason);
    }

    [Fact]
    public async Task A_down_vote_that_cancels_an_up_vote_is_no_net_upvotes_not_no_upvotes_yet()
    {
        var category = $"test.N{Guid.NewGuid():N}"[..16];
        var paper = Published(Papers.EnzymeDesign(), TimeSpan.FromHours(5), 0, category);
        await SubmitAsync(paper);
        await WaitUntilAsync(async () => (await TrendingAsync(TrendingWindow.Day, category)).Papers.Count == 1, "the paper is indexed");
        Assert.Equal("no upvotes yet, 5 hours old", (await TrendingAsync(TrendingWindow.Day, category)).Papers.Single().Reason);

        await Pipeline.Rank.VoteAsync(new VoteRequest { PaperId = paper.Id, VoterId = "ada", Value = 1 }, PipelineFixture.WithApiKey);
        var down = await Pipeline.Rank.VoteAsync(new VoteRequest { PaperId = paper.Id, VoterId = "alan", Value = -1 }, PipelineFixture.WithApiKey);

        Assert.Equal((0, "no net upvotes in 5 hours"), (down.Votes, down.Papers.Single().Reason));
        Assert.Equal("no net upvotes in 5 hours", (await TrendingAsync(TrendingWindow.Day, category)).Papers.Single().Reason);
    }

    [Fact]
    public async Task A_paper_announced_days_after_its_submission_time_is_in_the_windows_of_its_arrival_and_an_old_import_is_not()
    {
        // arXiv's API dates a paper by its submission; arXiv announces it a day or more later, when
        // ingest first sees it. A digest asking for what came since its last one must get it. A
        // paper of last month imported now is old news and keeps its own date.
        var category = $"test.A{Guid.NewGuid():N}"[..16];
        var announced = Published(Papers.LunarRegolith(), TimeSpan.FromHours(50), 10, category);
        var imported = Published(Papers.RoboticGrasping(), TimeSpan.FromDays(20), 10, category);
        await SubmitAsync(announced, imported);
        await WaitUntilAsync(async () => (await TrendingAsync(TrendingWindow.Month, category)).Papers.Count == 2, "both are indexed");
        var hourAgo = DateTimeOffset.UtcNow.AddHours(-1);

        var day = await TrendingAsync(TrendingWindow.Day, category);
        Assert.Equal(announced.Id, day.Papers.Single().Id);
        Assert.Equal("10 upvotes in 2 days", day.Papers.Single().Reason);
        Assert.NotNull(await SearchSinceAsync(announced.Title, category, hourAgo));
        Assert.Null(await SearchSinceAsync(imported.Title, category, hourAgo));
        Assert.NotNull(await SearchSinceAsync(imported.Title, category, hourAgo.AddDays(-40)));
        var digest = await Pipeline.Rank.RecommendAsync(new RecommendRequest
        {
            Interests = { announced.Title, imported.Title }, Categories = { category }, Since = Timestamp.FromDateTimeOffset(hourAgo), Limit = 50,
        });
        Assert.Contains(announced.Id, digest.Papers.Select(p => p.Id));
        Assert.DoesNotContain(imported.Id, digest.Papers.Select(p => p.Id));
        Assert.Equal(announced.PublishedAt, digest.Papers.Single(p => p.Id == announced.Id).PublishedAt);
    }

    [Fact]
    public async Task A_subscribers_trending_page_leaves_out_what_they_were_sent_however_long_ago_and_what_they_voted_down()
    {
        var category = $"test.S{Guid.NewGuid():N}"[..16];
        // A daily subscriber whose digest is hours away: nothing is sent to them during the test but what it says.
        var subscriberId = await SubscribeDailyAndConfirmAsync($"lise-{Guid.NewGuid():N}@example.org", "nuclear fission of heavy elements");
        var sent = Published(Papers.QuantumErrorCorrection(), TimeSpan.FromHours(3), 90, category);
        var disliked = Published(Papers.SpeechRecognition(), TimeSpan.FromHours(3), 60, category);
        var news = Published(Papers.RoboticGrasping(), TimeSpan.FromHours(3), 30, category);
        await SubmitAsync(sent, disliked, news);
        await WaitUntilAsync(async () => (await TrendingAsync(TrendingWindow.Day, category)).Papers.Count == 3, "all three are indexed");
        Assert.Equal([sent.Id, disliked.Id, news.Id], (await TrendingForAsync(subscriberId, category)).Papers.Select(p => p.Id));

        // Sent months ago in a digest (notify tells rank with DigestSent), and voted down by the subscriber.
        await PublishAsync(new Pipeline.Contracts.Messages.DigestSent(subscriberId, "2026-07-01", [sent.Id], DateTimeOffset.UtcNow.AddDays(-150)));
        await Pipeline.Rank.VoteAsync(new VoteRequest { PaperId = disliked.Id, VoterId = subscriberId, Value = -1 }, PipelineFixture.WithApiKey);

        await WaitUntilAsync(async () => (await TrendingForAsync(subscriberId, category)).Papers.Count == 1, "the subscriber's page leaves both out");
        var page = await TrendingForAsync(subscriberId, category);
        Assert.Equal(news.Id, page.Papers.Single().Id);
        Assert.Equal("30 upvotes in 3 hours", page.Papers.Single().Reason);
        // Everyone else's page is unchanged, and a subscriber rank does not know is an error, not the shared page.
        Assert.Equal([sent.Id, disliked.Id, news.Id], (await TrendingAsync(TrendingWindow.Day, category)).Papers.Select(p => p.Id));
        var unknown = await Assert.ThrowsAsync<RpcException>(() => TrendingForAsync("nobody-" + Guid.NewGuid().ToString("N"), category));
        Assert.Equal(StatusCode.NotFound, unknown.StatusCode);
    }

    [Fact]
    public async Task Voting_without_an_api_key_is_unauthenticated_and_on_an_unknown_paper_not_found()
    {
        var noKey = await Assert.ThrowsAsync<RpcException>(() =>
            Pipeline.Rank.VoteAsync(new VoteRequest { PaperId = "2611.00001", VoterId = "ada", Value = 1 }).ResponseAsync);
        Assert.Equal(StatusCode.Unauthenticated, noKey.StatusCode);
        var unknown = await Assert.ThrowsAsync<RpcException>(() =>
            Pipeline.Rank.VoteAsync(new VoteRequest { PaperId = "9999.99999", VoterId = "ada", Value = 1 }, PipelineFixture.WithApiKey).ResponseAsync);
        Assert.Equal(StatusCode.NotFound, unknown.StatusCode);
        var badValue = await Assert.ThrowsAsync<RpcException>(() =>
            Pipeline.Rank.VoteAsync(new VoteRequest { PaperId = "9999.99999", VoterId = "ada", Value = 5 }, PipelineFixture.WithApiKey).ResponseAsync);
        Assert.Equal(StatusCode.InvalidArgument, badValue.StatusCode);
    }

    [Fact]
    public async Task Rank_takes_a_paper_id_in_the_forms_ingest_takes()
    {
        // As a user copies it from arXiv or a daily-papers page: versioned, prefixed, or the DOI.
        var paper = Papers.SpeechRecognition(Papers.NewArxivId());
        await SubmitAsync(paper);
        await WaitUntilAsync(() => RankKnowsAsync(paper.Id), $"rank indexed {paper.Id}");
        var plain = (await Pipeline.Rank.SimilarAsync(new SimilarRequest { PaperId = paper.Id, Limit = 5 })).Papers.Select(p => p.Id).ToArray();

        foreach (var form in new[] { $"{paper.Id}v2", $"arxiv:{paper.Id}", $"hf:{paper.Id}", $"doi:10.48550/arXiv.{paper.Id}" })
        {
            Assert.Equal(plain, (await Pipeline.Rank.SimilarAsync(new SimilarRequest { PaperId = form, Limit = 5 })).Papers.Select(p => p.Id).ToArray());
        }

        var voted = await Pipeline.Rank.VoteAsync(new VoteRequest { PaperId = $"arxiv:{paper.Id}v1", VoterId = $"voter-{Guid.NewGuid():N}", Value = 1 }, PipelineFixture.WithApiKey);
        Assert.Equal((paper.Id, 1), (voted.PaperId, voted.Votes));
        var seeded = await Pipeline.Rank.RecommendAsync(new RecommendRequest { SeedPaperIds = { $"{paper.Id}v3" }, ExcludePaperIds = { $"arxiv:{paper.Id}" }, Limit = 10 });
        Assert.DoesNotContain(seeded.Papers, p => p.Id == paper.Id);
    }

    [Fact]
    public async Task A_subscribers_own_pages_need_the_api_key_and_pages_by_interests_do_not()
    {
        // Recommend by subscriber quotes their interests; their trending page leaves out what they
        // were sent. Whoever learns an id (a forwarded email's headers) reads neither.
        var subscriberId = await SubscribeDailyAndConfirmAsync($"emmy-{Guid.NewGuid():N}@example.org", "invariants of algebraic forms");
        var wrongKey = new Metadata { { "x-api-key", "not-the-key-of-this-pipeline" } };
        foreach (var headers in new[] { null, wrongKey })
        {
            var recommend = await Assert.ThrowsAsync<RpcException>(() =>
                Pipeline.Rank.RecommendAsync(new RecommendRequest { SubscriberId = subscriberId, Limit = 5 }, headers).ResponseAsync);
            var trending = await Assert.ThrowsAsync<RpcException>(() =>
                Pipeline.Rank.TrendingAsync(new TrendingRequest { SubscriberId = subscriberId, Limit = 5 }, headers).ResponseAsync);
            Assert.Equal((StatusCode.Unauthenticated, StatusCode.Unauthenticated), (recommend.StatusCode, trending.StatusCode));
            Assert.DoesNotContain("invariants", recommend.Status.Detail + trending.Status.Detail, StringComparison.Ordinal);
        }

        // The key is checked before anything else of the request.
        var badLimit = await Assert.ThrowsAsync<RpcException>(() =>
            Pipeline.Rank.RecommendAsync(new RecommendRequest { SubscriberId = subscriberId, Limit = 5_000 }).ResponseAsync);
        var badTrending = await Assert.ThrowsAsync<RpcException>(() =>
            Pipeline.Rank.TrendingAsync(new TrendingRequest { SubscriberId = subscriberId, Limit = 5_000 }).ResponseAsync);
        Assert.Equal((StatusCode.Unauthenticated, StatusCode.Unauthenticated), (badLimit.StatusCode, badTrending.StatusCode));

        // The same pages with the key (notify's digests send it), and pages by interests stay open.
        await Pipeline.Rank.RecommendAsync(new RecommendRequest { SubscriberId = subscriberId, Limit = 5 }, PipelineFixture.WithApiKey);
        await Pipeline.Rank.TrendingAsync(new TrendingRequest { SubscriberId = subscriberId, Limit = 5 }, PipelineFixture.WithApiKey);
        await Pipeline.Rank.RecommendAsync(new RecommendRequest { Interests = { "invariants of algebraic forms" }, Limit = 5 });
        await Pipeline.Rank.TrendingAsync(new TrendingRequest { Limit = 5 });
    }

    [Fact]
    public async Task Recommend_leaves_out_what_the_subscriber_was_already_sent_and_explains_the_rest()
    {
        var email = $"rosalind-{Guid.NewGuid():N}@example.org";
        var subscriberId = await SubscribeAndConfirmAsync(email, "protein structure prediction");
        var alerted = Papers.ProteinFolding();
        await SubmitAsync(alerted);
        await Pipeline.Smtp.WaitForMessagesAsync(m => IsAlertTo(m, email), 1, Arrival);

        // notify reports the alert (DigestSent); rank then leaves the paper out.
        await WaitUntilAsync(async () =>
            !(await Pipeline.Rank.RecommendAsync(new RecommendRequest { SubscriberId = subscriberId, Limit = 50 }, PipelineFixture.WithApiKey)).Papers.Any(p => p.Id == alerted.Id),
            "rank leaves out the paper already sent");

        var byInterest = await Pipeline.Rank.RecommendAsync(new RecommendRequest { Interests = { "protein structure prediction" }, Limit = 5 });
        var top = byInterest.Papers.First(p => p.Id == alerted.Id);
        Assert.Contains("your interest 'protein structure prediction'", top.Reason);
        Assert.Equal(top.Score, 0.75 * top.Parts.Relevance + 0.15 * top.Parts.Trending + 0.10 * top.Parts.Recency, 6);
    }

    [Fact]
    public async Task A_subscribers_recommendations_follow_each_change_at_once_though_their_ranking_is_kept()
    {
        // Rank keeps a subscriber's ranking between Recommends (KeptRankings); each change must
        // show in the very next call. A daily subscriber whose digest is 12 hours away: nothing is
        // marked sent during the test. Two papers of texts no other test submits, neither a
        // near-duplicate of the other, both relevant.
        var subscriberId = await SubscribeDailyAndConfirmAsync($"frances-{Guid.NewGuid():N}@example.org", "protein structure prediction");
        var (first, second) = (Papers.EnzymeDesign(), Papers.ProteinBinders());
        var category = $"test.V{Guid.NewGuid():N}"[..16];
        second.Categories.Add(category);
        async Task<string[]> Recommended(params string[] excluded) =>
            (await Pipeline.Rank.RecommendAsync(new RecommendRequest { SubscriberId = subscriberId, ExcludePaperIds = { excluded }, Limit = 50 }, PipelineFixture.WithApiKey))
                .Papers.Select(p => p.Id).ToArray();
        await SubmitAsync(first);
        await WaitUntilAsync(async () => (await Recommended()).Contains(first.Id), "rank recommends the first paper");
        var kept = await Recommended();
        Assert.Equal(kept, await Recommended());

        // A paper that arrives: in the first answer after rank has it.
        await SubmitAsync(second);
        await WaitUntilAsync(() => RankKnowsAsync(second.Id), "rank indexed the second paper");
        Assert.Contains(second.Id, await Recommended());

        // Excluded ids leave a paper out of that call only.
        Assert.DoesNotContain(second.Id, await Recommended(second.Id));
        Assert.Contains(second.Id, await Recommended());

        // A down-vote by the subscriber leaves the paper out from the next call on (and moves the
        // interest away from it).
        var vote = await Pipeline.Rank.VoteAsync(new VoteRequest { PaperId = first.Id, VoterId = subscriberId, Value = -1 }, PipelineFixture.WithApiKey);
        Assert.True(vote.Changed);
        Assert.DoesNotContain(first.Id, await Recommended());

        // An up-vote too: the subscriber has seen the paper, which the votes would otherwise pull
        // to the top. Their trending page leaves it out as well; everyone else's still shows it.
        async Task<string[]> TrendingFor(string? subscriber) =>
            (await Pipeline.Rank.TrendingAsync(new TrendingRequest { SubscriberId = subscriber ?? "", Window = TrendingWindow.Week, Category = category, Limit = 10 }, subscriber is null ? null : PipelineFixture.WithApiKey))
                .Papers.Select(p => p.Id).ToArray();
        Assert.Contains(second.Id, await TrendingFor(subscriberId));
        Assert.True((await Pipeline.Rank.VoteAsync(new VoteRequest { PaperId = second.Id, VoterId = subscriberId, Value = 1 }, PipelineFixture.WithApiKey)).Changed);
        Assert.DoesNotContain(second.Id, await Recommended());
        Assert.DoesNotContain(second.Id, await TrendingFor(subscriberId));
        Assert.Contains(second.Id, await TrendingFor(null));
    }

    [Fact]
    public async Task Recommend_leaves_out_the_papers_the_caller_excludes()
    {
        // Disliked papers and seed papers are left out the same way (one set of paper numbers).
        // Texts no other test submits: a copy of the same text under another id would be a
        // near-duplicate, and a recommendation keeps one copy, whichever scores best.
        var (a, b, c) = (Papers.HoneybeeColonies(), Papers.GlacierMassLoss(), Papers.DeployableOrigami());
        await SubmitAsync(a, b, c);
        string[] ids = [a.Id, b.Id, c.Id];
        string[] interests = ["honeybee colony collapse", "glacier mass loss", "origami folding for deployable structures"];
        async Task<string[]> Recommended(params string[] excluded)
        {
            var request = new RecommendRequest { Interests = { interests }, ExcludePaperIds = { excluded }, Limit = 50 };
            return (await Pipeline.Rank.RecommendAsync(request)).Papers.Select(p => p.Id).Intersect(ids).Order(StringComparer.Ordinal).ToArray();
        }

        await WaitUntilAsync(async () => (await Recommended()).Length == 3, "rank recommends all three");

        Assert.Equal(new[] { b.Id, c.Id }.Order(StringComparer.Ordinal), await Recommended(a.Id));
        Assert.Equal([c.Id], await Recommended(a.Id, b.Id));
        // An id rank never met leaves nothing out.
        Assert.Equal(ids.Order(StringComparer.Ordinal), await Recommended("9999.99999"));
    }

    [Fact]
    public async Task Papers_found_from_a_seed_paper_say_so_not_that_they_match_an_interest()
    {
        // "More like this one": the seed's title is no interest the caller wrote.
        var seed = Papers.EnzymeDesign();
        await SubmitAsync(seed, Papers.EnzymeLanguageModels());
        // By id: other tests submit papers of the same title.
        await WaitUntilAsync(() => RankKnowsAsync(seed.Id), "rank indexed the seed paper");
        var request = new RecommendRequest { SeedPaperIds = { seed.Id }, Limit = 10 };
        await WaitUntilAsync(async () => (await Pipeline.Rank.RecommendAsync(request)).Papers.Count > 0, "rank recommends papers like the seed");

        var recommended = await Pipeline.Rank.RecommendAsync(request);

        Assert.DoesNotContain(seed.Id, recommended.Papers.Select(p => p.Id));
        Assert.All(recommended.Papers.Where(p => p.Reason.Contains("your ", StringComparison.Ordinal)), p =>
        {
            Assert.Contains("your example paper", p.Reason);
            Assert.DoesNotContain("your interest", p.Reason);
        });
        Assert.Contains(recommended.Papers, p => p.Reason.Contains($"your example paper '{seed.Title}'", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Search_narrows_to_a_category_a_period_and_authors_however_written()
    {
        var category = $"test.S{Guid.NewGuid():N}"[..16];
        var surname = $"Hopper{Guid.NewGuid():N}"[..14];
        static Paper By(Paper paper, string author)
        {
            paper.Authors.Clear();
            paper.Authors.Add(author);
            return paper;
        }

        // Three papers on one topic: a fresh one by the author, an older one by another, one of this morning in another category by the author.
        var fresh = By(Published(Papers.QuantumErrorCorrection(), TimeSpan.FromHours(2), 0, category), $"{surname}, Grace M.");
        var older = By(Published(Papers.QuantumErrorCorrection(), TimeSpan.FromDays(10), 0, category), "Ada Lovelace");
        var elsewhere = By(Published(Papers.QuantumErrorCorrection(), TimeSpan.FromHours(5), 0, category + "x"), $"{surname}, Grace M.");
        await SubmitAsync(fresh, older, elsewhere);
        var query = "surface codes for quantum error correction";
        await WaitUntilAsync(async () => (await Pipeline.Rank.SearchAsync(new SearchRequest { Query = query, Limit = 1000 })).Papers
            .Select(p => p.Id).Intersect([fresh.Id, older.Id, elsewhere.Id]).Count() == 3, "rank finds all three");

        async Task<string[]> Found(SearchRequest request)
        {
            request.Query = query;
            request.Limit = 10;
            return (await Pipeline.Rank.SearchAsync(request)).Papers.Select(p => p.Id).Order(StringComparer.Ordinal).ToArray();
        }

        Assert.Equal(new[] { fresh.Id, older.Id }.Order(StringComparer.Ordinal), await Found(new SearchRequest { Category = category.ToUpperInvariant() }));
        Assert.Equal([fresh.Id], await Found(new SearchRequest { Category = category, Since = Timestamp.FromDateTimeOffset(DateTimeOffset.UtcNow.AddDays(-3)) }));
        Assert.Equal(new[] { fresh.Id, elsewhere.Id }.Order(StringComparer.Ordinal), await Found(new SearchRequest { Authors = { $"G. {surname}" } }));
        Assert.Equal([fresh.Id], await Found(new SearchRequest { Category = category, Authors = { $"Grace {surname}", "Alan Turing" } }));
        Assert.Empty(await Found(new SearchRequest { Category = category, Authors = { $"George {surname}" } }));

        // No query: the author's papers, newest first, each saying who wrote it.
        var listing = await Pipeline.Rank.SearchAsync(new SearchRequest { Authors = { $"Grace {surname}" }, Limit = 10 });
        Assert.Equal([fresh.Id, elsewhere.Id], listing.Papers.Select(p => p.Id));
        Assert.All(listing.Papers, p => Assert.Equal($"by {surname}, Grace M.", p.Reason));
        var lovelace = await Pipeline.Rank.SearchAsync(new SearchRequest { Authors = { "Lovelace, A." }, Category = category, Limit = 10 });
        Assert.Equal([older.Id], lovelace.Papers.Select(p => p.Id));
        Assert.Empty((await Pipeline.Rank.SearchAsync(new SearchRequest
        {
            Authors = { "Ada Lovelace" }, Category = category, Since = Timestamp.FromDateTimeOffset(DateTimeOffset.UtcNow.AddDays(-3)),
        })).Papers);
    }

    [Fact]
    public async Task Bad_requests_get_a_clear_status()
    {
        async Task<StatusCode> StatusOf(Func<Task> call)
        {
            var e = await Assert.ThrowsAsync<RpcException>(call);
            Assert.False(string.IsNullOrWhiteSpace(e.Status.Detail));
            return e.StatusCode;
        }

        Assert.Equal(StatusCode.NotFound, await StatusOf(() => Pipeline.Rank.RecommendAsync(new RecommendRequest { SubscriberId = "nobody" }, PipelineFixture.WithApiKey).ResponseAsync));
        Assert.Equal(StatusCode.NotFound, await StatusOf(() => Pipeline.Rank.SimilarAsync(new SimilarRequest { PaperId = "9999.99999" }).ResponseAsync));
        Assert.Equal(StatusCode.InvalidArgument, await StatusOf(() => Pipeline.Rank.RecommendAsync(new RecommendRequest()).ResponseAsync));
        Assert.Equal(StatusCode.InvalidArgument, await StatusOf(() => Pipeline.Rank.RecommendAsync(new RecommendRequest { Interests = { " " }, SeedPaperIds = { "" } }).ResponseAsync));
        Assert.Equal(StatusCode.InvalidArgument, await StatusOf(() => Pipeline.Rank.TrendingAsync(new TrendingRequest { Limit = -1 }).ResponseAsync));
        Assert.Equal(StatusCode.InvalidArgument, await StatusOf(() => Pipeline.Rank.TrendingAsync(new TrendingRequest { Limit = 1001 }).ResponseAsync));
        // A window this version does not know is refused, not taken as the day.
        Assert.Equal(StatusCode.InvalidArgument, await StatusOf(() => Pipeline.Rank.TrendingAsync(new TrendingRequest { Window = (TrendingWindow)9 }).ResponseAsync));
        Assert.Equal(StatusCode.InvalidArgument, await StatusOf(() => Pipeline.Rank.RecommendAsync(new RecommendRequest { SubscriberId = new string('s', 200) }, PipelineFixture.WithApiKey).ResponseAsync));
        Assert.Equal(StatusCode.InvalidArgument, await StatusOf(() => Pipeline.Rank.SearchAsync(new SearchRequest { Query = "" }).ResponseAsync));
        Assert.Equal(StatusCode.InvalidArgument, await StatusOf(() => Pipeline.Rank.SearchAsync(new SearchRequest { Query = "qubits", Category = new string('c', 65) }).ResponseAsync));
        Assert.Equal(StatusCode.InvalidArgument, await StatusOf(() => Pipeline.Rank.SearchAsync(new SearchRequest { Query = "qubits", Authors = { "-" } }).ResponseAsync));
        Assert.Equal(StatusCode.InvalidArgument, await StatusOf(() => Pipeline.Rank.SearchAsync(new SearchRequest { Authors = { " ", "" } }).ResponseAsync));
        Assert.Equal(StatusCode.InvalidArgument, await StatusOf(() => Pipeline.Rank.RecommendAsync(new RecommendRequest { Interests = { "compilers" }, Authors = { "..." } }).ResponseAsync));

        // A since no time can be (negative nanos; after the year 9999) is named, not UNKNOWN.
        foreach (var since in new[] { new Timestamp { Seconds = 1_700_000_000, Nanos = -1 }, new Timestamp { Seconds = 253_402_300_800 } })
        {
            var search = await Assert.ThrowsAsync<RpcException>(() => Pipeline.Rank.SearchAsync(new SearchRequest { Query = "qubits", Since = since }).ResponseAsync);
            var recommend = await Assert.ThrowsAsync<RpcException>(() => Pipeline.Rank.RecommendAsync(new RecommendRequest { Interests = { "compilers" }, Since = since }).ResponseAsync);
            Assert.All([search, recommend], e =>
            {
                Assert.Equal(StatusCode.InvalidArgument, e.StatusCode);
                Assert.StartsWith("since is not a valid time", e.Status.Detail);
            });
        }
    }

    [Fact]
    public async Task Searches_do_not_write_a_log_line_each()
    {
        // Each new query is embedded through a call to embed. Rank's log tells what happened to
        // papers and profiles; a line per request (four, from the HTTP client under the gRPC
        // client, before rank quieted it) grew it by 2,400 lines a second at 600 searches a second.
        var log = Pipeline.Services["rank"].LogPath;
        var before = File.ReadAllLines(log).Length;
        const int searches = 40;
        for (var i = 0; i < searches; i++)
        {
            await Pipeline.Rank.SearchAsync(new SearchRequest { Query = $"log volume probe {Guid.NewGuid():N} number {i}", Limit = 3 });
        }

        await Task.Delay(TimeSpan.FromSeconds(1)); // the console logger writes from a queue
        var added = File.ReadAllLines(log).Skip(before).ToArray();
        Assert.True(added.Length < searches / 2, $"{added.Length} lines for {searches} searches:\n{string.Join('\n', added.Take(12))}");
        Assert.DoesNotContain(added, l => l.Contains("System.Net.Http.HttpClient", StringComparison.Ordinal));
    }

    private async Task<RankedPapers> TrendingForAsync(string subscriberId, string category) =>
        await Pipeline.Rank.TrendingAsync(new TrendingRequest { Window = TrendingWindow.Day, Category = category, SubscriberId = subscriberId, Limit = 10 }, PipelineFixture.WithApiKey);

    private async Task<RankedPapers> TrendingAsync(TrendingWindow window, string category) =>
        await Pipeline.Rank.TrendingAsync(new TrendingRequest { Window = window, Category = category, Limit = 10 });
}
