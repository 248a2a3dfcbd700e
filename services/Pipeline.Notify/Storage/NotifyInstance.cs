using StackExchange.Redis;

namespace Pipeline.Notify.Storage;

/// <summary>
/// This notify process, as the owner of the delivery claims it makes: a random id and a heartbeat
/// key in notify's Redis (<c>notify:instance:{id}</c>) that lives while the process does. When the
/// process dies, the key lapses within <see cref="HeartbeatTtl"/> and its claims may be taken over
/// (<see cref="DeliveryLedger.BeginAsync"/>).
/// </summary>
public sealed class NotifyInstance
{
    public const string HeartbeatKeyPrefix = "notify:instance:";

    /// <summary>How long a silent instance counts as alive: three missed beats.</summary>
    public static readonly TimeSpan HeartbeatTtl = TimeSpan.FromSeconds(15);

    public static readonly TimeSpan HeartbeatInterval = TimeSpan.FromSeconds(5);

    /// <summary>
    /// Written with every heartbeat, with the same TTL: it lapses only when every instance's
    /// heartbeat has lapsed, which is what a Redis outage longer than <see cref="HeartbeatTtl"/>
    /// (or every instance down at once) looks like from Redis.
    /// </summary>
    public const string AnyAliveKey = "notify:instances:any-alive";

    /// <summary>
    /// Set for <see cref="TakeoverHold"/> by the first beat that finds <see cref="AnyAliveKey"/>
    /// gone: while it stands, no claim is taken over for a lapsed heartbeat. After an outage every
    /// instance's heartbeat has lapsed, including those still in an SMTP transaction they began
    /// before it; the hold gives them time to reach Redis and beat again before anyone judges them
    /// dead.
    /// </summary>
    public const string TakeoverHoldKey = "notify:instances:takeover-hold";

    public string Id { get; } = Guid.NewGuid().ToString("N");

    /// <summary>
    /// How long takeovers wait once Redis is heard again after every heartbeat lapsed: two TTLs,
    /// room for a live instance's client to reconnect (its retries back off up to 10 s) and beat
    /// (every 5 s). Shorter only in tests.
    /// </summary>
    public TimeSpan TakeoverHold { get; init; } = 2 * HeartbeatTtl;

    /// <summary>This instance's heartbeat key.</summary>
    public string HeartbeatKey => HeartbeatKeyPrefix + Id;

    /// <summary>
    /// One beat: KEYS[1] the instance's heartbeat, KEYS[2] <see cref="AnyAliveKey"/>, KEYS[3]
    /// <see cref="TakeoverHoldKey"/>; ARGV[1] the heartbeat TTL (ms), ARGV[2] the hold (ms).
    /// <see cref="DeliveryLedger"/>'s claim script beats the same way.
    /// </summary>
    internal const string BeatScript = """
        redis.call('SET', KEYS[1], '1', 'PX', ARGV[1])
        if redis.call('EXISTS', KEYS[2]) == 0 then
          redis.call('SET', KEYS[3], '1', 'PX', ARGV[2])
        end
        redis.call('SET', KEYS[2], '1', 'PX', ARGV[1])
        """;

    /// <summary>Writes one heartbeat (<see cref="BeatScript"/>).</summary>
    public Task BeatAsync(IDatabase redis) =>
        redis.ScriptEvaluateAsync(BeatScript, [HeartbeatKey, AnyAliveKey, TakeoverHoldKey],
            [(long)HeartbeatTtl.TotalMilliseconds, (long)TakeoverHold.TotalMilliseconds]);
}

/// <summary>
/// Keeps this instance's heartbeat alive (a beat every 5 s) for as long as the process runs: through
/// a Redis outage (a beat that fails or times out is logged and the next one tries again: the loop
/// never ends the process) and through a clean stop until the host has stopped, since the bus,
/// stopped after this service, may still be finishing sends then, and a heartbeat that lapsed
/// first would let another instance take over their claims and send them again. It is not removed
/// at the end; it lapses <see cref="NotifyInstance.HeartbeatTtl"/> later.
/// </summary>
public sealed class NotifyInstanceHeartbeat(NotifyInstance instance, IDatabase redis, IHostApplicationLifetime lifetime, ILogger<NotifyInstanceHeartbeat> logger)
    : IHostedService, IDisposable
{
    private readonly CancellationTokenSource _stopped = new();
    private CancellationTokenRegistration _onStopped;
    private Task? _beating;

    /// <summary>Between beats; shorter only in tests.</summary>
    public TimeSpan Interval { get; init; } = NotifyInstance.HeartbeatInterval;

    /// <summary>The beating loop (for tests: it ends only when the host has stopped).</summary>
    public Task? Beating => _beating;

    public Task StartAsync(CancellationToken cancellationToken)
    {
        _onStopped = lifetime.ApplicationStopped.Register(() => _stopped.Cancel());
        _beating = Task.Run(BeatAsync, CancellationToken.None);
        return Task.CompletedTask;
    }

    /// <summary>Does not stop the beat: that waits for <see cref="IHostApplicationLifetime.ApplicationStopped"/>.</summary>
    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    private async Task BeatAsync()
    {
        // Read once: Dispose may dispose the source while the last wait ends.
        var stopped = _stopped.Token;
        using var timer = new PeriodicTimer(Interval);
        do
        {
            try
            {
                await instance.BeatAsync(redis);
            }
            catch (Exception e)
            {
                // Redis is down or frozen (RedisTimeoutException is a TimeoutException, not a
                // RedisException), or anything else: no claim can be made either, and the next beat
                // tries again. Nothing ends the loop but the host's stop.
                logger.LogWarning("Heartbeat of notify instance {Instance} not written: {Error}", instance.Id, e.Message);
            }
        }
        while (await WaitAsync(timer, stopped));
    }

    private static async Task<bool> WaitAsync(PeriodicTimer timer, CancellationToken stoppingToken)
    {
        try
        {
            return await timer.WaitForNextTickAsync(stoppingToken);
        }
        catch (OperationCanceledException)
        {
            return false;
        }
    }

    public void Dispose()
    {
        _onStopped.Dispose();
        _stopped.Cancel();
        _stopped.Dispose();
    }
}
