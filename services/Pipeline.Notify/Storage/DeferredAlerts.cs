using System.Text.Json;
using Pipeline.Contracts.Messages;
using StackExchange.Redis;

namespace Pipeline.Notify.Storage;

/// <summary>An instant alert the SMTP server could not take, kept until it can.</summary>
/// <param name="TraceParent">The W3C traceparent of the consume that deferred it: the paper's trace.</param>
/// <param name="Attempts">Sends tried so far, the consumer's included.</param>
public sealed record DeferredAlert(PaperMatched Match, string? TraceParent, DateTimeOffset DeferredAt, int Attempts, string LastError)
{
    /// <summary>Attempts the SMTP server answered with a refusal of this message (5xx to its data); other failures do not count.</summary>
    public int Refusals { get; init; }
}

/// <summary>An alert taken from <see cref="DeferredAlerts"/> for one attempt.</summary>
public sealed record DueAlert(string DeliveryKey, DeferredAlert Alert);

/// <summary>
/// Instant alerts waiting for the SMTP server, in notify's Redis: the sorted set
/// <c>notify:alerts:deferred</c> holds each alert's delivery key scored by the time it may be tried
/// next, and <c>notify:alert-deferred:{key}</c> the alert itself. The broker's message is
/// acknowledged once its alert is here, so an SMTP outage of any length holds no message in a
/// handler and parks none in the error queue. One entry per (subscriber, paper): deferring the same
/// alert again replaces it.
/// </summary>
public sealed class DeferredAlerts(IDatabase redis)
{
    public const string QueueKey = "notify:alerts:deferred";
    public const string AlertKeyPrefix = "notify:alert-deferred:";

    /// <summary>
    /// KEYS[1] the set; ARGV[1] now (ms), ARGV[2] the end of the lease (ms), ARGV[3] the alert key
    /// prefix. Takes the alert due first, if one is due, and moves it to the end of its lease, so
    /// no other notify instance takes it meanwhile; a taker that dies leaves it due again then.
    /// </summary>
    private const string TakeScript = """
        local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, 1)
        if #due == 0 then
          return false
        end
        redis.call('ZADD', KEYS[1], ARGV[2], due[1])
        local alert = redis.call('GET', ARGV[3] .. due[1])
        if not alert then
          alert = ''
        end
        return {due[1], alert}
        """;

    /// <summary>Keeps <paramref name="alert"/> to be tried again from <paramref name="notBefore"/> on.</summary>
    public async Task DeferAsync(string deliveryKey, DeferredAlert alert, DateTimeOffset notBefore)
    {
        var tx = redis.CreateTransaction();
        _ = tx.StringSetAsync(AlertKeyPrefix + deliveryKey, JsonSerializer.Serialize(alert, SubscriberStore.Json));
        _ = tx.SortedSetAddAsync(QueueKey, deliveryKey, notBefore.ToUnixTimeMilliseconds());
        if (!await tx.ExecuteAsync())
        {
            throw new RedisException($"Notify's Redis did not keep the deferred alert {deliveryKey}.");
        }
    }

    /// <summary>The alert due first by <paramref name="now"/>, held for <paramref name="lease"/>; null when none is due.</summary>
    public async Task<DueAlert?> TakeDueAsync(DateTimeOffset now, TimeSpan lease)
    {
        while (true)
        {
            var taken = await redis.ScriptEvaluateAsync(TakeScript, [QueueKey],
                [now.ToUnixTimeMilliseconds(), (now + lease).ToUnixTimeMilliseconds(), AlertKeyPrefix]);
            var parts = taken.IsNull ? null : (RedisResult[]?)taken;
            if (parts is not { Length: 2 })
            {
                return null;
            }

            var key = (string)parts[0]!;
            var json = (string?)parts[1];
            if (!string.IsNullOrEmpty(json))
            {
                return new DueAlert(key, JsonSerializer.Deserialize<DeferredAlert>(json, SubscriberStore.Json)!);
            }

            // A key without its alert (removed between the two writes of another instance): drop it.
            await redis.SortedSetRemoveAsync(QueueKey, key);
        }
    }

    /// <summary>The alert went out, or never will (the subscriber left or bounces): forgotten.</summary>
    public async Task RemoveAsync(string deliveryKey)
    {
        var tx = redis.CreateTransaction();
        _ = tx.SortedSetRemoveAsync(QueueKey, deliveryKey);
        _ = tx.KeyDeleteAsync(AlertKeyPrefix + deliveryKey);
        await tx.ExecuteAsync();
    }

    /// <summary>How many alerts are waiting.</summary>
    public Task<long> CountAsync() => redis.SortedSetLengthAsync(QueueKey);

    /// <summary>The alert kept under <paramref name="deliveryKey"/>, if one is.</summary>
    public async Task<DeferredAlert?> GetAsync(string deliveryKey)
    {
        var json = await redis.StringGetAsync(AlertKeyPrefix + deliveryKey);
        return json.IsNullOrEmpty ? null : JsonSerializer.Deserialize<DeferredAlert>(json.ToString(), SubscriberStore.Json);
    }
}
