using System.Globalization;
using System.Text.Json;
using Pipeline.Contracts.Messages;
using StackExchange.Redis;

namespace Pipeline.Ingest.Storage;

/// <summary>
/// Ingest's papers in its own Redis. Each paper is a hash <c>ingest:paper:{id}</c>; the sorted set
/// <c>ingest:papers</c> orders ids by first ingestion for paging. A paper is stored with
/// <c>published = 0</c> before its event goes out and flipped to 1 after the broker confirmed it,
/// so a paper whose event was lost is published again when it is next submitted.
/// </summary>
public sealed class PaperStore(IDatabase redis)
{
    private const string IndexKey = "ingest:papers";
    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web);

    private static RedisKey PaperKey(string id) => $"ingest:paper:{id}";

    public async Task<StoredPaper?> GetAsync(string id)
    {
        var fields = await redis.HashGetAllAsync(PaperKey(id));
        return fields.Length == 0 ? null : Read(fields);
    }

    public async Task<IReadOnlyList<StoredPaper?>> GetManyAsync(IReadOnlyList<string> ids)
    {
        var batch = redis.CreateBatch();
        var reads = ids.Select(id => batch.HashGetAllAsync(PaperKey(id))).ToArray();
        batch.Execute();
        var results = await Task.WhenAll(reads);
        return results.Select(f => f.Length == 0 ? null : Read(f)).ToArray();
    }

    /// <summary>Stores papers as not yet published; first ingestion time is kept across updates.</summary>
    public async Task SaveAsync(IReadOnlyList<StoredPaper> papers)
    {
        var batch = redis.CreateBatch();
        var writes = new List<Task>(papers.Count * 2);
        foreach (var paper in papers)
        {
            writes.Add(batch.HashSetAsync(PaperKey(paper.Paper.Id),
            [
                new HashEntry("paper", JsonSerializer.Serialize(paper.Paper, Json)),
                new HashEntry("content_hash", paper.ContentHash),
                new HashEntry("fingerprint", paper.Fingerprint),
                new HashEntry("ingested_at", paper.IngestedAt.ToUnixTimeMilliseconds()),
                new HashEntry("published", paper.Published ? 1 : 0),
            ]));
            writes.Add(batch.SortedSetAddAsync(IndexKey, paper.Paper.Id, paper.IngestedAt.ToUnixTimeMilliseconds(), SortedSetWhen.NotExists));
        }

        batch.Execute();
        await Task.WhenAll(writes);
    }

    public async Task MarkPublishedAsync(IEnumerable<string> ids)
    {
        var batch = redis.CreateBatch();
        var writes = ids.Select(id => (Task)batch.HashSetAsync(PaperKey(id), "published", 1)).ToArray();
        batch.Execute();
        await Task.WhenAll(writes);
    }

    /// <summary>A page of papers in order of first ingestion; the cursor is the offset of the next page.</summary>
    public async Task<(IReadOnlyList<StoredPaper> Papers, long? Next)> ListAsync(long offset, int limit)
    {
        var ids = await redis.SortedSetRangeByRankAsync(IndexKey, offset, offset + limit - 1);
        var papers = await GetManyAsync(ids.Select(i => i.ToString()).ToArray());
        long? next = ids.Length == limit ? offset + limit : null;
        return (papers.OfType<StoredPaper>().ToArray(), next);
    }

    private static StoredPaper Read(HashEntry[] fields)
    {
        var map = fields.ToDictionary(f => f.Name.ToString(), f => f.Value);
        return new StoredPaper(
            JsonSerializer.Deserialize<PaperSummary>(map["paper"].ToString(), Json)!,
            map["content_hash"].ToString(),
            map["fingerprint"].ToString(),
            DateTimeOffset.FromUnixTimeMilliseconds(long.Parse(map["ingested_at"].ToString(), CultureInfo.InvariantCulture)),
            map["published"] == 1);
    }
}

/// <summary>A paper as ingest keeps it.</summary>
public sealed record StoredPaper(PaperSummary Paper, string ContentHash, string Fingerprint, DateTimeOffset IngestedAt, bool Published);
