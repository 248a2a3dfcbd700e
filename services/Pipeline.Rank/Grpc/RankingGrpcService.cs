using System.Buffers;
using System.Collections.Concurrent;
using Google.Protobuf.WellKnownTypes;
using Grpc.Core;
using Pipeline.Contracts.Conversions;
using Pipeline.Contracts.Rank.V1;
using Pipeline.Rank.Ranking;
using Pipeline.Rank.Ranking.Relevance;
using Pipeline.Rank.Storage;
using Pipeline.ServiceDefaults;
using StackExchange.Redis;

namespace Pipeline.Rank.Grpc;

public sealed class RankingGrpcService(
    PaperIndex papers,
    RelevanceRanker relevance,
    Feedback feedback,
    VoteRecorder votes,
    SentHistoryLoader sentHistory,
    TextEmbedder embedder,
    ApiKeyValidator apiKeys,
    RankStore store,
    UpstreamRebuild rebuild,
    TrendingBoard trending,
    RankingGate gate,
    SubscriberQueries subscriberQueries,
    KeptRankings keptRankings,
    TimeProvider clock) : RankingService.RankingServiceBase
{
    public const int MaxLimit = 1_000;
    public const int MaxQueryLength = 1_000;
    public const int MaxInterests = 50;
    public const int MaxIdLength = 128;

    public override async Task<RankedPapers> Search(SearchRequest request, ServerCallContext context)
    {
        var query = request.Query?.Trim() ?? "";
        if (query.Length > MaxQueryLength)
        {
            throw Invalid($"query is longer than {MaxQueryLength} characters.");
        }

        var limit = Limit(request.Limit);
        var since = Time(request.Since, "since");
        var (include, names) = SearchFilter(request);
        if (query.Length == 0 && names.Length == 0)
        {
            throw Invalid("query is empty (give a query, or authors to list their papers).");
        }

        var now = clock.GetUtcNow();
        if (query.Length == 0)
        {
            // No query, only authors: their papers, newest first, as an author's listing.
            var from = since ?? DateTimeOffset.MinValue;
            var listed = await gate.RunAsync(
                () => papers.Select(p => p.WindowAt >= from && include!(p)) // names given: include is set
                    .OrderByDescending(p => p.SeenAt)
                    .Take(limit)
                    .Select(p =>
                    {
                        var recency = TrendingScore.Recency(now - p.SeenAt);
                        return Ranked(p, recency, 0, 0, recency, $"by {Recommender.AuthorAmong(p.Paper, names)}");
                    })
                    .ToArray(),
                context.CancellationToken);
            return await AnswerAsync(listed);
        }

        var vector = (await embedder.EmbedAsync([query], Pipeline.Contracts.Embed.V1.TextKind.Query, context.CancellationToken))[0];
        var ranked = await gate.RunAsync(
            () => relevance.Rank([new RelevanceQuery(query, vector)], limit, include, seenSince: since)
                .Select(h => Ranked(h.Paper, h.Score, h.Score, 0, TrendingScore.Recency(now - h.Paper.SeenAt), relevance.Explain(h, [query], "search")))
                .ToArray(),
            context.CancellationToken);
        return await AnswerAsync(ranked);
    }

    /// <summary>Search's category and author filters as one test of a paper (null when there are none), and the authors' names.</summary>
    private (Func<IndexedPaper, bool>? Include, AuthorName[] Names) SearchFilter(SearchRequest request)
    {
        var category = request.Category?.Trim() ?? "";
        if (category.Length > 64)
        {
            throw Invalid("category is longer than 64 characters.");
        }

        var authors = Clean(request.Authors, "authors");
        if (authors.FirstOrDefault(a => !a.Any(char.IsLetter)) is { } nameless)
        {
            throw Invalid($"authors: '{nameless}' is not a name (such as 'Grace Hopper' or 'G. Hopper').");
        }

        var names = authors.Select(AuthorName.Parse).ToArray();

        // A filter that passes few papers reads nearly all of them. Author names are interned, so
        // each distinct name is compared once per call (the scan may run on two threads).
        var seen = new ConcurrentDictionary<string, bool>(ReferenceEqualityComparer.Instance);
        bool ByAuthor(IndexedPaper p)
        {
            foreach (var author in p.Paper.Authors)
            {
                if (seen.GetOrAdd(author, static (a, n) => Recommender.IsOneOf(a, n), names))
                {
                    return true;
                }
            }

            return false;
        }

        Func<IndexedPaper, bool>? include = (category.Length, names.Length) switch
        {
            (0, 0) => null,
            (_, 0) => p => p.Paper.Categories.Contains(category, StringComparer.OrdinalIgnoreCase),
            (0, _) => ByAuthor,
            _ => p => p.Paper.Categories.Contains(category, StringComparer.OrdinalIgnoreCase) && ByAuthor(p),
        };
        return (include, names);
    }

    public override async Task<RankedPapers> Recommend(RecommendRequest request, ServerCallContext context)
    {
        var subscriberId = request.SubscriberId.Trim();
        if (subscriberId.Length > 0)
        {
            // A subscriber's recommendations quote their interests and leave out what they were
            // sent: personal data, for notify and operators (the key, checked first), not for
            // whoever has the id.
            apiKeys.Require(context);
            if (subscriberId.Length > MaxIdLength)
            {
                throw Invalid($"subscriber_id is longer than {MaxIdLength} characters.");
            }
        }

        var limit = Limit(request.Limit);
        var since = Time(request.Since, "since");
        RecommendInputs inputs;
        if (subscriberId.Length > 0)
        {
            // Interests, then seed papers (one rank does not hold is skipped), moved by the
            // subscriber's votes (Rocchio: towards what they liked, away from what they did not).
            inputs = subscriberQueries.Of(subscriberId)
                ?? throw new RpcException(new Status(StatusCode.NotFound, $"No active subscriber '{subscriberId}' is known to rank."));
        }
        else
        {
            var interests = Clean(request.Interests, "interests");
            // As a user copies them: "2410.17243v2" or "arxiv:2410.17243" is 2410.17243.
            var seeds = Clean(request.SeedPaperIds, "seed_paper_ids").Select(Pipeline.Contracts.PaperIds.Canonical).Distinct().ToList();
            if (interests.Count == 0 && seeds.Count == 0)
            {
                // Blank entries count as none: an answer with nothing to rank from would look like "no papers".
                throw Invalid("Give a subscriber_id, or at least one interest or seed paper.");
            }

            var authors = Clean(request.Authors, "authors");
            if (authors.FirstOrDefault(a => !a.Any(char.IsLetter)) is { } nameless)
            {
                throw Invalid($"authors: '{nameless}' is not a name (an author is followed by name, such as 'Grace Hopper' or 'G. Hopper').");
            }

            var asked = new ProfilePreferences(seeds, authors, Clean(request.Categories, "categories"));
            var vectors = await embedder.EmbedAsync(interests, context.CancellationToken);
            var interestQueries = interests.Select((text, i) => new RelevanceQuery(text, vectors[i])).ToList();
            // Seed papers are queries too: "more like this one".
            if (subscriberQueries.WithSeeds(interestQueries, asked) is { } unknown)
            {
                throw new RpcException(new Status(StatusCode.NotFound, $"Seed paper '{unknown}' is not known to rank."));
            }

            inputs = new RecommendInputs(interestQueries, asked, [], []) { InterestCount = interests.Count };
        }

        var (queries, preferences, liked, _) = inputs;
        if (queries.Count == 0)
        {
            return new RankedPapers();
        }

        var excluded = SubscriberQueries.Excluded(request.ExcludePaperIds.Select(Pipeline.Contracts.PaperIds.Canonical), inputs);
        if (subscriberId.Length > 0)
        {
            // Rank serves before every history is loaded: this subscriber's is read now if the load has not reached it.
            await sentHistory.EnsureLoadedAsync(subscriberId, context.CancellationToken);
        }

        var sent = subscriberId.Length > 0 ? feedback.SentTo(subscriberId) : null;
        // A subscriber's ranking without a window is kept until what it was ranked from changes
        // (KeptRankings): a repeat costs no ranking of the index. Otherwise the window is read
        // from the index's array of times. What is left out (sent, disliked, seeds, excluded ids)
        // is a bitmap by paper number made for this call: a subscriber's history costs one bit
        // test per paper asked about, and the rankings ask only about papers that would enter the
        // answer or the prefilter's net (docs/ranking.md, "Papers left out"); none at all when
        // nothing is left out.
        // A ranking kept and current is answered at once: what is left (the choice among ~50
        // candidates, the reasons) is too little work to queue for a core behind rankings.
        Func<int, IReadOnlyList<RelevanceHit>>? kept = null;
        var current = false;
        if (subscriberId.Length > 0 && since is null)
        {
            current = keptRankings.TryKept(subscriberId, queries, Recommender.RankedFor(limit), sent, excluded, out var found);
            kept = current ? _ => found : n => keptRankings.Rank(subscriberId, queries, n, sent, excluded);
        }

        using var leftOut = kept is null ? LeftOut.Of(sent, excluded) : null;
        Func<IndexedPaper, bool>? include = leftOut is null ? null : p => !leftOut.Contains(p);
        var texts = queries.Select(q => q.Text).ToArray();
        Recommendation[] Choose()
        {
            // The candidates' vectors (for diversity) are read into a block lent for this choice.
            var vectors = ArrayPool<float>.Shared.Rent(Recommender.VectorsFor(limit));
            try
            {
                return ChooseAmong(vectors);
            }
            finally
            {
                ArrayPool<float>.Shared.Return(vectors);
            }
        }

        Recommendation[] ChooseAmong(float[] vectors)
        {
            var (pool, hits) = Recommender.Candidates(relevance, papers, feedback.Votes, queries, limit, since: since, preferences: preferences, exclude: leftOut, rank: kept, vectors: vectors);
            if (since is { } from && preferences.Authors.Count > 0)
            {
                // A digest brings every paper of its window by a followed author, on any topic, after the relevant ones.
                pool = Recommender.WithFollowedAuthors(pool, papers, feedback.Votes, preferences, from, include, limit);
            }

            // Which interest a paper matches, in words, only for the papers chosen (a fifth of the
            // pool): the reason leads with it, as when it is given with the candidate. A followed
            // author's paper with no evidence of relevance (or no hit: the window brought it) is
            // explained by the author alone.
            return Recommender.Choose(pool, preferences, clock.GetUtcNow(), limit)
                .Select(r => r with
                {
                    Reason = string.Join("; ", new[]
                    {
                        hits.TryGetValue(r.Paper.Ordinal, out var hit) && Recommender.HasEvidence(hit) ? InterestReason(hit, texts, inputs.InterestCount, inputs.MovedByLikes) : "",
                        r.Reason,
                    }.Where(part => part.Length > 0)),
                })
                .ToArray();
        }

        var chosen = current ? Choose() : await gate.RunAsync(Choose, context.CancellationToken);
        return await AnswerAsync(chosen.Select(r => Ranked(r.Paper, r.Score, r.Relevance, r.Trending, r.Recency, r.Reason)));
    }

    public override async Task<RankedPapers> Trending(TrendingRequest request, ServerCallContext context)
    {
        if (!string.IsNullOrWhiteSpace(request.SubscriberId))
        {
            // What the page leaves out tells what the subscriber was sent: the key, checked first.
            apiKeys.Require(context);
        }

        var limit = Limit(request.Limit);
        var window = request.Window switch
        {
            TrendingWindow.Unspecified or TrendingWindow.Day => TrendingWindowKind.Day,
            TrendingWindow.Week => TrendingWindowKind.Week,
            TrendingWindow.Month => TrendingWindowKind.Month,
            _ => throw Invalid($"window {(int)request.Window} is not a TrendingWindow: send TRENDING_WINDOW_DAY, _WEEK or _MONTH (unset is the day)."),
        };
        var category = request.Category?.Trim() ?? "";
        if (category.Length > 64)
        {
            throw Invalid("category is longer than 64 characters.");
        }

        var subscriberId = request.SubscriberId?.Trim() ?? "";
        if (subscriberId.Length > MaxIdLength)
        {
            throw Invalid($"subscriber_id is longer than {MaxIdLength} characters.");
        }

        var now = clock.GetUtcNow();
        if (subscriberId.Length > 0)
        {
            return await SubscriberTrendingAsync(subscriberId, window, category, limit, now, context.CancellationToken);
        }

        if (trending.Kept(window, category, limit, now) is { } kept)
        {
            return kept;
        }

        var version = trending.Version;
        var answer = await AnswerAsync(TrendingPage(trending.Top(window, category, limit, now), now));
        trending.Keep(window, category, limit, version, now, answer);
        return answer;
    }

    /// <summary>
    /// A subscriber's trending page: the front page without what they were sent, voted on or gave
    /// as seeds (the same papers a Recommend leaves out). Not kept: each subscriber's page is their own,
    /// and walking a window's papers with a bitmap is cheap.
    /// </summary>
    private async Task<RankedPapers> SubscriberTrendingAsync(string subscriberId, TrendingWindowKind window, string category, int limit, DateTimeOffset now, CancellationToken cancellationToken)
    {
        if (!subscriberQueries.Knows(subscriberId))
        {
            throw new RpcException(new Status(StatusCode.NotFound, $"No active subscriber '{subscriberId}' is known to rank."));
        }

        // Rank serves before every history is loaded: this subscriber's is read now if the load has not reached it.
        await sentHistory.EnsureLoadedAsync(subscriberId, cancellationToken);
        // The papers a Recommend leaves out: sent, voted on (up or down), the subscriber's seed papers.
        var (liked, disliked) = feedback.OpinionNumbersOf(subscriberId);
        var seeds = feedback.PreferencesOf(subscriberId).SeedPaperIds.Select(id => PaperOrdinals.TryGet(id, out var ordinal) ? ordinal : -1);
        using var leftOut = LeftOut.Of(feedback.SentTo(subscriberId), liked.Concat(disliked).Concat(seeds));
        return await AnswerAsync(TrendingPage(trending.Top(window, category, limit, now, leftOut), now));
    }

    private List<RankedPaper> TrendingPage(IReadOnlyList<TrendingEntry> entries, DateTimeOffset now)
    {
        var ranked = new List<RankedPaper>(entries.Count);
        foreach (var entry in entries)
        {
            var age = now - entry.Paper.SeenAt;
            ranked.Add(Ranked(entry.Paper, entry.Score, 0, entry.Score, TrendingScore.Recency(age), entry.Reason(now)));
        }

        return ranked;
    }

    public override async Task<RankedPapers> Similar(SimilarRequest request, ServerCallContext context)
    {
        var id = RequireId(request.PaperId, "paper_id");
        var limit = Limit(request.Limit);
        if (!papers.TryGet(id, out var paper, out var vector))
        {
            throw new RpcException(new Status(StatusCode.NotFound, $"No paper '{id}' is known to rank."));
        }

        var now = clock.GetUtcNow();
        // One more than asked and the paper itself dropped: the same answer as a filter, without a call per paper.
        var top = await gate.RunAsync(() => papers.Top([vector], limit + 1).Where(s => s.Paper.Paper.Id != id).Take(limit).ToArray(), context.CancellationToken);
        return await AnswerAsync(top.Select(s =>
            Ranked(s.Paper, s.Relevance, s.Relevance, 0, TrendingScore.Recency(now - s.Paper.SeenAt), Reasons.SimilarTo(paper!.Paper.Title, s.Relevance))));
    }

    public override async Task<VoteResponse> Vote(VoteRequest request, ServerCallContext context)
    {
        apiKeys.Require(context);
        var paperId = RequireId(request.PaperId, "paper_id");
        var voterId = RequireId(request.VoterId, "voter_id");
        if (request.Value is < -1 or > 1)
        {
            throw Invalid("value must be +1 (up), -1 (down) or 0 (withdraw).");
        }

        if (!papers.TryGet(paperId, out var paper, out _))
        {
            throw new RpcException(new Status(StatusCode.NotFound, $"No paper '{paperId}' is known to rank."));
        }

        // Redis, then memory, one vote of this voter on this paper at a time.
        var changed = await votes.VoteAsync(paperId, voterId, request.Value, context.CancellationToken);

        // The paper as Trending would list it now, with this vote counted.
        var net = feedback.Votes(paperId);
        var age = clock.GetUtcNow() - paper!.SeenAt;
        var points = TrendingScore.Points(paper.Paper.Upvotes, net);
        var heat = TrendingScore.Of(points, age);
        var ranked = Ranked(paper, heat, 0, heat, TrendingScore.Recency(age), TrendingScore.Reason(paper.Paper.Upvotes, net, age, feedback.UpVotes(paper.Ordinal), paper.SeenByFeaturing));
        var response = new VoteResponse { PaperId = paperId, Votes = net, Changed = changed };
        try
        {
            response.Papers.AddRange((await AnswerAsync([ranked])).Papers);
        }
        catch (Exception e) when (e is RedisException or TimeoutException)
        {
            // The vote is saved and counted: an UNAVAILABLE now would read as "counted nothing".
            // The paper goes without its abstract and trace context, which live in Redis.
            response.Papers.Add(ranked);
        }

        return response;
    }

    /// <summary>Refills rank's Redis and index from ingest's ListPapers and embed's Embed (after rank's Redis was lost).</summary>
    public override async Task<RebuildIndexResponse> RebuildIndex(RebuildIndexRequest request, ServerCallContext context)
    {
        apiKeys.Require(context);
        var result = await rebuild.RebuildAsync(context.RequestHeaders.GetValue(ApiKeyValidator.HeaderName), context.CancellationToken);
        return new RebuildIndexResponse
        {
            Papers = result.Papers, Skipped = result.Skipped, Seconds = result.Elapsed.TotalSeconds, Subscribers = result.Subscribers,
        };
    }

    private string InterestReason(RelevanceHit hit, IReadOnlyList<string> queries, int interestCount, bool movedByLikes) =>
        // Queries past the interests are seed papers, named by their titles: "your example paper
        // 'Attention is all you need'", each query by what it is. Liked papers moved the vectors the
        // similarity was measured from: said beside it, "(0.62, with the papers you liked)".
        relevance.Explain(hit, queries, query => query >= interestCount ? "example paper" : "interest", movedByLikes ? "with the papers you liked" : null);

    private List<string> Clean(IEnumerable<string> values, string field)
    {
        var clean = values.Select(v => v.Trim()).Where(v => v.Length > 0).Distinct().ToList();
        if (clean.Count > MaxInterests || clean.Any(v => v.Length > MaxQueryLength))
        {
            throw Invalid($"{field}: at most {MaxInterests} entries of at most {MaxQueryLength} characters each.");
        }

        return clean;
    }

    private static string RequireId(string? value, string field)
    {
        var id = value?.Trim() ?? "";
        if (id.Length == 0)
        {
            throw Invalid($"{field} is required.");
        }

        if (id.Length > MaxIdLength)
        {
            throw Invalid($"{field} is longer than {MaxIdLength} characters.");
        }

        // As a user copies it: "2410.17243v2" or "arxiv:2410.17243" is the paper 2410.17243.
        return Pipeline.Contracts.PaperIds.Canonical(id);
    }

    private static int Limit(int requested) => requested switch
    {
        0 => 10,
        < 0 or > MaxLimit => throw Invalid($"limit must be between 1 and {MaxLimit}."),
        _ => requested,
    };

    private static RpcException Invalid(string message) => new(new Status(StatusCode.InvalidArgument, message));

    /// <summary>
    /// A request's time <paramref name="field"/>, null when not given. A Timestamp outside what it
    /// can hold (nanos outside 0 to 999,999,999, or seconds before 0001-01-01 or after 9999-12-31)
    /// is INVALID_ARGUMENT naming the field, not the UNKNOWN its conversion's exception would give.
    /// </summary>
    private static DateTimeOffset? Time(Timestamp? value, string field)
    {
        if (value is null)
        {
            return null;
        }

        return value.TryToDateTimeOffset(out var time)
            ? time
            : throw Invalid($"{field} is not a valid time (seconds {value.Seconds}, nanos {value.Nanos}): give one within {TimestampConversions.ValidRange}, UTC.");
    }

    private RankedPaper Ranked(IndexedPaper indexed, double score, double relevanceScore, double trending, double recency, string reason)
    {
        var p = indexed.Paper;
        var ranked = new RankedPaper
        {
            Id = p.Id,
            Title = p.Title,
            Url = p.Url,
            Upvotes = p.Upvotes,
            Votes = feedback.Votes(indexed.Ordinal),
            PublishedAt = p.PublishedAt is { } at ? Timestamp.FromDateTimeOffset(at) : null,
            Score = score,
            Parts = new ScoreParts { Relevance = relevanceScore, Trending = trending, Recency = recency },
            Reason = reason,
        };
        ranked.Authors.AddRange(p.Authors);
        ranked.Categories.AddRange(p.Categories);
        return ranked;
    }

    /// <summary>The answer, with what the in-memory index leaves out (abstracts, trace links) read from Redis.</summary>
    private async Task<RankedPapers> AnswerAsync(IEnumerable<RankedPaper> ranked)
    {
        var answer = new RankedPapers();
        answer.Papers.AddRange(ranked);
        var details = await store.GetAnswerDetailsAsync(answer.Papers.Select(p => p.Id).ToArray());
        for (var i = 0; i < details.Count; i++)
        {
            answer.Papers[i].Abstract = details[i].Abstract;
            answer.Papers[i].TraceParent = details[i].TraceParent ?? "";
        }

        return answer;
    }
}
