using System.Text.Json;
using StackExchange.Redis;

namespace Pipeline.Notify.Storage;

/// <summary>What <see cref="DeliveryLedger.BeginAsync"/> found.</summary>
public enum DeliveryClaim
{
    /// <summary>This consumer holds the claim and must send, then call CompleteAsync.</summary>
    Claimed,

    /// <summary>The email went out before: do nothing.</summary>
    AlreadySent,

    /// <summary>Another consumer is sending it right now: try again later.</summary>
    InProgress,
}

/// <summary>
/// The idempotency record of every email: <c>notify:delivery:{key}</c> is written as
/// "sending:{instance}" (with a lease) before the SMTP transaction and as "sent" after the server's
/// 250 reply. A redelivered message finds "sent" and sends nothing. A claim whose notify instance
/// has died (its <see cref="NotifyInstance"/> heartbeat has lapsed, within
/// <see cref="NotifyInstance.HeartbeatTtl"/>) is taken over at once, so the redelivery of a crashed
/// consumer's message sends the email instead of waiting out the lease; a claim without a live
/// owner otherwise expires with its lease. If the SMTP server had accepted the email just before
/// the crash, it goes out twice: the one window SMTP leaves open.
/// The delivery log <c>notify:deliveries:{subscriber}</c> keeps the newest deliveries.
/// </summary>
public sealed class DeliveryLedger(IDatabase redis, NotifyInstance? instance = null)
{
    private const int LogLength = 500;

    /// <summary>
    /// KEYS[1] the delivery, KEYS[2] this instance's heartbeat; ARGV[1] this claim ("sending:{me}"),
    /// ARGV[2] the lease (ms), ARGV[3] the heartbeat key prefix, ARGV[4] the heartbeat TTL (ms).
    /// Claims a free delivery, or takes over one whose owner's heartbeat is gone; answers the value
    /// it found otherwise. The heartbeat is written with the claim, so a claim never has an owner
    /// that looks dead.
    /// </summary>
    private const string ClaimScript = """
        redis.call('SET', KEYS[2], '1', 'PX', ARGV[4])
        local current = redis.call('GET', KEYS[1])
        if not current then
          redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
          return 'claimed'
        end
        local owner = string.match(current, '^sending:(.+)$')
        if owner and redis.call('EXISTS', ARGV[3] .. owner) == 0 then
          redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
          return 'claimed'
        end
        return current
        """;

    public async Task<DeliveryClaim> BeginAsync(string deliveryKey, TimeSpan lease)
    {
        var key = $"notify:delivery:{deliveryKey}";
        if (instance is null)
        {
            if (await redis.StringSetAsync(key, "sending", lease, When.NotExists))
            {
                return DeliveryClaim.Claimed;
            }

            return await redis.StringGetAsync(key) == "sent" ? DeliveryClaim.AlreadySent : DeliveryClaim.InProgress;
        }

        var found = (string?)await redis.ScriptEvaluateAsync(ClaimScript,
            [key, NotifyInstance.HeartbeatKeyPrefix + instance.Id],
            ["sending:" + instance.Id, (long)lease.TotalMilliseconds, NotifyInstance.HeartbeatKeyPrefix, (long)NotifyInstance.HeartbeatTtl.TotalMilliseconds]);
        return found switch
        {
            "claimed" => DeliveryClaim.Claimed,
            "sent" => DeliveryClaim.AlreadySent,
            _ => DeliveryClaim.InProgress,
        };
    }

    public async Task CompleteAsync(string deliveryKey, DeliveryRecord record)
    {
        var json = JsonSerializer.Serialize(record, SubscriberStore.Json);
        var tx = redis.CreateTransaction();
        _ = tx.StringSetAsync($"notify:delivery:{deliveryKey}", "sent");
        // The record beside the marker, so a repeated SendDigestNow can answer with what went out.
        _ = tx.StringSetAsync($"notify:delivery-record:{deliveryKey}", json);
        _ = tx.ListLeftPushAsync($"notify:deliveries:{record.SubscriberId}", json);
        _ = tx.ListTrimAsync($"notify:deliveries:{record.SubscriberId}", 0, LogLength - 1);
        await tx.ExecuteAsync();
    }

    /// <summary>The record of a completed delivery, if there is one.</summary>
    public async Task<DeliveryRecord?> GetAsync(string deliveryKey)
    {
        var json = await redis.StringGetAsync($"notify:delivery-record:{deliveryKey}");
        return json.IsNullOrEmpty ? null : JsonSerializer.Deserialize<DeliveryRecord>(json.ToString(), SubscriberStore.Json);
    }

    /// <summary>
    /// Logs a send that the SMTP server refused for good, and releases the claim: nothing went out,
    /// and the subscriber is bouncing, so nothing will try again.
    /// </summary>
    public async Task RecordBounceAsync(string deliveryKey, DeliveryRecord record)
    {
        var tx = redis.CreateTransaction();
        _ = tx.KeyDeleteAsync($"notify:delivery:{deliveryKey}");
        _ = tx.ListLeftPushAsync($"notify:deliveries:{record.SubscriberId}", JsonSerializer.Serialize(record, SubscriberStore.Json));
        _ = tx.ListTrimAsync($"notify:deliveries:{record.SubscriberId}", 0, LogLength - 1);
        await tx.ExecuteAsync();
    }

    /// <summary>Lets a failed send be tried again at once instead of after the lease.</summary>
    public Task AbandonAsync(string deliveryKey) =>
        redis.KeyDeleteAsync($"notify:delivery:{deliveryKey}");

    public async Task<IReadOnlyList<DeliveryRecord>> ListAsync(string subscriberId, int limit)
    {
        var items = await redis.ListRangeAsync($"notify:deliveries:{subscriberId}", 0, limit - 1);
        return items.Select(i => JsonSerializer.Deserialize<DeliveryRecord>(i.ToString(), SubscriberStore.Json)!).ToArray();
    }
}
