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
/// The idempotency record of every email: <c>notify:delivery:{key}</c> is written as "sending"
/// (with a lease) before the SMTP transaction and as "sent" after the server's 250 reply. A
/// redelivered message finds "sent" and sends nothing; a consumer that died mid-send leaves a lease
/// that expires, after which the email is sent again (the one window SMTP leaves open).
/// The delivery log <c>notify:deliveries:{subscriber}</c> keeps the newest deliveries.
/// </summary>
public sealed class DeliveryLedger(IDatabase redis)
{
    private const int LogLength = 500;

    public async Task<DeliveryClaim> BeginAsync(string deliveryKey, TimeSpan lease)
    {
        var key = $"notify:delivery:{deliveryKey}";
        if (await redis.StringSetAsync(key, "sending", lease, When.NotExists))
        {
            return DeliveryClaim.Claimed;
        }

        return await redis.StringGetAsync(key) == "sent" ? DeliveryClaim.AlreadySent : DeliveryClaim.InProgress;
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
