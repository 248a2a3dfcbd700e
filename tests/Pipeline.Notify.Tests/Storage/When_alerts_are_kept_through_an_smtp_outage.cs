using Pipeline.Contracts.Messages;
using Pipeline.Notify.Storage;
using Pipeline.Testing;
using StackExchange.Redis;

namespace Pipeline.Notify.Tests.Storage;

/// <summary>
/// <see cref="DeferredAlerts"/> against a real redis-server: what two notify instances taking kept
/// alerts at once, and one dying while it sends, see.
/// </summary>
public sealed class When_alerts_are_kept_through_an_smtp_outage : IAsyncLifetime
{
    private static readonly DateTimeOffset Now = new(2026, 11, 27, 7, 0, 0, TimeSpan.Zero);
    private static readonly TimeSpan Lease = TimeSpan.FromMinutes(2);
    private RedisServer _server = null!;
    private ConnectionMultiplexer _connection = null!;
    private DeferredAlerts _alerts = null!;

    public async Task InitializeAsync()
    {
        _server = await RedisServer.StartNewAsync();
        _connection = await ConnectionMultiplexer.ConnectAsync(_server.ConnectionString);
        _alerts = new DeferredAlerts(_connection.GetDatabase());
    }

    public async Task DisposeAsync()
    {
        await _connection.DisposeAsync();
        await _server.DisposeAsync();
    }

    private static DeferredAlert Alert(string subscriber, string paper, int attempts = 1, string error = "The SMTP server is unreachable: Connection refused") =>
        new(new PaperMatched(subscriber, new PaperSummary(paper, 2, "Coral bleaching", "Reefs bleach in heatwaves.", ["Ada Lovelace"], ["q-bio.PE"],
                Now.AddDays(-1), $"https://arxiv.org/abs/{paper}", "arxiv-api", 3), 0.71, "coral reefs", "matches your interest 'coral reefs'", Now.AddSeconds(-3)),
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", Now, attempts, error);

    [Fact]
    public async Task A_kept_alert_comes_back_whole_and_is_taken_by_one_instance_until_its_lease_ends()
    {
        var kept = Alert("s1", "2611.00001");
        await _alerts.DeferAsync("alert:s1:2611.00001", kept, Now);

        var taken = await _alerts.TakeDueAsync(Now, Lease);
        Assert.NotNull(taken);
        Assert.Equal("alert:s1:2611.00001", taken.DeliveryKey);
        Assert.Equal(kept.Match.Paper.Authors, taken.Alert.Match.Paper.Authors);
        Assert.Equal(kept with { Match = taken.Alert.Match }, taken.Alert);
        Assert.Equal((kept.Match.SubscriberId, kept.Match.Paper.Id, kept.Match.Reason), (taken.Alert.Match.SubscriberId, taken.Alert.Match.Paper.Id, taken.Alert.Match.Reason));

        // Another instance, while the first one sends: nothing to take.
        Assert.Null(await _alerts.TakeDueAsync(Now.AddSeconds(30), Lease));
        // The first one died without a word: after the lease the alert is due again.
        Assert.Equal("alert:s1:2611.00001", (await _alerts.TakeDueAsync(Now + Lease, Lease))?.DeliveryKey);
    }

    [Fact]
    public async Task An_alert_is_due_from_its_time_on_and_the_earliest_is_taken_first()
    {
        await _alerts.DeferAsync("alert:s1:late", Alert("s1", "late"), Now.AddSeconds(10));
        await _alerts.DeferAsync("alert:s2:early", Alert("s2", "early"), Now.AddSeconds(5));

        Assert.Null(await _alerts.TakeDueAsync(Now.AddSeconds(4), Lease));
        Assert.Equal("alert:s2:early", (await _alerts.TakeDueAsync(Now.AddSeconds(20), Lease))?.DeliveryKey);
        Assert.Equal("alert:s1:late", (await _alerts.TakeDueAsync(Now.AddSeconds(20), Lease))?.DeliveryKey);
        Assert.Null(await _alerts.TakeDueAsync(Now.AddSeconds(20), Lease));
    }

    [Fact]
    public async Task Keeping_the_same_alert_again_replaces_it_and_a_sent_one_is_forgotten()
    {
        await _alerts.DeferAsync("alert:s1:2611.00002", Alert("s1", "2611.00002"), Now);
        await _alerts.DeferAsync("alert:s1:2611.00002", Alert("s1", "2611.00002", attempts: 4, error: "The SMTP server answered 421: try later"), Now.AddSeconds(8));

        Assert.Equal(1, await _alerts.CountAsync());
        Assert.Null(await _alerts.TakeDueAsync(Now.AddSeconds(7), Lease));
        var latest = await _alerts.GetAsync("alert:s1:2611.00002");
        Assert.Equal((4, "The SMTP server answered 421: try later"), (latest?.Attempts, latest?.LastError));

        await _alerts.RemoveAsync("alert:s1:2611.00002");
        Assert.Equal(0, await _alerts.CountAsync());
        Assert.Null(await _alerts.GetAsync("alert:s1:2611.00002"));
        Assert.Null(await _alerts.TakeDueAsync(Now.AddHours(1), Lease));
    }
}
