using Grpc.Core;
using MassTransit;
using Microsoft.Extensions.Configuration;
using Pipeline.ServiceDefaults.Messaging;
using StackExchange.Redis;

namespace Pipeline.ServiceDefaults.Tests;

/// <summary>
/// A Redis restart or a short network cut used to send every message consumed meanwhile to the
/// error queue after about 9 s of quick retries, waiting there for an operator's replay. Outages are
/// now waited out for about three minutes; other faults still end in the error queue after the quick ones.
/// </summary>
public sealed class BusRetrySpecs
{
    public sealed record Work(string Id);

    private static readonly BusRetry.QuickRetries Quick = new(2, TimeSpan.FromMilliseconds(10), TimeSpan.FromMilliseconds(20), TimeSpan.FromMilliseconds(5));

    private static readonly TimeSpan[] ShortWaits = [TimeSpan.FromMilliseconds(30), TimeSpan.FromMilliseconds(30), TimeSpan.FromMilliseconds(30)];

    [Fact]
    public async Task An_outage_longer_than_the_quick_retries_delays_the_message_and_it_is_consumed_once_redis_is_back()
    {
        // Redis refuses connections for the first 3 tries: as long as all the quick retries (3 tries here).
        var (attempts, faulted) = await RunAsync(attempt => attempt <= 3
            ? throw new RedisConnectionException(ConnectionFailureType.SocketFailure, "No connection is active/available")
            : Task.CompletedTask, ShortWaits);

        Assert.Equal(4, attempts);
        Assert.False(faulted);
    }

    [Fact]
    public async Task A_fault_that_is_not_an_outage_still_goes_to_the_error_queue_after_the_quick_retries()
    {
        var (attempts, faulted) = await RunAsync(_ => throw new InvalidOperationException("a bug"), ShortWaits);

        Assert.Equal(3, attempts);
        Assert.True(faulted);
    }

    [Fact]
    public async Task An_outage_that_outlasts_every_wait_ends_in_the_error_queue_without_more_retries_and_a_malformed_message_at_once()
    {
        var (outage, outageFaulted) = await RunAsync(_ => throw new RpcException(new Status(StatusCode.Unavailable, "embed is down")), ShortWaits);
        var (malformed, malformedFaulted) = await RunAsync(_ => throw new ArgumentException("no paper"), ShortWaits);

        // Once, and three more after the waits: not three quick retries of that again.
        Assert.Equal((4, true), (outage, outageFaulted));
        Assert.Equal((1, true), (malformed, malformedFaulted));
    }

    [Fact]
    public async Task A_stop_ends_the_wait_at_once_and_the_message_is_not_given_up()
    {
        var retry = new OutageRetry([TimeSpan.FromMinutes(5)], maxHold: TimeSpan.FromMinutes(10));
        using var stop = new CancellationTokenSource();
        var attempts = 0;

        var running = retry.RunAsync(() =>
        {
            attempts++;
            throw new RedisConnectionException(ConnectionFailureType.SocketFailure, "down");
        }, "work", stop.Token);
        await Task.Delay(100);
        await stop.CancelAsync();

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => running.WaitAsync(TimeSpan.FromSeconds(5)));
        Assert.Equal(1, attempts);
    }

    [Theory]
    [InlineData("LOADING Redis is loading the dataset in memory", true)]
    [InlineData("OOM command not allowed when used memory > 'maxmemory'.", false)]
    [InlineData("WRONGTYPE Operation against a key holding the wrong kind of value", false)]
    public void Redis_loading_its_data_is_an_outage_and_redis_refusing_a_write_is_not(string reply, bool outage)
    {
        Assert.Equal(outage, BusRetry.IsOutage(new RedisServerException(reply)));
    }

    [Fact]
    public void Timeouts_and_unavailable_services_are_outages_also_when_wrapped()
    {
        Assert.True(BusRetry.IsOutage(new RedisTimeoutException("Timeout awaiting response", CommandStatus.Sent)));
        Assert.True(BusRetry.IsOutage(new InvalidOperationException("saving failed", new RpcException(new Status(StatusCode.DeadlineExceeded, "")))));
        Assert.False(BusRetry.IsOutage(new RpcException(new Status(StatusCode.InvalidArgument, "bad"))));
        Assert.False(BusRetry.IsOutage(new NullReferenceException()));
    }

    [Theory]
    [InlineData(null, 6)]
    [InlineData("", 0)]
    [InlineData("0", 0)]
    [InlineData("1, 2.5,30", 3)]
    public void The_waits_are_configurable_and_none_turns_the_outage_layer_off(string? setting, int waits)
    {
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?> { ["Bus:OutageRetrySeconds"] = setting }).Build();

        Assert.Equal(waits, BusRetry.OutageIntervals(configuration).Count);
    }

    [Fact]
    public async Task A_message_is_held_no_longer_than_the_watchdogs_patience_allows_however_long_its_attempts()
    {
        // Attempts that each take a while (embed down behind a 30 s patience, a publish deadline):
        // the waits alone would fit, but the time held is what the watchdog judges.
        var held = TimeSpan.Zero;
        var retry = new OutageRetry([TimeSpan.FromSeconds(5), TimeSpan.FromSeconds(10), TimeSpan.FromSeconds(20), TimeSpan.FromSeconds(30)], maxHold: TimeSpan.FromSeconds(60));
        var attempts = 0;

        var e = await Assert.ThrowsAsync<DependencyOutageException>(() => retry.RunAsync(() =>
        {
            attempts++;
            held += TimeSpan.FromSeconds(20); // each attempt "takes" 20 s; the waits are not counted here
            throw new RedisTimeoutException("Timeout awaiting response", CommandStatus.Sent);
        }, "work", CancellationToken.None, held: () => held));

        // 20 s held, +5 = 25 ≤ 60: again (40 s); 40 + 10 = 50 ≤ 60: again (60 s); 60 + 20 > 60: given up.
        Assert.Equal(3, attempts);
        Assert.IsType<RedisTimeoutException>(e.InnerException);
    }

    [Fact]
    public void The_longest_hold_is_half_the_watchdogs_timeout_and_unbounded_without_the_watchdog()
    {
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?> { ["Bus:ConsumerWatchdog:ConsumeTimeoutSeconds"] = "100" }).Build();
        var noWatchdog = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?> { ["Bus:ConsumerWatchdog:Enabled"] = "false" }).Build();

        Assert.Equal(TimeSpan.FromSeconds(50), BusRetry.MaxHold(configuration));
        Assert.Equal(TimeSpan.FromSeconds(150), BusRetry.MaxHold(new ConfigurationBuilder().Build()));
        Assert.Equal(TimeSpan.MaxValue, BusRetry.MaxHold(noWatchdog));
        // Notify's attempt may be an SMTP send of up to 180 s: 300 × 0.9 - 180 = 90 s of waits at most.
        Assert.Equal(TimeSpan.FromSeconds(90), BusRetry.MaxHold(new ConfigurationBuilder().Build(), longestAttempt: TimeSpan.FromSeconds(180)));
    }

    [Fact]
    public void A_wait_that_is_not_a_number_of_seconds_is_refused_with_the_setting_named()
    {
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?> { ["Bus:OutageRetrySeconds"] = "5,ten" }).Build();

        var e = Assert.Throws<InvalidOperationException>(() => BusRetry.OutageIntervals(configuration));
        Assert.Contains("Bus:OutageRetrySeconds", e.Message);
    }

    /// <summary>One message through an in-memory bus with the pipeline's retry: how often the handler ran, and whether the message faulted.</summary>
    private static async Task<(int Attempts, bool Faulted)> RunAsync(Func<int, Task> handler, IReadOnlyList<TimeSpan> outageIntervals)
    {
        var attempts = 0;
        var done = new TaskCompletionSource<bool>(TaskCreationOptions.RunContinuationsAsynchronously);
        var bus = Bus.Factory.CreateUsingInMemory(cfg =>
        {
            cfg.ReceiveEndpoint($"work-{Guid.NewGuid():N}", e =>
            {
                e.UsePipelineRetry(Quick);
                var outages = new OutageRetry(outageIntervals);
                e.Handler<Work>(async context =>
                {
                    await outages.RunAsync(context, () => handler(Interlocked.Increment(ref attempts)), "work");
                    done.TrySetResult(false);
                });
            });
            cfg.ReceiveEndpoint($"faults-{Guid.NewGuid():N}", e => e.Handler<Fault<Work>>(_ =>
            {
                done.TrySetResult(true);
                return Task.CompletedTask;
            }));
        });
        await bus.StartAsync(new CancellationTokenSource(TimeSpan.FromSeconds(30)).Token);
        try
        {
            await bus.Publish(new Work("w1"));
            var faulted = await done.Task.WaitAsync(TimeSpan.FromSeconds(30));
            await Task.Delay(1000);
            return (Volatile.Read(ref attempts), faulted);
        }
        finally
        {
            await bus.StopAsync();
        }
    }
}
