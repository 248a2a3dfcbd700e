using System.Globalization;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Text;
using System.Text.Json;
using Pipeline.Contracts.Messages;
using Pipeline.Rank.Ranking;
using Pipeline.Rank.Ranking.Relevance;
using StackExchange.Redis;

namespace Pipeline.Rank.Storage;

/// <summary>A paper as stored in rank's Redis: all its fields (abstract included) and its fp32 vector.</summary>
public sealed record StoredPaper(IndexedPaper Paper, float[] Vector);

/// <summary>
/// A paper as the startup load reads it: its vector and abstract left in the byte arrays Redis
/// answered with, so no float array or abstract string is made for each of 100,000 papers only to
/// be quantised and tokenised (<see cref="Paper"/>'s own abstract is empty when
/// <see cref="AbstractUtf8"/> holds it).
/// </summary>
public sealed class LoadedPaper(IndexedPaper paper, byte[] vectorBytes, byte[]? abstractUtf8)
{
    public IndexedPaper Paper { get; } = paper;

    /// <summary>The abstract as UTF-8 (format 2), or null when <see cref="Paper"/> carries it (format 1).</summary>
    public byte[]? AbstractUtf8 { get; } = abstractUtf8;

    /// <summary>The 384 fp32 values, read in place.</summary>
    public ReadOnlySpan<float> Vector => MemoryMarshal.Cast<byte, float>(vectorBytes);

    /// <summary>Indexes the paper's text in <paramref name="relevance"/>, from the abstract's bytes when it has them.</summary>
    public void AddTo(RelevanceRanker relevance)
    {
        if (AbstractUtf8 is { } text)
        {
            relevance.Add(Paper, text);
        }
        else
        {
            relevance.Add(Paper);
        }
    }

    /// <summary>The paper with its abstract, and a copy of its vector (for callers that keep them).</summary>
    public StoredPaper ToStored() => new(
        AbstractUtf8 is { } text ? Paper with { Paper = Paper.Paper with { Abstract = Encoding.UTF8.GetString(text) } } : Paper,
        Vector.ToArray());
}

/// <summary>
/// Rank's state in its own Redis: papers with their vectors (<c>rank:paper:{id}</c>, ids in the set
/// <c>rank:papers</c>), subscriber profiles (<c>rank:subscriber:{id}</c>, ids in <c>rank:subscribers</c>)
/// and which instant alerts were already raised (<c>rank:matched:{subscriber}:{paper}</c>).
/// </summary>
/// <remarks>
/// Format 2 (<c>rank:format</c>): a paper hash holds <c>summary</c> (the paper as JSON without its
/// abstract), <c>abstract</c> (plain text, so answers fetch it alone), <c>ingested_at</c> (Unix ms),
/// <c>version</c> (the paper's, so a save can tell an older record from a newer one),
/// <c>first_ingested_at</c> (Unix ms, when ingest first stored the paper; absent when unknown),
/// <c>arrived_at</c> (Unix ms, when rank first indexed it: windows count from it, so it survives a
/// restart; absent for papers stored before it was kept) and <c>vector</c> (384 little-endian fp32). A profile's interest vectors are one base64 block of
/// fp32 (<c>packed</c>) instead of JSON number arrays, which took most of the load time.
/// Format 1 hashes (<c>paper</c>: the whole paper as JSON) and profiles (<c>vectors</c>) still load;
/// a paper is rewritten in format 2 the next time it is saved.
/// Loads read in pipelined batches (one round trip per thousand records), so 100,000 papers load in
/// seconds, not one round trip each.
/// </remarks>
public sealed class RankStore(IDatabase redis)
{
    public const int FormatVersion = 2;
    public const string FormatKey = "rank:format";
    private const string PapersKey = "rank:papers";
    private const string SubscribersKey = "rank:subscribers";
    private const int BatchSize = 1000;
    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web);
    private static readonly RedisValue[] PaperFields = ["summary", "abstract", "ingested_at", "vector", "paper", "first_ingested_at", "arrived_at"];
    private static readonly RedisValue[] AbstractFields = ["abstract", "paper", "trace_parent"];

    private static string PaperKey(string id) => $"rank:paper:{id}";

    /// <summary>Saves a paper unless rank's Redis holds a newer record of it (see <see cref="SavePapersAsync"/>).</summary>
    /// <returns>False when a newer record was kept.</returns>
    public async Task<bool> SavePaperAsync(IndexedPaper paper, float[] vector) => (await SavePapersAsync([new StoredPaper(paper, vector)]))[0];

    // For each paper (KEYS[2 + i]; eight arguments from ARGV[2 + 8(i - 1)]: id, version, ingested_at,
    // summary, abstract, vector, first_ingested_at or "", arrived_at or ""), the hash is written only when the stored
    // record is not newer: a lower version, or the same version ingested no later
    // (IndexedPaper.IsOlderThan). A record without the version field (written before it was) has
    // the version in its JSON. A record that does not say when the paper was first ingested keeps
    // the time held; the first arrival at rank, once stored, is never replaced.
    private const string SavePapersScript = """
        local saved = {}
        for i = 1, #KEYS - 2 do
          local key = KEYS[i + 2]
          local a = 2 + (i - 1) * 8
          local version, at = tonumber(ARGV[a + 1]), tonumber(ARGV[a + 2])
          local held = redis.call('HMGET', key, 'version', 'ingested_at', 'summary', 'paper')
          local save = true
          if held[2] then
            local heldVersion = tonumber(held[1])
            if not heldVersion and (held[3] or held[4]) then
              local ok, json = pcall(cjson.decode, held[3] or held[4])
              heldVersion = ok and type(json) == 'table' and tonumber(json.version) or nil
            end
            heldVersion = heldVersion or 0
            save = version > heldVersion or (version == heldVersion and at >= tonumber(held[2]))
          end
          if save then
            redis.call('HSET', key, 'summary', ARGV[a + 3], 'abstract', ARGV[a + 4], 'ingested_at', ARGV[a + 2], 'version', ARGV[a + 1], 'vector', ARGV[a + 5])
            if ARGV[a + 6] ~= '' then
              redis.call('HSET', key, 'first_ingested_at', ARGV[a + 6])
            end
            if ARGV[a + 7] ~= '' then
              redis.call('HSETNX', key, 'arrived_at', ARGV[a + 7])
            end
            redis.call('HDEL', key, 'paper')
            redis.call('SADD', KEYS[1], ARGV[a])
            saved[i] = 1
          else
            saved[i] = 0
          end
        end
        redis.call('SET', KEYS[2], ARGV[1])
        return saved
        """;

    /// <summary>
    /// Saves papers in one script (one round trip, atomic), each replacing what was stored under its
    /// id unless that is newer (<see cref="IndexedPaper.IsOlderThan"/>: a higher version, or the same
    /// version ingested later). So a redelivered earlier version, or one that lost a race with a
    /// newer one, leaves the newer one in Redis; the in-memory indexes refuse it by the same rule.
    /// </summary>
    /// <returns>For each paper in order, whether it was saved (false: a newer record was kept).</returns>
    public async Task<bool[]> SavePapersAsync(IReadOnlyList<StoredPaper> papers)
    {
        if (papers.Count == 0)
        {
            return [];
        }

        var keys = new RedisKey[papers.Count + 2];
        var values = new RedisValue[1 + (papers.Count * 8)];
        keys[0] = PapersKey;
        keys[1] = FormatKey;
        values[0] = FormatVersion;
        for (var i = 0; i < papers.Count; i++)
        {
            var (paper, vector) = papers[i];
            keys[i + 2] = PaperKey(paper.Paper.Id);
            var a = 1 + (i * 8);
            values[a] = paper.Paper.Id;
            values[a + 1] = paper.Paper.Version;
            values[a + 2] = paper.IngestedAt.ToUnixTimeMilliseconds();
            values[a + 3] = JsonSerializer.SerializeToUtf8Bytes(paper.Paper with { Abstract = "" }, Json);
            values[a + 4] = paper.Paper.Abstract;
            values[a + 5] = MemoryMarshal.AsBytes(vector.AsSpan()).ToArray();
            values[a + 6] = paper.FirstIngestedAt is { } first ? first.ToUnixTimeMilliseconds() : "";
            values[a + 7] = paper.ArrivedAt is { } arrived ? arrived.ToUnixTimeMilliseconds() : "";
        }

        var saved = (RedisResult[])(await redis.ScriptEvaluateAsync(SavePapersScript, keys, values))!;
        return saved.Select(s => (long)s == 1).ToArray();
    }

    public async Task<long> CountPapersAsync() => await redis.SetLengthAsync(PapersKey);

    /// <summary>Every stored paper, one at a time (a convenience over <see cref="LoadPaperBatchesAsync"/>).</summary>
    public async IAsyncEnumerable<(IndexedPaper Paper, float[] Vector)> LoadPapersAsync([EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        await foreach (var batch in LoadPaperBatchesAsync(cancellationToken))
        {
            foreach (var loaded in batch)
            {
                var stored = loaded.ToStored();
                yield return (stored.Paper, stored.Vector);
            }
        }
    }

    /// <summary>
    /// Every stored paper, a thousand at a time: while the caller indexes one batch, the next one
    /// is already on the wire and being parsed on the thread pool.
    /// </summary>
    public async IAsyncEnumerable<IReadOnlyList<LoadedPaper>> LoadPaperBatchesAsync([EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        Task<IReadOnlyList<LoadedPaper>>? inFlight = null;
        var ids = new List<string>(BatchSize);
        await foreach (var id in redis.SetScanAsync(PapersKey, pageSize: BatchSize).WithCancellation(cancellationToken))
        {
            ids.Add(id.ToString());
            if (ids.Count == BatchSize)
            {
                var next = FetchPapersAsync(ids.ToArray());
                ids.Clear();
                if (inFlight is not null)
                {
                    yield return await inFlight;
                }

                inFlight = next;
            }
        }

        var last = ids.Count > 0 ? FetchPapersAsync(ids.ToArray()) : null;
        if (inFlight is not null)
        {
            yield return await inFlight;
        }

        if (last is not null)
        {
            yield return await last;
        }
    }

    /// <summary>The abstracts of the given papers, in order; "" for a paper rank does not have.</summary>
    public async Task<IReadOnlyList<string>> GetAbstractsAsync(IReadOnlyList<string> paperIds) =>
        (await GetAnswerDetailsAsync(paperIds)).Select(d => d.Abstract).ToArray();

    /// <summary>
    /// What an answer shows beyond the slim in-memory paper: the abstract, and the W3C traceparent
    /// of the trace that brought the paper in (so a digest can link to it). In order of the ids.
    /// </summary>
    public async Task<IReadOnlyList<(string Abstract, string? TraceParent)>> GetAnswerDetailsAsync(IReadOnlyList<string> paperIds)
    {
        if (paperIds.Count == 0)
        {
            return [];
        }

        var batch = redis.CreateBatch();
        var reads = new Task<RedisValue[]>[paperIds.Count];
        for (var i = 0; i < reads.Length; i++)
        {
            reads[i] = batch.HashGetAsync(PaperKey(paperIds[i]), AbstractFields);
        }

        batch.Execute();
        var details = new (string, string?)[reads.Length];
        for (var i = 0; i < reads.Length; i++)
        {
            var values = await reads[i];
            var abstractText = !values[0].IsNull
                ? values[0].ToString()
                : !values[1].IsNullOrEmpty ? JsonSerializer.Deserialize<PaperSummary>((ReadOnlySpan<byte>)(byte[])values[1]!, Json)!.Abstract : "";
            details[i] = (abstractText, values[2].IsNullOrEmpty ? null : values[2].ToString());
        }

        return details;
    }

    /// <summary>
    /// Remembers the trace a paper arrived in (its first <c>PaperEmbedded</c> consume span): kept
    /// once written, so a later record of the paper (new upvotes from a re-poll, a new version) does
    /// not point a digest's link at a poll that never reached an inbox.
    /// </summary>
    public Task SaveTraceParentAsync(string paperId, string traceParent) =>
        redis.HashSetAsync(PaperKey(paperId), "trace_parent", traceParent, When.NotExists);

    /// <summary>
    /// Saves an active subscriber's profile unless rank's Redis holds a later change of the
    /// subscriber (a profile or an unsubscribe's tombstone with a later <c>ChangedAt</c>; an equal
    /// one is written again, a redelivery). <paramref name="alongside"/> adds writes of the same
    /// change (the preferences) to the same transaction, so they are made only with it.
    /// </summary>
    /// <returns>False when a later change was kept and nothing was written.</returns>
    public Task<bool> SaveProfileAsync(SubscriberProfile profile, Action<ITransaction>? alongside = null)
    {
        var record = new ProfileRecord(profile.SubscriberId, profile.Interests, null, Pack(profile.Vectors), profile.Cadence, profile.InstantThreshold, profile.ChangedAt);
        return SaveChangeAsync(profile.SubscriberId, profile.ChangedAt, JsonSerializer.SerializeToUtf8Bytes(record, Json), active: true, alongside);
    }

    /// <summary>
    /// Replaces a subscriber's profile by a tombstone with the time of the change, which keeps an
    /// older "active" change (redelivered, or slower to embed) from reviving it; as
    /// <see cref="SaveProfileAsync"/>, unless a later change is stored.
    /// </summary>
    /// <returns>False when a later change was kept and nothing was written.</returns>
    public Task<bool> DeleteProfileAsync(string subscriberId, DateTimeOffset changedAt, Action<ITransaction>? alongside = null) =>
        SaveChangeAsync(subscriberId, changedAt, JsonSerializer.SerializeToUtf8Bytes(new ProfileRecord(subscriberId, [], null, null, "none", 0, changedAt), Json), active: false, alongside);

    /// <summary>
    /// Writes a subscriber's record (and <c>rank:subscribers</c>) only if what is stored did not
    /// change later: the stored record is read, compared, and written in a transaction that runs
    /// only while the record is still the one read (optimistic, as WATCH); when another change
    /// wrote it in between, it is read and compared again.
    /// </summary>
    private async Task<bool> SaveChangeAsync(string subscriberId, DateTimeOffset changedAt, byte[] record, bool active, Action<ITransaction>? alongside)
    {
        var key = $"rank:subscriber:{subscriberId}";
        while (true)
        {
            var held = await redis.StringGetAsync(key);
            if (!held.IsNullOrEmpty && ChangedAtOf(held) > changedAt)
            {
                return false;
            }

            var tx = redis.CreateTransaction();
            tx.AddCondition(held.IsNull ? Condition.KeyNotExists(key) : Condition.StringEqual(key, held));
            _ = tx.StringSetAsync(key, record);
            _ = active ? tx.SetAddAsync(SubscribersKey, subscriberId) : tx.SetRemoveAsync(SubscribersKey, subscriberId);
            alongside?.Invoke(tx);
            if (await tx.ExecuteAsync())
            {
                return true;
            }
        }
    }

    private static DateTimeOffset ChangedAtOf(RedisValue json) =>
        JsonSerializer.Deserialize<ProfileRecord>((ReadOnlySpan<byte>)(byte[])json!, Json)!.ChangedAt;

    /// <summary>When rank last applied a change for this subscriber, if ever.</summary>
    public async Task<DateTimeOffset?> ProfileChangedAtAsync(string subscriberId)
    {
        var json = await redis.StringGetAsync($"rank:subscriber:{subscriberId}");
        return json.IsNullOrEmpty ? null : ChangedAtOf(json);
    }

    /// <summary>Every active profile, read a thousand per round trip.</summary>
    public async IAsyncEnumerable<SubscriberProfile> LoadProfilesAsync([EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        var ids = new List<RedisKey>(BatchSize);
        await foreach (var id in redis.SetScanAsync(SubscribersKey, pageSize: BatchSize).WithCancellation(cancellationToken))
        {
            ids.Add($"rank:subscriber:{id}");
            if (ids.Count == BatchSize)
            {
                foreach (var profile in await FetchProfilesAsync(ids.ToArray()))
                {
                    yield return profile;
                }

                ids.Clear();
            }
        }

        foreach (var profile in await FetchProfilesAsync(ids.ToArray()))
        {
            yield return profile;
        }
    }

    public Task<bool> WasMatchedAsync(string subscriberId, string paperId) =>
        redis.KeyExistsAsync($"rank:matched:{subscriberId}:{paperId}");

    public Task MarkMatchedAsync(string subscriberId, string paperId) =>
        redis.StringSetAsync($"rank:matched:{subscriberId}:{paperId}", 1);

    private async Task<IReadOnlyList<LoadedPaper>> FetchPapersAsync(string[] ids)
    {
        var batch = redis.CreateBatch();
        var reads = new Task<RedisValue[]>[ids.Length];
        for (var i = 0; i < ids.Length; i++)
        {
            reads[i] = batch.HashGetAsync(PaperKey(ids[i]), PaperFields);
        }

        batch.Execute();
        await Task.WhenAll(reads).ConfigureAwait(false);
        var papers = new List<LoadedPaper>(ids.Length);
        foreach (var read in reads)
        {
            if (Parse(read.Result) is { } paper)
            {
                papers.Add(paper);
            }
        }

        return papers;
    }

    /// <summary>A paper from its hash fields (<see cref="PaperFields"/>), format 2 or 1; null when the hash is gone or its vector is not 384 floats.</summary>
    private static LoadedPaper? Parse(RedisValue[] fields)
    {
        var (summary, @abstract, ingestedAt, vector, legacy, firstIngestedAt, arrivedAt) = (fields[0], fields[1], fields[2], fields[3], fields[4], fields[5], fields[6]);
        if (vector.IsNull || ingestedAt.IsNull || (summary.IsNull && legacy.IsNull))
        {
            return null;
        }

        var bytes = (byte[])vector!;
        if (bytes.Length != PaperIndex.Dimensions * sizeof(float))
        {
            return null;
        }

        var paper = JsonSerializer.Deserialize<PaperSummary>((ReadOnlySpan<byte>)(byte[])(!summary.IsNull ? summary : legacy)!, Json)!;
        var at = DateTimeOffset.FromUnixTimeMilliseconds(long.Parse(ingestedAt.ToString(), CultureInfo.InvariantCulture));
        // Format 2 keeps the abstract apart ("" in the summary); format 1 has it in the JSON.
        var first = firstIngestedAt.IsNullOrEmpty ? (DateTimeOffset?)null : DateTimeOffset.FromUnixTimeMilliseconds(long.Parse(firstIngestedAt.ToString(), CultureInfo.InvariantCulture));
        var arrived = arrivedAt.IsNullOrEmpty ? (DateTimeOffset?)null : DateTimeOffset.FromUnixTimeMilliseconds(long.Parse(arrivedAt.ToString(), CultureInfo.InvariantCulture));
        return new LoadedPaper(new IndexedPaper(paper, at) { FirstIngestedAt = first, ArrivedAt = arrived }, bytes, summary.IsNull ? null : @abstract.IsNull ? [] : (byte[])@abstract!);
    }

    private async Task<IReadOnlyList<SubscriberProfile>> FetchProfilesAsync(RedisKey[] keys)
    {
        if (keys.Length == 0)
        {
            return [];
        }

        var values = await redis.StringGetAsync(keys);
        var profiles = new List<SubscriberProfile>(values.Length);
        foreach (var json in values)
        {
            if (json.IsNullOrEmpty)
            {
                continue;
            }

            var r = JsonSerializer.Deserialize<ProfileRecord>((ReadOnlySpan<byte>)(byte[])json!, Json)!;
            var vectors = r.Packed is { } packed ? Unpack(packed, r.Interests.Count) : r.Vectors ?? [];
            profiles.Add(new SubscriberProfile(r.SubscriberId, r.Interests, vectors, r.Cadence, r.InstantThreshold, r.ChangedAt));
        }

        return profiles;
    }

    private static byte[] Pack(IReadOnlyList<float[]> vectors)
    {
        var packed = new byte[vectors.Sum(v => v.Length) * sizeof(float)];
        var offset = 0;
        foreach (var vector in vectors)
        {
            MemoryMarshal.AsBytes(vector.AsSpan()).CopyTo(packed.AsSpan(offset));
            offset += vector.Length * sizeof(float);
        }

        return packed;
    }

    /// <summary>The packed block split into one vector per interest (all of one width).</summary>
    private static float[][] Unpack(byte[] packed, int count)
    {
        var floats = MemoryMarshal.Cast<byte, float>(packed);
        if (count == 0 || floats.Length % count != 0)
        {
            return [];
        }

        var width = floats.Length / count;
        var vectors = new float[count][];
        for (var i = 0; i < vectors.Length; i++)
        {
            vectors[i] = floats.Slice(i * width, width).ToArray();
        }

        return vectors;
    }

    /// <summary>A profile in Redis: <see cref="Packed"/> (format 2) or <see cref="Vectors"/> (format 1) holds the interest vectors.</summary>
    private sealed record ProfileRecord(
        string SubscriberId,
        IReadOnlyList<string> Interests,
        IReadOnlyList<float[]>? Vectors,
        byte[]? Packed,
        string Cadence,
        double InstantThreshold,
        DateTimeOffset ChangedAt);
}
