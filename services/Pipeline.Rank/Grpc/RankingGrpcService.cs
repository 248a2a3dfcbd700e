using Google.Protobuf.WellKnownTypes;
using Grpc.Core;
using Pipeline.Contracts.Rank.V1;
using Pipeline.Rank.Ranking;
using Pipeline.ServiceDefaults;

namespace Pipeline.Rank.Grpc;

public sealed class RankingGrpcService(PaperIndex papers, ProfileIndex profiles, TextEmbedder embedder, ApiKeyValidator apiKeys)
    : RankingService.RankingServiceBase
{
    public const int MaxLimit = 1_000;
    public const int MaxQueryLength = 1_000;
    public const int MaxInterests = 50;

    public override async Task<RankedPapers> Search(SearchRequest request, ServerCallContext context)
    {
        var query = request.Query?.Trim() ?? "";
        if (query.Length == 0)
        {
            throw new RpcException(new Status(StatusCode.InvalidArgument, "query is empty."));
        }

        if (query.Length > MaxQueryLength)
        {
            throw new RpcException(new Status(StatusCode.InvalidArgument, $"query is longer than {MaxQueryLength} characters."));
        }

        var limit = Limit(request.Limit);
        var vectors = await embedder.EmbedAsync([query], context.CancellationToken);
        return Answer(papers.Top(vectors, limit), s => Reasons.MatchesQuery(query, s.Relevance));
    }

    public override async Task<RankedPapers> Recommend(RecommendRequest request, ServerCallContext context)
    {
        var limit = Limit(request.Limit);
        IReadOnlyList<string> interests;
        IReadOnlyList<float[]> vectors;
        if (request.SubscriberId.Length > 0)
        {
            var profile = profiles.Get(request.SubscriberId)
                ?? throw new RpcException(new Status(StatusCode.NotFound, $"No active subscriber '{request.SubscriberId}' is known to rank."));
            (interests, vectors) = (profile.Interests, profile.Vectors);
        }
        else
        {
            interests = request.Interests.Select(i => i.Trim()).Where(i => i.Length > 0).ToArray();
            if (interests.Count == 0)
            {
                throw new RpcException(new Status(StatusCode.InvalidArgument, "Give a subscriber_id or at least one interest."));
            }

            if (interests.Count > MaxInterests || interests.Any(i => i.Length > MaxQueryLength))
            {
                throw new RpcException(new Status(StatusCode.InvalidArgument, $"At most {MaxInterests} interests of at most {MaxQueryLength} characters each."));
            }

            vectors = await embedder.EmbedAsync(interests, context.CancellationToken);
        }

        if (vectors.Count == 0)
        {
            return new RankedPapers();
        }

        var since = request.Since?.ToDateTimeOffset();
        var excluded = request.ExcludePaperIds.ToHashSet(StringComparer.Ordinal);
        var top = papers.Top(vectors, limit, p => (since is null || p.SeenAt >= since) && !excluded.Contains(p.Paper.Id));
        return Answer(top, s => Reasons.MatchesInterest(interests[s.BestQuery], s.Relevance));
    }

    public override Task<RankedPapers> Similar(SimilarRequest request, ServerCallContext context)
    {
        if (string.IsNullOrWhiteSpace(request.PaperId))
        {
            throw new RpcException(new Status(StatusCode.InvalidArgument, "paper_id is required."));
        }

        var limit = Limit(request.Limit);
        if (!papers.TryGet(request.PaperId, out var paper, out var vector))
        {
            throw new RpcException(new Status(StatusCode.NotFound, $"No paper '{request.PaperId}' is known to rank."));
        }

        var top = papers.Top([vector], limit, p => p.Paper.Id != request.PaperId);
        return Task.FromResult(Answer(top, s => Reasons.SimilarTo(paper!.Paper.Title, s.Relevance)));
    }

    // Trending scores and votes arrive with the ranking issue.
    public override Task<RankedPapers> Trending(TrendingRequest request, ServerCallContext context) =>
        throw new RpcException(new Status(StatusCode.Unimplemented, "Trending is not implemented yet."));

    public override Task<VoteResponse> Vote(VoteRequest request, ServerCallContext context)
    {
        apiKeys.Require(context);
        throw new RpcException(new Status(StatusCode.Unimplemented, "Voting is not implemented yet."));
    }

    private static int Limit(int requested) => requested switch
    {
        0 => 10,
        < 0 or > MaxLimit => throw new RpcException(new Status(StatusCode.InvalidArgument, $"limit must be between 1 and {MaxLimit}.")),
        _ => requested,
    };

    private static RankedPapers Answer(IReadOnlyList<ScoredPaper> scored, Func<ScoredPaper, string> reason)
    {
        var answer = new RankedPapers();
        foreach (var s in scored)
        {
            var p = s.Paper.Paper;
            var ranked = new RankedPaper
            {
                Id = p.Id,
                Title = p.Title,
                Abstract = p.Abstract,
                Url = p.Url,
                Upvotes = p.Upvotes,
                PublishedAt = p.PublishedAt is { } at ? Timestamp.FromDateTimeOffset(at) : null,
                Score = s.Relevance,
                Parts = new ScoreParts { Relevance = s.Relevance },
                Reason = reason(s),
            };
            ranked.Authors.AddRange(p.Authors);
            ranked.Categories.AddRange(p.Categories);
            answer.Papers.Add(ranked);
        }

        return answer;
    }
}
