using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging.Abstractions;
using Pipeline.Notify.Storage;

namespace Pipeline.Notify.Tests.Delivery;

/// <summary>
/// The heartbeat is what keeps this instance's delivery claims its own: while it beats, no other
/// instance takes them over and sends their emails again. It must outlive a Redis outage and a
/// clean stop of the host's other services.
/// </summary>
public sealed class When_the_instance_heartbeat_meets_a_redis_outage : IAsyncLifetime
{
    private NotifyRig _rig = null!;
    private readonly Lifetime _lifetime = new();

    public async Task InitializeAsync() => _rig = await NotifyRig.StartAsync();

    public async Task DisposeAsync() => await _rig.DisposeAsync();

    [Fact]
    public async Task Timeouts_do_not_end_the_beat_and_it_is_written_again_once_redis_answers()
    {
        var instance = new NotifyInstance();
        var key = NotifyInstance.HeartbeatKeyPrefix + instance.Id;
        // Redis frozen: every beat times out (RedisTimeoutException, which is not a RedisException).
        _rig.Redis.Fail(c => c.Touches(key), times: 3);
        using var heartbeat = new NotifyInstanceHeartbeat(instance, _rig.Redis.Database, _lifetime, NullLogger<NotifyInstanceHeartbeat>.Instance)
        {
            Interval = TimeSpan.FromMilliseconds(100),
        };

        await heartbeat.StartAsync(CancellationToken.None);
        await WaitUntilAsync(async () => await _rig.Redis.Real.KeyExistsAsync(key));

        Assert.Equal(3, _rig.Redis.Failed);
        Assert.False(heartbeat.Beating!.IsCompleted);
        Assert.InRange((await _rig.Redis.Real.KeyTimeToLiveAsync(key))!.Value, TimeSpan.FromSeconds(10), NotifyInstance.HeartbeatTtl);
        _lifetime.Stop();
        await heartbeat.Beating.WaitAsync(TimeSpan.FromSeconds(5));
    }

    [Fact]
    public async Task It_beats_on_after_its_own_stop_until_the_host_has_stopped()
    {
        var instance = new NotifyInstance();
        var key = NotifyInstance.HeartbeatKeyPrefix + instance.Id;
        using var heartbeat = new NotifyInstanceHeartbeat(instance, _rig.Redis.Database, _lifetime, NullLogger<NotifyInstanceHeartbeat>.Instance)
        {
            Interval = TimeSpan.FromMilliseconds(100),
        };
        await heartbeat.StartAsync(CancellationToken.None);

        // Hosted services stop in reverse order, this one before the bus, which may still be sending.
        await heartbeat.StopAsync(CancellationToken.None);
        await _rig.Redis.Real.KeyDeleteAsync(key);
        await WaitUntilAsync(async () => await _rig.Redis.Real.KeyExistsAsync(key));
        Assert.False(heartbeat.Beating!.IsCompleted);

        _lifetime.Stop();
        await heartbeat.Beating.WaitAsync(TimeSpan.FromSeconds(5));
        await _rig.Redis.Real.KeyDeleteAsync(key);
        await Task.Delay(400);
        Assert.False(await _rig.Redis.Real.KeyExistsAsync(key));
    }

    private static async Task WaitUntilAsync(Func<Task<bool>> condition)
    {
        var until = DateTime.UtcNow + TimeSpan.FromSeconds(10);
        while (!await condition())
        {
            Assert.True(DateTime.UtcNow < until, "the heartbeat was not written");
            await Task.Delay(50);
        }
    }

    private sealed class Lifetime : IHostApplicationLifetime
    {
        private readonly CancellationTokenSource _started = new(), _stopping = new(), _stopped = new();

        public CancellationToken ApplicationStarted => _started.Token;

        public CancellationToken ApplicationStopping => _stopping.Token;

        public CancellationToken ApplicationStopped => _stopped.Token;

        public void StopApplication() => _stopping.Cancel();

        public void Stop() => _stopped.Cancel();
    }
}
