using System.Text.Json;
using System.Text.Json.Serialization;
using StackExchange.Redis;

namespace Pipeline.Notify.Storage;

/// <summary>
/// Subscribers in notify's Redis: <c>notify:subscriber:{id}</c> (JSON), the index
/// <c>notify:email:{address}</c> → id, which keeps one subscriber per address, and each pending
/// subscriber's confirmation gate <c>notify:confirmation-gate:{id}</c>.
/// </summary>
public sealed class SubscriberStore(IDatabase redis)
{
    internal static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web) { Converters = { new JsonStringEnumConverter() } };

    /// <summary>How often <see cref="UpdateAsync"/> reads again after a concurrent write before it gives up.</summary>
    public const int MaxUpdateAttempts = 10;

    public async Task<Subscriber?> GetAsync(string id)
    {
        var json = await redis.StringGetAsync(SubscriberKey(id));
        return json.IsNullOrEmpty ? null : JsonSerializer.Deserialize<Subscriber>(json.ToString(), Json);
    }

    public async Task<Subscriber?> FindByEmailAsync(string email)
    {
        var id = await redis.StringGetAsync(EmailKey(email));
        return id.IsNullOrEmpty ? null : await GetAsync(id.ToString());
    }

    /// <summary>
    /// Stores a new subscriber together with the index of its address, in one transaction that holds
    /// only while the address is free, so a failure cannot leave the address taken by no subscriber.
    /// An index that points at no subscriber (left by an older notify that wrote the two apart) counts
    /// as free and is taken over, again only while it is unchanged. False when another subscriber has
    /// the address (two Subscribe calls racing for one new address).
    /// </summary>
    public async Task<bool> CreateAsync(Subscriber subscriber)
    {
        var emailKey = EmailKey(subscriber.Email);
        var json = JsonSerializer.Serialize(subscriber, Json);
        var create = redis.CreateTransaction();
        create.AddCondition(Condition.KeyNotExists(emailKey));
        _ = create.StringSetAsync(emailKey, subscriber.Id);
        _ = create.StringSetAsync(SubscriberKey(subscriber.Id), json);
        if (await create.ExecuteAsync())
        {
            return true;
        }

        var holder = await redis.StringGetAsync(emailKey);
        if (holder.IsNullOrEmpty || await redis.KeyExistsAsync(SubscriberKey(holder.ToString())))
        {
            return false;
        }

        var takeOver = redis.CreateTransaction();
        takeOver.AddCondition(Condition.StringEqual(emailKey, holder));
        takeOver.AddCondition(Condition.KeyNotExists(SubscriberKey(holder.ToString())));
        _ = takeOver.StringSetAsync(emailKey, subscriber.Id);
        _ = takeOver.StringSetAsync(SubscriberKey(subscriber.Id), json);
        return await takeOver.ExecuteAsync();
    }

    /// <summary>KEYS[1] a key; ARGV[1] a value. Deletes the key only while it holds that value.</summary>
    private const string DeleteIfScript = """
        if redis.call('GET', KEYS[1]) == ARGV[1] then
          return redis.call('DEL', KEYS[1])
        end
        return 0
        """;

    /// <summary>
    /// Takes the subscriber's confirmation gate, <c>notify:confirmation-gate:{id}</c>, for
    /// <paramref name="hold"/> (SET NX PX): of any number of concurrent Subscribe calls one gets it
    /// and sends the confirmation. Answers the gate's own value (for <see cref="ReleaseConfirmationGateAsync"/>),
    /// or null when a confirmation was sent within <paramref name="hold"/> or is being sent now.
    /// </summary>
    public async Task<string?> TakeConfirmationGateAsync(string id, TimeSpan hold)
    {
        var token = Guid.NewGuid().ToString("N");
        return await redis.StringSetAsync(ConfirmationGateKey(id), token, hold, When.NotExists) ? token : null;
    }

    private const string ExpireIfScript = """
        if redis.call('GET', KEYS[1]) == ARGV[1] then
          return redis.call('PEXPIRE', KEYS[1], ARGV[2])
        end
        return 0
        """;

    /// <summary>
    /// Once the email is sent: the gate now lapses <paramref name="window"/> after this moment
    /// (it was taken for the send's longest time as well); only while it is still this one.
    /// </summary>
    public async Task<bool> RestartConfirmationGateAsync(string id, string token, TimeSpan window) =>
        (long)await redis.ScriptEvaluateAsync(ExpireIfScript, [ConfirmationGateKey(id)], [token, (long)window.TotalMilliseconds]) == 1;

    /// <summary>Gives the gate back after a confirmation that could not be sent, so the next call sends it; only while it is still this one.</summary>
    public Task ReleaseConfirmationGateAsync(string id, string token) =>
        redis.ScriptEvaluateAsync(DeleteIfScript, [ConfirmationGateKey(id)], [token]);

    /// <summary>
    /// Writes a subscriber whole, whatever is stored: for a new subscriber (and tests). A change to a
    /// stored one goes through <see cref="UpdateAsync"/>, so it cannot undo a concurrent change.
    /// </summary>
    public Task SaveAsync(Subscriber subscriber) =>
        redis.StringSetAsync(SubscriberKey(subscriber.Id), JsonSerializer.Serialize(subscriber, Json));

    /// <summary>
    /// Changes a stored subscriber without losing a concurrent change: reads the stored JSON, applies
    /// <paramref name="change"/> and writes the result in a transaction that holds only if the
    /// record is still exactly what was read (<c>Condition.StringEqual</c>). When another write came
    /// between, it reads again and applies <paramref name="change"/> to the newer record, up to
    /// <see cref="MaxUpdateAttempts"/> times. <paramref name="change"/> answers null to leave the
    /// record as it is (it may also throw, which ends the update). Answers the subscriber as stored
    /// afterwards, or null when there is none.
    /// </summary>
    public async Task<Subscriber?> UpdateAsync(string id, Func<Subscriber, Subscriber?> change)
    {
        var key = SubscriberKey(id);
        for (var attempt = 1; attempt <= MaxUpdateAttempts; attempt++)
        {
            var json = await redis.StringGetAsync(key);
            if (json.IsNullOrEmpty)
            {
                return null;
            }

            var current = JsonSerializer.Deserialize<Subscriber>(json.ToString(), Json)!;
            if (change(current) is not { } changed)
            {
                return current;
            }

            var tx = redis.CreateTransaction();
            tx.AddCondition(Condition.StringEqual(key, json));
            _ = tx.StringSetAsync(key, JsonSerializer.Serialize(changed, Json));
            if (await tx.ExecuteAsync())
            {
                return changed;
            }
        }

        throw new InvalidOperationException($"Subscriber {id} changed under each of {MaxUpdateAttempts} attempts to update it; try again.");
    }

    /// <summary>
    /// Every subscriber, read with SCAN in pages (an operator's call, such as republishing after
    /// rank lost its Redis; never on a request path).
    /// </summary>
    public async IAsyncEnumerable<Subscriber> ListAllAsync([System.Runtime.CompilerServices.EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        foreach (var server in redis.Multiplexer.GetServers().Where(s => s.IsConnected && !s.IsReplica))
        {
            await foreach (var key in server.KeysAsync(redis.Database, "notify:subscriber:*", pageSize: 1000).WithCancellation(cancellationToken))
            {
                var json = await redis.StringGetAsync(key);
                if (!json.IsNullOrEmpty && JsonSerializer.Deserialize<Subscriber>(json.ToString(), Json) is { } subscriber)
                {
                    yield return subscriber;
                }
            }
        }
    }

    private static string SubscriberKey(string id) => $"notify:subscriber:{id}";

    private static string EmailKey(string email) => $"notify:email:{email.ToLowerInvariant()}";

    private static string ConfirmationGateKey(string id) => $"notify:confirmation-gate:{id}";
}
