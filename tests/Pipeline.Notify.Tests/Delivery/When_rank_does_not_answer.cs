using System.Net;
using System.Net.Sockets;
using Grpc.Core;
using Grpc.Net.Client;
using Pipeline.Contracts.Rank.V1;
using Pipeline.Notify.Delivery;
using Pipeline.Notify.Storage;

namespace Pipeline.Notify.Tests.Delivery;

/// <summary>
/// A digest's claim is a 5-minute lease. A Recommend call that never ends would hold the digest
/// past it, and another instance could then send the same period: the call has a deadline.
/// </summary>
public sealed class When_rank_does_not_answer
{
    [Fact]
    public async Task Recommend_gives_up_at_its_deadline()
    {
        // Takes connections and never says a word, as a hung rank would.
        using var silent = new TcpListener(IPAddress.Loopback, 0);
        silent.Start();
        var accepted = new System.Collections.Concurrent.ConcurrentBag<Socket>();
        _ = Task.Run(async () =>
        {
            try
            {
                while (true)
                {
                    accepted.Add(await silent.AcceptSocketAsync());
                }
            }
            catch (Exception e) when (e is SocketException or ObjectDisposedException)
            {
                // the test is over
            }
        });
        using var channel = GrpcChannel.ForAddress($"http://127.0.0.1:{((IPEndPoint)silent.LocalEndpoint).Port}");
        var papers = new RankPaperSource(new RankingService.RankingServiceClient(channel), TimeProvider.System) { RecommendTimeout = TimeSpan.FromSeconds(1) };
        var now = DateTimeOffset.UtcNow;
        var subscriber = new Subscriber("reader1", "reader1@example.org", ["graphs"], "daily", "UTC", 7, 10, 0.5, SubscriptionStatus.Active, now, now, now);

        var asking = papers.RecommendAsync(subscriber, now.AddDays(-1), 10, [], CancellationToken.None);

        var failed = await Assert.ThrowsAsync<RpcException>(() => asking.WaitAsync(TimeSpan.FromSeconds(20)));
        Assert.Equal(StatusCode.DeadlineExceeded, failed.StatusCode);
        Assert.True(RankPaperSource.DefaultRecommendTimeout < DigestSender.SendLease / 2, "the deadline leaves most of the lease for the send");
    }
}
