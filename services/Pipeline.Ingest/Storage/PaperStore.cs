using System.Globalization;
using System.Text.Json;
using Pipeline.Contracts.Messages;
using StackExchange.Redis;

namespace Pipeline.Ingest.Storage;

/// <summary>
/// Ingest's papers in its own Redis. Each paper is a hash <c>ingest:paper:{id}</c>; the sorted set
/// <c>ingest:papers</c> orders ids by first ingestion for paging. A paper is stored with
/// <c>published = 0</c> before its event goes out and flipped to 1 after the broker confirmed it.
/// The sorted set <c>ingest:unpublished</c> holds the ids stored with <c>published = 0</c>, scored
/// by the time they were stored, written in the same transaction as the paper and removed when it
/// is marked published: <see cref="Papers.UnpublishedPaperSweeper"/> announces from it what the
/// broker did not confirm, so a paper stored is announced even if nobody sends it again.
/// </summary>
public sealed class PaperStore(IDatabase redis)
{
    private const string IndexKey = "ingest:papers";
    private const string UnpublishedKey = "ingest:unpublished";
    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web);

    // Marks a paper published only if the record stored is still the one whose event went out:
    // a newer record stored meanwhile (another call, a later poll) stays unpublished and listed.
    private static readonly LuaScript MarkPublishedScript = LuaScript.Prepare("""
        if redis.call('HGET', @paper, 'fingerprint') == @fingerprint then
          redis.call('HSET', @paper, 'published', 1)
          redis.call('ZREM', @unpublished, @id)
          return 1
        end
        return 0
        """);

    // Forgets a listed id whose paper is published or gone, and only then (never one stored again meanwhile).
    private static readonly LuaScript ForgetIfPublishedScript = LuaScript.Prepare("""
        local published = redis.call('HGET', @paper, 'published')
        if published == false or published == '1' then
          return redis.call('ZREM', @unpublished, @id)
        end
        return 0
        """);

    // Lists the ids of a chunk whose paper is stored with published = 0 (papers stored before the
    // list existed); KEYS[1] is the list, KEYS[i + 1] the paper of ARGV[i].
    private const string ListUnpublishedScript = """
        local found = 0
        for i, id in ipairs(ARGV) do
          if redis.call('HGET', KEYS[i + 1], 'published') == '0' then
            found = found + redis.call('ZADD', KEYS[1], 'NX', 0, id)
          end
        end
        return found
        """;

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

    /// <summary>
    /// Stores papers, in one transaction; first ingestion time is kept across updates. A paper
    /// not yet published is listed in <c>ingest:unpublished</c> at <paramref name="storedAt"/>.
    /// </summary>
    public async Task SaveAsync(IReadOnlyList<StoredPaper> papers, DateTimeOffset storedAt)
    {
        var transaction = redis.CreateTransaction();
        var writes = new List<Task>(papers.Count * 3);
        foreach (var paper in papers)
        {
            writes.Add(transaction.HashSetAsync(PaperKey(paper.Paper.Id),
            [
                new HashEntry("paper", JsonSerializer.Serialize(paper.Paper, Json)),
                new HashEntry("content_hash", paper.ContentHash),
                new HashEntry("fingerprint", paper.Fingerprint),
                new HashEntry("ingested_at", paper.IngestedAt.ToUnixTimeMilliseconds()),
                new HashEntry("published", paper.Published ? 1 : 0),
                new HashEntry("is_update", paper.IsUpdate ? 1 : 0),
                new HashEntry("trace_parent", paper.TraceParent ?? ""),
            ]));
            writes.Add(transaction.SortedSetAddAsync(IndexKey, paper.Paper.Id, paper.IngestedAt.ToUnixTimeMilliseconds(), SortedSetWhen.NotExists));
            writes.Add(paper.Published
                ? transaction.SortedSetRemoveAsync(UnpublishedKey, paper.Paper.Id)
                : transaction.SortedSetAddAsync(UnpublishedKey, paper.Paper.Id, storedAt.ToUnixTimeMilliseconds()));
        }

        if (!await transaction.ExecuteAsync())
        {
            throw new InvalidOperationException("Redis did not execute the transaction that stores the papers.");
        }

        await Task.WhenAll(writes);
    }

    /// <summary>
    /// Marks papers published whose stored record is still the one given (same fingerprint), and
    /// takes them off <c>ingest:unpublished</c>. Returns how many were marked; a paper stored again
    /// meanwhile with other content is left unpublished for its own publish or the sweep.
    /// </summary>
    public async Task<int> MarkPublishedAsync(IEnumerable<StoredPaper> papers)
    {
        var batch = redis.CreateBatch();
        var writes = papers.Select(p => batch.ScriptEvaluateAsync(MarkPublishedScript, new
        {
            paper = PaperKey(p.Paper.Id),
            unpublished = (RedisKey)UnpublishedKey,
            id = p.Paper.Id,
            fingerprint = p.Fingerprint,
        })).ToArray();
        batch.Execute();
        var marked = await Task.WhenAll(writes);
        return marked.Sum(r => (int)r);
    }

    /// <summary>
    /// Up to <paramref name="limit"/> ids listed as stored unpublished no later than
    /// <paramref name="storedBefore"/>, longest waiting first.
    /// </summary>
    public async Task<IReadOnlyList<string>> GetDueUnpublishedAsync(DateTimeOffset storedBefore, int limit) =>
        (await redis.SortedSetRangeByScoreAsync(UnpublishedKey, double.NegativeInfinity, storedBefore.ToUnixTimeMilliseconds(), take: limit))
            .Select(v => v.ToString()).ToArray();

    /// <summary>
    /// The papers of <paramref name="ids"/> stored unpublished; listed ids whose paper is published
    /// or gone are taken off the list on the way.
    /// </summary>
    public async Task<IReadOnlyList<StoredPaper>> GetUnpublishedAsync(IReadOnlyList<string> ids)
    {
        var papers = await GetManyAsync(ids);
        var stale = ids.Where((_, i) => papers[i] is null or { Published: true }).ToArray();
        if (stale.Length > 0)
        {
            var batch = redis.CreateBatch();
            var forgets = stale.Select(id => batch.ScriptEvaluateAsync(ForgetIfPublishedScript, new { paper = PaperKey(id), unpublished = (RedisKey)UnpublishedKey, id })).ToArray();
            batch.Execute();
            await Task.WhenAll(forgets);
        }

        return papers.OfType<StoredPaper>().Where(p => !p.Published).ToArray();
    }

    /// <summary>How many papers are listed as stored but not yet announced.</summary>
    public Task<long> CountUnpublishedAsync() => redis.SortedSetLengthAsync(UnpublishedKey);

    /// <summary>
    /// Lists every paper stored with <c>published = 0</c> that <c>ingest:unpublished</c> does not
    /// hold yet (papers stored before the list existed), walking <c>ingest:papers</c> in chunks.
    /// Returns how many it added; they are due at once.
    /// </summary>
    public async Task<long> ListUnpublishedAsync(int chunk = 500)
    {
        long found = 0;
        for (long offset = 0; ; offset += chunk)
        {
            var ids = await redis.SortedSetRangeByRankAsync(IndexKey, offset, offset + chunk - 1);
            if (ids.Length == 0)
            {
                return found;
            }

            RedisKey[] keys = [UnpublishedKey, .. ids.Select(id => PaperKey(id.ToString()))];
            found += (long)await redis.ScriptEvaluateAsync(ListUnpublishedScript, keys, ids);
            if (ids.Length < chunk)
            {
                return found;
            }
        }
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
            map["published"] == 1)
        {
            IsUpdate = map.TryGetValue("is_update", out var update) && update == 1,
            TraceParent = map.TryGetValue("trace_parent", out var trace) && !trace.IsNullOrEmpty ? trace.ToString() : null,
        };
    }
}

/// <summary>A paper as ingest keeps it.</summary>
public sealed record StoredPaper(PaperSummary Paper, string ContentHash, string Fingerprint, DateTimeOffset IngestedAt, bool Published)
{
    /// <summary>Whether its event (still to go out while <see cref="Published"/> is false) announces an update of a known paper.</summary>
    public bool IsUpdate { get; init; }

    /// <summary>
    /// The W3C traceparent of the call or poll that stored this record: an event the sweep sends
    /// later (the broker was down) continues that trace instead of starting one of its own.
    /// </summary>
    public string? TraceParent { get; init; }
}
