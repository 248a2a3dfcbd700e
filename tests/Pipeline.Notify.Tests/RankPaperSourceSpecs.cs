using Grpc.Core;
using Pipeline.Contracts.Rank.V1;
using Pipeline.Notify.Delivery;
using Pipeline.Notify.Storage;

namespace Pipeline.Notify.Tests;

/// <summary>
/// Rank gives a subscriber's pages only with the API key. When it refuses notify's, the digest
/// fails with a message that says which setting to fix, not with a bare UNAUTHENTICATED.
/// </summary>
public sealed class RankPaperSourceSpecs
{
    private sealed class RefusingRank : RankingService.RankingServiceClient
    {
        public override AsyncUnaryCall<RankedPapers> RecommendAsync(RecommendRequest request, CallOptions options) =>
            throw new RpcException(new Status(StatusCode.Unauthenticated, "The API key is not valid."));

        public override AsyncUnaryCall<RankedPapers> TrendingAsync(TrendingRequest request, CallOptions options) =>
            throw new RpcException(new Status(StatusCode.Unauthenticated, "The API key is not valid."));
    }

    private static readonly Subscriber Reader = new("reader1", "reader1@example.org", ["diffusion models"], "daily", "UTC", 7, 10, 0.5,
        SubscriptionStatus.Active, DateTimeOffset.UtcNow, DateTimeOffset.UtcNow, DateTimeOffset.UtcNow);

    [Fact]
    public async Task A_refused_key_fails_the_digest_naming_the_setting_to_fix()
    {
        var papers = new RankPaperSource(new RefusingRank(), TimeProvider.System);

        var recommend = await Assert.ThrowsAsync<RankKeyRefusedException>(() => papers.RecommendAsync(Reader, DateTimeOffset.UtcNow.AddDays(-1), 10, [], CancellationToken.None));
        var trending = await Assert.ThrowsAsync<RankKeyRefusedException>(() => papers.TrendingAsync(Reader, false, 10, CancellationToken.None));

        foreach (var e in new[] { recommend, trending })
        {
            Assert.Contains("Services__rank__apiKey", e.Message);
            Assert.Equal(StatusCode.Unauthenticated, Assert.IsType<RpcException>(e.InnerException).StatusCode);
        }
    }
}
