using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using Grpc.Core;
using Grpc.Core.Interceptors;
using Grpc.Net.Client;
using Pipeline.Contracts.Rank.V1;
using Pipeline.Testing;

namespace Pipeline.IntegrationTests;

/// <summary>The tests' calls to the services end by a deadline even when a test gives none.</summary>
public sealed class DefaultDeadlineTests
{
    [Fact]
    public async Task A_call_without_a_deadline_to_a_server_that_never_answers_ends_at_the_default_one()
    {
        // Accepts connections and never says a word.
        using var silent = new TcpListener(IPAddress.Loopback, 0);
        silent.Start();
        var accepted = new List<Socket>();
        var accepting = Task.Run(async () =>
        {
            while (true)
            {
                accepted.Add(await silent.AcceptSocketAsync());
            }
        });
        using var channel = GrpcChannel.ForAddress($"http://127.0.0.1:{((IPEndPoint)silent.LocalEndpoint).Port}");
        var rank = new RankingService.RankingServiceClient(channel.Intercept(new DefaultDeadlineInterceptor(TimeSpan.FromSeconds(1))));

        var clock = Stopwatch.StartNew();
        // Bounded here too: without the interceptor this call would wait forever.
        var error = await Assert.ThrowsAsync<RpcException>(() => rank.TrendingAsync(new TrendingRequest { Limit = 5 }).ResponseAsync.WaitAsync(TimeSpan.FromSeconds(30)));

        Assert.Equal(StatusCode.DeadlineExceeded, error.StatusCode);
        Assert.InRange(clock.Elapsed, TimeSpan.FromSeconds(0.9), TimeSpan.FromSeconds(30));

        // A deadline the caller gives is kept.
        clock.Restart();
        error = await Assert.ThrowsAsync<RpcException>(() => rank.TrendingAsync(new TrendingRequest { Limit = 5 }, deadline: DateTime.UtcNow.AddSeconds(3)).ResponseAsync);
        Assert.Equal(StatusCode.DeadlineExceeded, error.StatusCode);
        Assert.True(clock.Elapsed >= TimeSpan.FromSeconds(2.9), $"ended after {clock.Elapsed}, before the caller's 3 s");
        silent.Stop();
        foreach (var socket in accepted)
        {
            socket.Dispose();
        }
    }
}
