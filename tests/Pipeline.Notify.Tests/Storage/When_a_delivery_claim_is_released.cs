using Pipeline.Notify.Storage;
using Pipeline.Testing;
using StackExchange.Redis;

namespace Pipeline.Notify.Tests.Storage;

/// <summary>
/// <see cref="DeliveryLedger"/> against a real redis-server: a claim is released, renewed or
/// bounced only by the send that holds it. A send that was held up past its lease and then fails
/// must not free the claim another instance took meanwhile, nor erase "sent".
/// </summary>
public sealed class When_a_delivery_claim_is_released : IAsyncLifetime
{
    private const string Key = "alert:s1:2611.00001";
    private RedisServer _server = null!;
    private ConnectionMultiplexer _connection = null!;
    private DeliveryLedger _first = null!;
    private DeliveryLedger _second = null!;

    public async Task InitializeAsync()
    {
        _server = await RedisServer.StartNewAsync();
        _connection = await ConnectionMultiplexer.ConnectAsync(_server.ConnectionString);
        // Two notify instances sharing notify's Redis.
        _first = new DeliveryLedger(_connection.GetDatabase(), new NotifyInstance());
        _second = new DeliveryLedger(_connection.GetDatabase(), new NotifyInstance());
    }

    public async Task DisposeAsync()
    {
        await _connection.DisposeAsync();
        await _server.DisposeAsync();
    }

    private static DeliveryRecord Record(string status = "sent") =>
        new(Key, "s1", "instant", ["2611.00001"], DateTimeOffset.UtcNow, "alert.s1.2611.00001@pipeline.localhost") { Status = status, Period = "instant" };

    [Fact]
    public async Task A_late_release_leaves_the_claim_another_instance_took_after_the_lease()
    {
        var late = await _first.BeginAsync(Key, TimeSpan.FromMilliseconds(150));
        await Task.Delay(400);
        var taken = await _second.BeginAsync(Key, TimeSpan.FromMinutes(2));
        Assert.Equal((DeliveryClaim.Claimed, DeliveryClaim.Claimed), (late.Claim, taken.Claim));

        await _first.AbandonAsync(late);
        await _first.RecordBounceAsync(late, Record("bounced"));

        // The second instance is still sending: nobody else may start.
        Assert.Equal(DeliveryClaim.InProgress, (await _first.BeginAsync(Key, TimeSpan.FromMinutes(2))).Claim);
        Assert.False(await _first.RenewAsync(late, TimeSpan.FromMinutes(2)));
        Assert.True(await _second.RenewAsync(taken, TimeSpan.FromMinutes(2)));
    }

    [Fact]
    public async Task A_release_after_the_email_is_sent_leaves_it_sent()
    {
        var attempt = await _first.BeginAsync(Key, TimeSpan.FromMinutes(2));
        await _first.CompleteAsync(Key, Record());

        await _first.AbandonAsync(attempt);
        await _first.RecordBounceAsync(attempt, Record("bounced"));

        Assert.Equal(DeliveryClaim.AlreadySent, (await _second.BeginAsync(Key, TimeSpan.FromMinutes(2))).Claim);
        Assert.False(await _first.RenewAsync(attempt, TimeSpan.FromMinutes(2)));
    }

    [Fact]
    public async Task A_completion_repeated_after_a_timeout_logs_the_delivery_once()
    {
        await _first.BeginAsync(Key, TimeSpan.FromMinutes(2));
        await _first.CompleteAsync(Key, Record());
        await _first.CompleteAsync(Key, Record());

        Assert.Single(await _first.ListAsync("s1", 10));
        Assert.Equal("2611.00001", Assert.Single((await _first.GetAsync(Key))!.PaperIds));
    }

    [Fact]
    public async Task The_holder_releases_its_own_claim_for_an_immediate_retry()
    {
        var attempt = await _first.BeginAsync(Key, TimeSpan.FromMinutes(2));
        await _first.AbandonAsync(attempt);

        Assert.Equal(DeliveryClaim.Claimed, (await _second.BeginAsync(Key, TimeSpan.FromMinutes(2))).Claim);
    }
}
