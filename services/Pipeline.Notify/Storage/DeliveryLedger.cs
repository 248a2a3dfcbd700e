using System.Collections.Concurrent;
using System.Text.Json;
using StackExchange.Redis;

namespace Pipeline.Notify.Storage;

/// <summary>What <see cref="DeliveryLedger.BeginAsync"/> found.</summary>
public enum DeliveryClaim
{
    /// <summary>This caller holds the claim and must send, then call CompleteAsync.</summary>
    Claimed,

    /// <summary>The email went out before: do nothing.</summary>
    AlreadySent,

    /// <summary>Another consumer is sending it right now: try again later.</summary>
    InProgress,
}

/// <summary>
/// One call of <see cref="DeliveryLedger.BeginAsync"/>: what it found and, when it
/// <see cref="DeliveryClaim.Claimed"/>, the value that marks this claim and no other
/// ("sending:{instance}:{random}"). Releasing, renewing or bouncing a delivery acts only while the
/// key still holds that value.
/// </summary>
public sealed record DeliveryAttempt(DeliveryClaim Claim, string DeliveryKey, string Owner);

/// <summary>
/// The idempotency record of every email: <c>notify:delivery:{key}</c> is written as
/// "sending:{instance}:{random}" (with a lease) before the SMTP transaction and as "sent" after the
/// server's 250 reply. A redelivered message finds "sent" and sends nothing. A claim whose notify
/// instance has died (its <see cref="NotifyInstance"/> heartbeat has lapsed, within
/// <see cref="NotifyInstance.HeartbeatTtl"/>, and been seen missing for
/// <see cref="NotifyInstance.TakeoverGrace"/>) is taken over, so the redelivery of a crashed
/// consumer's message sends the email instead of waiting out the lease; a claim without a live
/// owner otherwise expires with its lease. The grace is for an owner whose heartbeat lapsed only
/// because Redis was out of its reach: it beats again first, and keeps its claim. If the SMTP server had accepted the email just before
/// the crash, it goes out twice: the one window SMTP leaves open.
/// A claim is released or renewed only by its own holder (compare-and-delete, compare-and-expire):
/// a late release never frees another's claim, and nothing but a new claim replaces "sent".
/// The delivery log <c>notify:deliveries:{subscriber}</c> keeps the newest deliveries.
/// </summary>
public sealed class DeliveryLedger(IDatabase redis, NotifyInstance? instance = null, ILogger<DeliveryLedger>? logger = null)
{
    private const int LogLength = 500;

    /// <summary>
    /// Emails this process sent whose "sent" Redis did not take within the caller's patience (it
    /// stayed out of reach), by delivery key: kept here and written in the background until Redis
    /// takes it, and meanwhile answered as sent by <see cref="BeginAsync"/> without asking Redis, so
    /// neither a retry after the claim's lease has ended nor a redelivery sends them again from this
    /// process. Only a restart before Redis is back loses this.
    /// </summary>
    private readonly ConcurrentDictionary<string, DeliveryRecord> _unrecorded = new(StringComparer.Ordinal);

    /// <summary>
    /// Claims of this process whose send failed (nothing went out) and that Redis did not take back
    /// (<see cref="AbandonAsync"/> failed), by delivery key: the next attempt here takes them over
    /// instead of finding its own dead claim "in progress" until its lease ends.
    /// </summary>
    private readonly ConcurrentDictionary<string, string> _unreleased = new(StringComparer.Ordinal);

    /// <summary>How many sent emails wait for Redis to record them (<see cref="CompleteWithinAsync"/>).</summary>
    public int UnrecordedCount => _unrecorded.Count;

    /// <summary>
    /// KEYS[1] the delivery, KEYS[2] this instance's heartbeat, KEYS[3] its missed-heartbeat mark;
    /// ARGV[1] this claim ("sending:{me}:{random}"), ARGV[2] the lease (ms), ARGV[3] the heartbeat
    /// key prefix, ARGV[4] the heartbeat TTL (ms), ARGV[5] a claim of this process that failed and
    /// could not be released (or ''), ARGV[6] the takeover grace (ms), ARGV[7] the missed-mark
    /// prefix, ARGV[8] the mark's lifetime (ms). Beats first, as <see cref="NotifyInstance.BeatScript"/>
    /// does (so a claim never has an owner that looks dead). Claims a free delivery, that claim, or
    /// one whose owner's heartbeat has been seen missing for the grace: the first call that finds
    /// it missing marks the owner (<see cref="NotifyInstance.MissedKeyPrefix"/>), and the mark's
    /// age, read from its TTL on Redis's clock, is how long. Answers the value it found otherwise.
    /// (Claims written before the random part was added, "sending:{instance}", are read alike.)
    /// </summary>
    private const string ClaimScript = """
        redis.call('SET', KEYS[2], '1', 'PX', ARGV[4])
        redis.call('DEL', KEYS[3])
        local current = redis.call('GET', KEYS[1])
        if not current or (ARGV[5] ~= '' and current == ARGV[5]) then
          redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
          return 'claimed'
        end
        local owner = string.match(current, '^sending:([^:]+)')
        if owner then
          local missed = ARGV[7] .. owner
          if redis.call('EXISTS', ARGV[3] .. owner) == 1 then
            -- Alive: a mark left from an earlier lapse must not count against a later one.
            redis.call('DEL', missed)
          else
            redis.call('SET', missed, '1', 'PX', ARGV[8], 'NX')
            local left = redis.call('PTTL', missed)
            if left >= 0 and tonumber(ARGV[8]) - left >= tonumber(ARGV[6]) then
              redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
              return 'claimed'
            end
          end
        end
        return current
        """;

    /// <summary>KEYS[1] the delivery; ARGV[1] the claim. Deletes the key only while it holds that claim.</summary>
    private const string ReleaseScript = """
        if redis.call('GET', KEYS[1]) == ARGV[1] then
          return redis.call('DEL', KEYS[1])
        end
        return 0
        """;

    /// <summary>
    /// KEYS[1] the delivery, KEYS[2] this instance's heartbeat and KEYS[3] its missed-heartbeat mark
    /// (both absent without an instance); ARGV[1] the claim, ARGV[2] the lease (ms), ARGV[3] the
    /// heartbeat TTL (ms). Extends the lease only while the key holds that claim, and beats as it
    /// does: an owner whose connection just came back, renewing before its SMTP transaction, is
    /// alive from then on to anyone judging its claim, not only from its next beat.
    /// </summary>
    private const string RenewScript = """
        if KEYS[2] then
          redis.call('SET', KEYS[2], '1', 'PX', ARGV[3])
          redis.call('DEL', KEYS[3])
        end
        if redis.call('GET', KEYS[1]) == ARGV[1] then
          redis.call('PEXPIRE', KEYS[1], ARGV[2])
          return 1
        end
        return 0
        """;

    /// <summary>
    /// KEYS[1] the delivery, KEYS[2] its record, KEYS[3] the subscriber's log; ARGV[1] the record
    /// (JSON), ARGV[2] the log's last index. Marks the delivery sent, keeps its record and logs it,
    /// once: a repeat (a retry after a timeout whose command did reach Redis) changes nothing.
    /// </summary>
    private const string CompleteScript = """
        if redis.call('GET', KEYS[1]) == 'sent' and redis.call('EXISTS', KEYS[2]) == 1 then
          return 0
        end
        redis.call('SET', KEYS[1], 'sent')
        redis.call('SET', KEYS[2], ARGV[1])
        redis.call('LPUSH', KEYS[3], ARGV[1])
        redis.call('LTRIM', KEYS[3], 0, ARGV[2])
        return 1
        """;

    /// <summary>
    /// KEYS[1] the delivery, KEYS[2] the subscriber's log; ARGV[1] the claim, ARGV[2] the bounce
    /// record (JSON), ARGV[3] the log's last index. Logs the bounce and releases the claim if it is
    /// still this one.
    /// </summary>
    private const string BounceScript = """
        if redis.call('GET', KEYS[1]) == ARGV[1] then
          redis.call('DEL', KEYS[1])
        end
        redis.call('LPUSH', KEYS[2], ARGV[2])
        redis.call('LTRIM', KEYS[2], 0, ARGV[3])
        return 1
        """;

    /// <summary>Claims the delivery for <paramref name="lease"/>, or says why not.</summary>
    public async Task<DeliveryAttempt> BeginAsync(string deliveryKey, TimeSpan lease)
    {
        var key = Key(deliveryKey);
        var owner = $"sending:{instance?.Id ?? "-"}:{Guid.NewGuid():N}";
        if (_unrecorded.ContainsKey(deliveryKey))
        {
            return new DeliveryAttempt(DeliveryClaim.AlreadySent, deliveryKey, owner);
        }

        if (instance is null)
        {
            if (await redis.StringSetAsync(key, owner, lease, When.NotExists))
            {
                return new DeliveryAttempt(DeliveryClaim.Claimed, deliveryKey, owner);
            }

            return new DeliveryAttempt(await redis.StringGetAsync(key) == "sent" ? DeliveryClaim.AlreadySent : DeliveryClaim.InProgress, deliveryKey, owner);
        }

        var unreleased = _unreleased.TryGetValue(deliveryKey, out var dead) ? dead : "";
        var found = (string?)await redis.ScriptEvaluateAsync(ClaimScript,
            [key, instance.HeartbeatKey, instance.MissedKey],
            [owner, (long)lease.TotalMilliseconds, NotifyInstance.HeartbeatKeyPrefix, (long)NotifyInstance.HeartbeatTtl.TotalMilliseconds, unreleased,
                (long)instance.TakeoverGrace.TotalMilliseconds, NotifyInstance.MissedKeyPrefix, (long)NotifyInstance.MissedMarkLifetime.TotalMilliseconds]);
        if (found is "claimed" or "sent")
        {
            _unreleased.TryRemove(deliveryKey, out _);
        }

        var claim = found switch
        {
            "claimed" => DeliveryClaim.Claimed,
            "sent" => DeliveryClaim.AlreadySent,
            _ => DeliveryClaim.InProgress,
        };
        return new DeliveryAttempt(claim, deliveryKey, owner);
    }

    /// <summary>
    /// Right before the SMTP transaction: true, with the lease extended to <paramref name="lease"/>,
    /// while the delivery still holds this claim; false when it does not (the claim expired and
    /// another took it, or the email was sent meanwhile), and then nothing may be sent.
    /// </summary>
    public async Task<bool> RenewAsync(DeliveryAttempt attempt, TimeSpan lease) =>
        (long)await redis.ScriptEvaluateAsync(RenewScript,
            instance is null ? [Key(attempt.DeliveryKey)] : [Key(attempt.DeliveryKey), instance.HeartbeatKey, instance.MissedKey],
            [attempt.Owner, (long)lease.TotalMilliseconds, (long)NotifyInstance.HeartbeatTtl.TotalMilliseconds]) == 1;

    /// <summary>
    /// Marks the delivery sent, with its record and a log entry (once, however often it is called).
    /// Unconditional: the email went out, whoever holds the claim now.
    /// </summary>
    public async Task CompleteAsync(string deliveryKey, DeliveryRecord record)
    {
        var json = JsonSerializer.Serialize(record, SubscriberStore.Json);
        // The record beside the marker, so a repeated SendDigestNow can answer with what went out.
        await redis.ScriptEvaluateAsync(CompleteScript,
            [Key(deliveryKey), $"notify:delivery-record:{deliveryKey}", $"notify:deliveries:{record.SubscriberId}"],
            [json, LogLength - 1]);
    }

    /// <summary>
    /// <see cref="CompleteAsync"/> for an email the SMTP server has taken, tried again (waits of
    /// 0.25 s doubling up to 5 s) until it works or <paramref name="patience"/> has passed: the
    /// email went out, and waiting for Redis beats a claim released or left to expire, after which
    /// the email would be sent again. False when every try failed; <paramref name="failed"/> hears
    /// of each failure. Then the record is kept in this process and written in the background once
    /// Redis answers again (waits doubling up to 30 s), and this process answers the delivery as
    /// sent until then.
    /// </summary>
    public async Task<bool> CompleteWithinAsync(string deliveryKey, DeliveryRecord record, TimeSpan patience, TimeProvider clock, Action<Exception, int>? failed = null)
    {
        var giveUpAt = clock.GetUtcNow() + patience;
        for (var attempt = 1; ; attempt++)
        {
            try
            {
                await CompleteAsync(deliveryKey, record);
                return true;
            }
            catch (Exception e) when (e is RedisException or TimeoutException)
            {
                failed?.Invoke(e, attempt);
                var wait = TimeSpan.FromSeconds(Math.Min(5, 0.25 * Math.Pow(2, Math.Min(attempt - 1, 10))));
                if (clock.GetUtcNow() + wait > giveUpAt)
                {
                    if (_unrecorded.TryAdd(deliveryKey, record))
                    {
                        _ = RecordLaterAsync(deliveryKey, record, clock);
                    }

                    return false;
                }

                await Task.Delay(wait, clock);
            }
        }
    }

    /// <summary>Writes a kept record of a sent email until Redis takes it, then forgets it.</summary>
    private async Task RecordLaterAsync(string deliveryKey, DeliveryRecord record, TimeProvider clock)
    {
        for (var attempt = 0; ; attempt++)
        {
            await Task.Delay(TimeSpan.FromSeconds(Math.Min(30, Math.Pow(2, Math.Min(attempt, 5)))), clock);
            try
            {
                await CompleteAsync(deliveryKey, record);
                _unrecorded.TryRemove(deliveryKey, out _);
                logger?.LogInformation("The delivery {Delivery} (Message-Id {MessageId}), sent {SentAt:O}, is now recorded as sent", deliveryKey, record.MessageId, record.SentAt);
                return;
            }
            catch (ObjectDisposedException)
            {
                logger?.LogError("The delivery {Delivery} (Message-Id {MessageId}) was sent but is still not recorded, and the process is stopping: " +
                    "a send of it after its claim's lease would email the subscriber a second time", deliveryKey, record.MessageId);
                return;
            }
            catch (Exception e)
            {
                // Still out of reach (or anything else): the next wait is longer, and the record stays kept.
                if (attempt % 10 == 0)
                {
                    logger?.LogWarning("The delivery {Delivery} was sent but is still not recorded ({Error}); {Waiting} such deliveries wait for Redis",
                        deliveryKey, e.Message, _unrecorded.Count);
                }
            }
        }
    }

    /// <summary>
    /// Which of <paramref name="deliveryKeys"/> were sent (marked "sent" in Redis, or kept in this
    /// process until Redis takes the mark): one round trip, however old the deliveries.
    /// </summary>
    public async Task<IReadOnlySet<string>> SentAmongAsync(IReadOnlyList<string> deliveryKeys)
    {
        var sent = new HashSet<string>(StringComparer.Ordinal);
        if (deliveryKeys.Count == 0)
        {
            return sent;
        }

        var marks = await redis.StringGetAsync(deliveryKeys.Select(k => (RedisKey)Key(k)).ToArray());
        for (var i = 0; i < deliveryKeys.Count; i++)
        {
            if (marks[i] == "sent" || _unrecorded.ContainsKey(deliveryKeys[i]))
            {
                sent.Add(deliveryKeys[i]);
            }
        }

        return sent;
    }

    /// <summary>The record of a completed delivery, if there is one.</summary>
    public async Task<DeliveryRecord?> GetAsync(string deliveryKey)
    {
        var json = await redis.StringGetAsync($"notify:delivery-record:{deliveryKey}");
        return json.IsNullOrEmpty ? null : JsonSerializer.Deserialize<DeliveryRecord>(json.ToString(), SubscriberStore.Json);
    }

    /// <summary>
    /// Logs a send that the SMTP server refused for good, and releases the claim if it is still this
    /// one: nothing went out, and the subscriber is bouncing, so nothing will try again.
    /// </summary>
    public Task RecordBounceAsync(DeliveryAttempt attempt, DeliveryRecord record) =>
        redis.ScriptEvaluateAsync(BounceScript, [Key(attempt.DeliveryKey), $"notify:deliveries:{record.SubscriberId}"],
            [attempt.Owner, JsonSerializer.Serialize(record, SubscriberStore.Json), LogLength - 1]);

    /// <summary>Logs an email given up without being sent (the server refused its message for good); no claim changes.</summary>
    public Task RecordRefusedAsync(DeliveryRecord record) =>
        redis.ScriptEvaluateAsync(BounceScript, [Key(record.Id), $"notify:deliveries:{record.SubscriberId}"],
            ["", JsonSerializer.Serialize(record, SubscriberStore.Json), LogLength - 1]);

    /// <summary>
    /// Lets a failed send be tried again at once instead of after the lease. Only for a send the
    /// SMTP server has not taken; it deletes the claim only while the key still holds it, never
    /// "sent" nor a claim another has taken since.
    /// </summary>
    public async Task AbandonAsync(DeliveryAttempt attempt)
    {
        try
        {
            await redis.ScriptEvaluateAsync(ReleaseScript, [Key(attempt.DeliveryKey)], [attempt.Owner]);
        }
        catch (Exception e) when (e is RedisException or TimeoutException)
        {
            // Nothing went out: this process's next attempt may take the claim over (BeginAsync).
            _unreleased[attempt.DeliveryKey] = attempt.Owner;
            throw;
        }
    }

    public async Task<IReadOnlyList<DeliveryRecord>> ListAsync(string subscriberId, int limit)
    {
        var items = await redis.ListRangeAsync($"notify:deliveries:{subscriberId}", 0, limit - 1);
        return items.Select(i => JsonSerializer.Deserialize<DeliveryRecord>(i.ToString(), SubscriberStore.Json)!).ToArray();
    }

    private static string Key(string deliveryKey) => $"notify:delivery:{deliveryKey}";
}
