using System.Text.Json;
using System.Text.Json.Serialization;
using StackExchange.Redis;

namespace Pipeline.Notify.Storage;

/// <summary>
/// Subscribers in notify's Redis: <c>notify:subscriber:{id}</c> (JSON) and the index
/// <c>notify:email:{address}</c> → id, which keeps one subscriber per address.
/// </summary>
public sealed class SubscriberStore(IDatabase redis)
{
    internal static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web) { Converters = { new JsonStringEnumConverter() } };

    public async Task<Subscriber?> GetAsync(string id)
    {
        var json = await redis.StringGetAsync($"notify:subscriber:{id}");
        return json.IsNullOrEmpty ? null : JsonSerializer.Deserialize<Subscriber>(json.ToString(), Json);
    }

    public async Task<Subscriber?> FindByEmailAsync(string email)
    {
        var id = await redis.StringGetAsync(EmailKey(email));
        return id.IsNullOrEmpty ? null : await GetAsync(id.ToString());
    }

    /// <summary>
    /// Claims <paramref name="email"/> for <paramref name="id"/>; false when another subscriber has it
    /// (two Subscribe calls racing for one new address).
    /// </summary>
    public Task<bool> ClaimEmailAsync(string email, string id) =>
        redis.StringSetAsync(EmailKey(email), id, when: When.NotExists);

    public Task SaveAsync(Subscriber subscriber) =>
        redis.StringSetAsync($"notify:subscriber:{subscriber.Id}", JsonSerializer.Serialize(subscriber, Json));

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

    private static string EmailKey(string email) => $"notify:email:{email.ToLowerInvariant()}";
}
