using StackExchange.Redis;

namespace Pipeline.Notify.Storage;

/// <summary>
/// This notify process, as the owner of the delivery claims it makes: a random id and a heartbeat
/// key in notify's Redis (<c>notify:instance:{id}</c>) that lives while the process does. When the
/// process dies, the key lapses within <see cref="HeartbeatTtl"/>, and once it has been seen missing
/// for <see cref="TakeoverGrace"/> its claims may be taken over (<see cref="DeliveryLedger.BeginAsync"/>).
/// </summary>
public sealed class NotifyInstance
{
    public const string HeartbeatKeyPrefix = "notify:instance:";

    /// <summary>How long a silent instance counts as alive: three missed beats.</summary>
    public static readonly TimeSpan HeartbeatTtl = TimeSpan.FromSeconds(15);

    public static readonly TimeSpan HeartbeatInterval = TimeSpan.FromSeconds(5);

    /// <summary>
    /// <c>notify:instance-missed:{id}</c>: set by the first claim that finds instance {id}'s
    /// heartbeat gone, and deleted by that instance's next beat, claim or renewal, or by a claim
    /// that finds its heartbeat back. Its age is how long the heartbeat has been seen missing; a
    /// claim is taken over only once that is <see cref="TakeoverGrace"/>.
    /// </summary>
    public const string MissedKeyPrefix = "notify:instance-missed:";

    /// <summary>How long a missed-heartbeat mark lives (its age is read from its remaining TTL).</summary>
    public static readonly TimeSpan MissedMarkLifetime = TimeSpan.FromMinutes(10);

    public string Id { get; } = Guid.NewGuid().ToString("N");

    /// <summary>
    /// How long an owner's heartbeat must have been seen missing before its claims are taken over:
    /// a heartbeat also lapses for an instance alive and in an SMTP transaction when Redis was out
    /// of its reach for more than <see cref="HeartbeatTtl"/> (whether or not others' lapsed too),
    /// and it beats again within its client's reconnection (retries back off up to 10 s) and one
    /// beat (5 s) of Redis answering. Shorter only in tests.
    /// </summary>
    public TimeSpan TakeoverGrace { get; init; } = TimeSpan.FromSeconds(20);

    /// <summary>This instance's heartbeat key.</summary>
    public string HeartbeatKey => HeartbeatKeyPrefix + Id;

    /// <summary>This instance's missed-heartbeat mark (<see cref="MissedKeyPrefix"/>).</summary>
    public string MissedKey => MissedKeyPrefix + Id;

    /// <summary>
    /// One beat: KEYS[1] the instance's heartbeat, KEYS[2] its missed-heartbeat mark; ARGV[1] the
    /// heartbeat TTL (ms). A beat clears the mark, so an instance that came back is not judged by
    /// an old absence. <see cref="DeliveryLedger"/>'s claim script beats the same way.
    /// </summary>
    internal const string BeatScript = """
        redis.call('SET', KEYS[1], '1', 'PX', ARGV[1])
        redis.call('DEL', KEYS[2])
        """;

    /// <summary>Writes one heartbeat (<see cref="BeatScript"/>).</summary>
    public Task BeatAsync(IDatabase redis) =>
        redis.ScriptEvaluateAsync(BeatScript, [HeartbeatKey, MissedKey], [(long)HeartbeatTtl.TotalMilliseconds]);
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
