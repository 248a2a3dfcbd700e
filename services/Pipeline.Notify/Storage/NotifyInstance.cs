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

    public string Id { get; } = Guid.NewGuid().ToString("N");
}

/// <summary>
/// Keeps this instance's heartbeat alive (a beat every 5 s). It is not removed on a clean stop (the
/// bus may still be finishing sends then); it lapses <see cref="NotifyInstance.HeartbeatTtl"/> later.
/// </summary>
public sealed class NotifyInstanceHeartbeat(NotifyInstance instance, IDatabase redis, ILogger<NotifyInstanceHeartbeat> logger) : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var key = NotifyInstance.HeartbeatKeyPrefix + instance.Id;
        using var timer = new PeriodicTimer(NotifyInstance.HeartbeatInterval);
        do
        {
            try
            {
                await redis.StringSetAsync(key, "1", NotifyInstance.HeartbeatTtl);
            }
            catch (RedisException e)
            {
                // Redis is down: no claim can be made either; the next beat tries again.
                logger.LogWarning("Heartbeat of notify instance {Instance} not written: {Error}", instance.Id, e.Message);
            }
        }
        while (await WaitAsync(timer, stoppingToken));
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
}
