using System.Globalization;
using System.Runtime.InteropServices;
using System.Text.Json;
using Pipeline.Contracts.Messages;
using Pipeline.Rank.Ranking;
using StackExchange.Redis;

namespace Pipeline.Rank.Storage;

/// <summary>
/// Rank's state in its own Redis: papers with their vectors (<c>rank:paper:{id}</c>, ids in the set
/// <c>rank:papers</c>), subscriber profiles (<c>rank:subscriber:{id}</c>, ids in <c>rank:subscribers</c>)
/// and which instant alerts were already raised (<c>rank:matched:{subscriber}:{paper}</c>).
/// </summary>
public sealed class RankStore(IDatabase redis)
{
    private const string PapersKey = "rank:papers";
    private const string SubscribersKey = "rank:subscribers";
    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web);

    public async Task SavePaperAsync(IndexedPaper paper, float[] vector)
    {
        var tx = redis.CreateTransaction();
        _ = tx.HashSetAsync($"rank:paper:{paper.Paper.Id}",
        [
            new HashEntry("paper", JsonSerializer.Serialize(paper.Paper, Json)),
            new HashEntry("ingested_at", paper.IngestedAt.ToUnixTimeMilliseconds()),
            new HashEntry("vector", ToBytes(vector)),
        ]);
        _ = tx.SetAddAsync(PapersKey, paper.Paper.Id);
        await tx.ExecuteAsync();
    }

    public async IAsyncEnumerable<(IndexedPaper Paper, float[] Vector)> LoadPapersAsync()
    {
        await foreach (var id in redis.SetScanAsync(PapersKey, pageSize: 1000))
        {
            var fields = await redis.HashGetAllAsync($"rank:paper:{id}");
            if (fields.Length == 0)
            {
                continue;
            }

            var map = fields.ToDictionary(f => f.Name.ToString(), f => f.Value);
            var paper = JsonSerializer.Deserialize<PaperSummary>(map["paper"].ToString(), Json)!;
            var ingestedAt = DateTimeOffset.FromUnixTimeMilliseconds(long.Parse(map["ingested_at"].ToString(), CultureInfo.InvariantCulture));
            yield return (new IndexedPaper(paper, ingestedAt), FromBytes(map["vector"]));
        }
    }

    public async Task SaveProfileAsync(SubscriberProfile profile)
    {
        var record = new ProfileRecord(profile.SubscriberId, profile.Interests, profile.Vectors, profile.Cadence, profile.InstantThreshold, profile.ChangedAt);
        var tx = redis.CreateTransaction();
        _ = tx.StringSetAsync($"rank:subscriber:{profile.SubscriberId}", JsonSerializer.Serialize(record, Json));
        _ = tx.SetAddAsync(SubscribersKey, profile.SubscriberId);
        await tx.ExecuteAsync();
    }

    public async Task DeleteProfileAsync(string subscriberId, DateTimeOffset changedAt)
    {
        // A tombstone with the time of the change keeps an older, redelivered "active" from reviving it.
        var tx = redis.CreateTransaction();
        _ = tx.StringSetAsync($"rank:subscriber:{subscriberId}", JsonSerializer.Serialize(new ProfileRecord(subscriberId, [], [], "none", 0, changedAt), Json));
        _ = tx.SetRemoveAsync(SubscribersKey, subscriberId);
        await tx.ExecuteAsync();
    }

    /// <summary>When rank last applied a change for this subscriber, if ever.</summary>
    public async Task<DateTimeOffset?> ProfileChangedAtAsync(string subscriberId)
    {
        var json = await redis.StringGetAsync($"rank:subscriber:{subscriberId}");
        return json.IsNullOrEmpty ? null : JsonSerializer.Deserialize<ProfileRecord>(json.ToString(), Json)!.ChangedAt;
    }

    public async IAsyncEnumerable<SubscriberProfile> LoadProfilesAsync()
    {
        await foreach (var id in redis.SetScanAsync(SubscribersKey, pageSize: 1000))
        {
            var json = await redis.StringGetAsync($"rank:subscriber:{id}");
            if (!json.IsNullOrEmpty)
            {
                var r = JsonSerializer.Deserialize<ProfileRecord>(json.ToString(), Json)!;
                yield return new SubscriberProfile(r.SubscriberId, r.Interests, r.Vectors, r.Cadence, r.InstantThreshold, r.ChangedAt);
            }
        }
    }

    public Task<bool> WasMatchedAsync(string subscriberId, string paperId) =>
        redis.KeyExistsAsync($"rank:matched:{subscriberId}:{paperId}");

    public Task MarkMatchedAsync(string subscriberId, string paperId) =>
        redis.StringSetAsync($"rank:matched:{subscriberId}:{paperId}", 1);

    private static byte[] ToBytes(float[] vector) => MemoryMarshal.AsBytes(vector.AsSpan()).ToArray();

    private static float[] FromBytes(RedisValue value) => MemoryMarshal.Cast<byte, float>(((byte[])value!).AsSpan()).ToArray();

    private sealed record ProfileRecord(
        string SubscriberId,
        IReadOnlyList<string> Interests,
        IReadOnlyList<float[]> Vectors,
        string Cadence,
        double InstantThreshold,
        DateTimeOffset ChangedAt);
}
