using Pipeline.Notify.Storage;
using Pipeline.Testing;
using StackExchange.Redis;

namespace Pipeline.Notify.Tests.Storage;

/// <summary>
/// <see cref="DeliveryLedger"/>'s takeover of a dead instance's claim, against a real
/// redis-server. A Redis outage longer than the heartbeat's TTL lets every heartbeat lapse, also
/// that of an instance still in the SMTP transaction it began before the outage: whoever reaches
/// Redis first afterwards must not take that claim over and send the email a second time. A
/// lapse is made here as Redis makes it, by the keys going away.
/// </summary>
public sealed class When_every_heartbeat_lapses_at_once : IAsyncLifetime
{
    private const string Key = "alert:s1:2611.00002";
    private static readonly TimeSpan Hold = TimeSpan.FromMilliseconds(600);
    private static readonly TimeSpan Lease = TimeSpan.FromMinutes(2);
    private RedisServer _server = null!;
    private ConnectionMultiplexer _connection = null!;
    private IDatabase _redis = null!;
    private readonly NotifyInstance _sender = new() { TakeoverHold = Hold };
    private readonly NotifyInstance _other = new() { TakeoverHold = Hold };
    private DeliveryLedger _senders = null!;
    private DeliveryLedger _others = null!;

    public async Task InitializeAsync()
    {
        _server = await RedisServer.StartNewAsync();
        _connection = await ConnectionMultiplexer.ConnectAsync(_server.ConnectionString);
        _redis = _connection.GetDatabase();
        _senders = new DeliveryLedger(_redis, _sender);
        _others = new DeliveryLedger(_redis, _other);
    }

    public async Task DisposeAsync()
    {
        await _connection.DisposeAsync();
        await _server.DisposeAsync();
    }

    /// <summary>What the end of a long outage leaves: no heartbeat, no sign of any, and no hold yet.</summary>
    private Task LapseEveryHeartbeatAsync() =>
        _redis.KeyDeleteAsync([_sender.HeartbeatKey, _other.HeartbeatKey, NotifyInstance.AnyAliveKey, NotifyInstance.TakeoverHoldKey]);

    [Fact]
    public async Task A_crashed_instances_claim_is_taken_over_at_once_while_another_instance_beats()
    {
        Assert.Equal(DeliveryClaim.Claimed, (await _senders.BeginAsync(Key, Lease)).Claim);
        // Past the hold of the system's first beat: only a real crash is left to judge.
        await Task.Delay(Hold + TimeSpan.FromMilliseconds(200));
        await _other.BeatAsync(_redis);
        await _redis.KeyDeleteAsync(_sender.HeartbeatKey);

        Assert.Equal(DeliveryClaim.Claimed, (await _others.BeginAsync(Key, Lease)).Claim);
    }

    [Fact]
    public async Task A_claim_is_not_taken_over_when_the_first_call_after_the_outage_is_a_claim_and_its_owner_beats_again()
    {
        var sending = await _senders.BeginAsync(Key, Lease);
        await LapseEveryHeartbeatAsync();

        Assert.Equal(DeliveryClaim.InProgress, (await _others.BeginAsync(Key, Lease)).Claim);
        await _sender.BeatAsync(_redis);
        await Task.Delay(Hold + TimeSpan.FromMilliseconds(200));

        Assert.Equal(DeliveryClaim.InProgress, (await _others.BeginAsync(Key, Lease)).Claim);
        Assert.True(await _senders.RenewAsync(sending, Lease));
    }

    [Fact]
    public async Task A_claim_is_not_taken_over_when_the_first_call_after_the_outage_is_another_instances_heartbeat()
    {
        await _senders.BeginAsync(Key, Lease);
        await LapseEveryHeartbeatAsync();

        await _other.BeatAsync(_redis);

        Assert.Equal(DeliveryClaim.InProgress, (await _others.BeginAsync(Key, Lease)).Claim);
        var hold = await _redis.KeyTimeToLiveAsync(NotifyInstance.TakeoverHoldKey);
        Assert.NotNull(hold);
        Assert.InRange(hold.Value, TimeSpan.Zero, Hold);
    }

    [Fact]
    public async Task A_claim_whose_owner_never_beats_again_is_taken_over_once_the_hold_has_passed()
    {
        await _senders.BeginAsync(Key, Lease);
        await LapseEveryHeartbeatAsync();
        Assert.Equal(DeliveryClaim.InProgress, (await _others.BeginAsync(Key, Lease)).Claim);

        await Task.Delay(Hold + TimeSpan.FromMilliseconds(200));

        Assert.Equal(DeliveryClaim.Claimed, (await _others.BeginAsync(Key, Lease)).Claim);
    }
}
