using Pipeline.Notify.Storage;
using Pipeline.Testing;
using StackExchange.Redis;

namespace Pipeline.Notify.Tests.Storage;

/// <summary>
/// <see cref="DeliveryLedger"/>'s takeover of a dead instance's claim, against a real
/// redis-server. A heartbeat also lapses for an instance that is alive, in the SMTP transaction it
/// began, while Redis is out of its reach for longer than the heartbeat's TTL (an outage of Redis
/// for everyone, or for that instance alone while another reaches Redis first): nobody may take its
/// claim over, and send the email a second time, before it could beat again. A lapse is made here
/// as Redis makes it, by the heartbeat key going away.
/// </summary>
public sealed class When_a_claims_owner_misses_its_heartbeat : IAsyncLifetime
{
    private const string Key = "alert:s1:2611.00002";
    private static readonly TimeSpan Grace = TimeSpan.FromMilliseconds(600);
    private static readonly TimeSpan PastGrace = Grace + TimeSpan.FromMilliseconds(200);
    private static readonly TimeSpan Lease = TimeSpan.FromMinutes(2);
    private RedisServer _server = null!;
    private ConnectionMultiplexer _connection = null!;
    private IDatabase _redis = null!;
    private readonly NotifyInstance _sender = new() { TakeoverGrace = Grace };
    private readonly NotifyInstance _other = new() { TakeoverGrace = Grace };
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

    private Task LapseAsync(NotifyInstance instance) => _redis.KeyDeleteAsync(instance.HeartbeatKey);

    [Fact]
    public async Task A_crashed_instances_claim_is_taken_over_once_its_heartbeat_has_been_missing_for_the_grace()
    {
        Assert.Equal(DeliveryClaim.Claimed, (await _senders.BeginAsync(Key, Lease)).Claim);
        await LapseAsync(_sender);

        Assert.Equal(DeliveryClaim.InProgress, (await _others.BeginAsync(Key, Lease)).Claim);
        await Task.Delay(PastGrace);

        Assert.Equal(DeliveryClaim.Claimed, (await _others.BeginAsync(Key, Lease)).Claim);
    }

    [Fact]
    public async Task A_sender_whose_heartbeat_lapsed_while_another_instance_kept_beating_keeps_its_claim_when_it_beats_again()
    {
        // The other instance reached Redis all along (or first, after an outage): the sender's
        // heartbeat alone is gone, while it is still in its SMTP transaction.
        var sending = await _senders.BeginAsync(Key, Lease);
        await _other.BeatAsync(_redis);
        await LapseAsync(_sender);

        Assert.Equal(DeliveryClaim.InProgress, (await _others.BeginAsync(Key, Lease)).Claim);
        await _sender.BeatAsync(_redis);
        await Task.Delay(PastGrace);

        Assert.Equal(DeliveryClaim.InProgress, (await _others.BeginAsync(Key, Lease)).Claim);
        Assert.True(await _senders.RenewAsync(sending, Lease));
    }

    [Fact]
    public async Task A_sender_that_came_back_is_not_judged_by_its_earlier_absence()
    {
        await _senders.BeginAsync(Key, Lease);
        await LapseAsync(_sender);
        Assert.Equal(DeliveryClaim.InProgress, (await _others.BeginAsync(Key, Lease)).Claim);
        await _sender.BeatAsync(_redis);
        await Task.Delay(PastGrace);

        // A second lapse, long after the first was noticed: the grace starts again.
        await LapseAsync(_sender);

        Assert.Equal(DeliveryClaim.InProgress, (await _others.BeginAsync(Key, Lease)).Claim);
    }

    [Fact]
    public async Task A_sender_that_renews_its_claim_after_its_connection_came_back_is_alive_before_its_next_beat()
    {
        var sending = await _senders.BeginAsync(Key, Lease);
        await LapseAsync(_sender);
        Assert.Equal(DeliveryClaim.InProgress, (await _others.BeginAsync(Key, Lease)).Claim);
        await Task.Delay(Grace / 2);

        // Right before its SMTP transaction; no beat of its own comes before the grace ends.
        Assert.True(await _senders.RenewAsync(sending, Lease));
        await Task.Delay(Grace);

        Assert.Equal(DeliveryClaim.InProgress, (await _others.BeginAsync(Key, Lease)).Claim);
    }

    [Fact]
    public async Task A_mark_left_from_an_earlier_lapse_is_cleared_when_a_claim_finds_the_owner_alive()
    {
        await _senders.BeginAsync(Key, Lease);
        await LapseAsync(_sender);
        Assert.Equal(DeliveryClaim.InProgress, (await _others.BeginAsync(Key, Lease)).Claim);
        // The heartbeat comes back without clearing the mark (as an instance of an older version beats).
        await _redis.StringSetAsync(_sender.HeartbeatKey, "1", NotifyInstance.HeartbeatTtl);
        Assert.Equal(DeliveryClaim.InProgress, (await _others.BeginAsync(Key, Lease)).Claim);
        await Task.Delay(PastGrace);

        await LapseAsync(_sender);

        Assert.Equal(DeliveryClaim.InProgress, (await _others.BeginAsync(Key, Lease)).Claim);
    }

    [Fact]
    public async Task Looking_again_and_again_does_not_restart_the_grace()
    {
        await _senders.BeginAsync(Key, Lease);
        await LapseAsync(_sender);

        // Timed from this side of each call, so a slow machine cannot make a look land past the
        // grace and still be asserted as within it.
        var beforeFirstLook = DateTime.UtcNow;
        Assert.Equal(DeliveryClaim.InProgress, (await _others.BeginAsync(Key, Lease)).Claim);
        var afterFirstLook = DateTime.UtcNow;
        while (DateTime.UtcNow - afterFirstLook < Grace / 2)
        {
            var answer = (await _others.BeginAsync(Key, Lease)).Claim;
            if (DateTime.UtcNow - beforeFirstLook < Grace)
            {
                Assert.Equal(DeliveryClaim.InProgress, answer);
            }

            await Task.Delay(50);
        }

        // Past the grace counted from the first look, not from the last (that was under half a
        // grace ago: a look that restarted it would still be refused).
        var wait = afterFirstLook + PastGrace - DateTime.UtcNow;
        await Task.Delay(wait > TimeSpan.Zero ? wait : TimeSpan.Zero);
        Assert.Equal(DeliveryClaim.Claimed, (await _others.BeginAsync(Key, Lease)).Claim);
    }
}
