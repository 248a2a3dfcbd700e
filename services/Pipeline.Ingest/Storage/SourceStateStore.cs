using System.Globalization;
using System.Text.Json;
using StackExchange.Redis;

namespace Pipeline.Ingest.Storage;

/// <summary>
/// Each source's cursor and last run in ingest's Redis, so a restart resumes where polling
/// stopped. <c>ingest:source:{name}</c> is a hash (cursor, last run, its counts, last error);
/// <c>ingest:source:{name}:rejections</c> and <c>ingest:source:{name}:bodies</c> are capped lists,
/// newest first, of rejected entries and of bodies that failed to parse (JSON each).
/// </summary>
public sealed class SourceStateStore(IDatabase redis)
{
    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web);

    public static RedisKey StateKey(string source) => $"ingest:source:{source}";

    public static RedisKey RejectionsKey(string source) => $"ingest:source:{source}:rejections";

    public static RedisKey BodiesKey(string source) => $"ingest:source:{source}:bodies";

    public async Task<string?> GetCursorAsync(string source) =>
        (string?)await redis.HashGetAsync(StateKey(source), "cursor");

    public Task SaveCursorAsync(string source, string cursor) =>
        redis.HashSetAsync(StateKey(source), "cursor", cursor);

    public async Task RecordRunAsync(string source, SourceRun run)
    {
        var fields = new List<HashEntry>
        {
            new("last_run", run.StartedAt.ToUnixTimeMilliseconds()),
            new("last_run_ok", run.Error is null ? 1 : 0),
            new("new", run.Counts.New),
            new("updated", run.Counts.Updated),
            new("duplicate", run.Counts.Duplicate),
            new("rejected", run.Counts.Rejected),
            new("skipped", run.Counts.Skipped),
        };
        if (run.Error is null)
        {
            fields.Add(new("last_success", run.StartedAt.ToUnixTimeMilliseconds()));
        }
        else
        {
            fields.Add(new("last_error", run.Error));
            fields.Add(new("last_error_at", run.StartedAt.ToUnixTimeMilliseconds()));
        }

        await redis.HashSetAsync(StateKey(source), fields.ToArray());
    }

    public async Task AddRejectionsAsync(string source, IEnumerable<SourceRejectionRecord> rejections, int keep)
    {
        // Only the newest `keep` are kept: the older ones of a long list are not serialised at all.
        var values = rejections.TakeLast(Math.Max(1, keep)).Select(r => (RedisValue)JsonSerializer.Serialize(r, Json)).ToArray();
        if (values.Length == 0)
        {
            return;
        }

        var batch = redis.CreateBatch();
        var push = batch.ListLeftPushAsync(RejectionsKey(source), values);
        var trim = batch.ListTrimAsync(RejectionsKey(source), 0, keep - 1);
        batch.Execute();
        await Task.WhenAll(push, trim);
    }

    public async Task KeepBodyAsync(string source, KeptBodyRecord body, int keep)
    {
        var batch = redis.CreateBatch();
        var push = batch.ListLeftPushAsync(BodiesKey(source), JsonSerializer.Serialize(body, Json));
        var trim = batch.ListTrimAsync(BodiesKey(source), 0, keep - 1);
        batch.Execute();
        await Task.WhenAll(push, trim);
    }

    public async Task<SourceState> GetAsync(string source, int rejections)
    {
        var batch = redis.CreateBatch();
        var hash = batch.HashGetAllAsync(StateKey(source));
        var rejected = batch.ListRangeAsync(RejectionsKey(source), 0, rejections - 1);
        var bodies = batch.ListRangeAsync(BodiesKey(source), 0, -1);
        batch.Execute();
        await Task.WhenAll(hash, rejected, bodies);

        var map = (await hash).ToDictionary(f => f.Name.ToString(), f => f.Value);
        DateTimeOffset? Time(string field) => map.TryGetValue(field, out var v) && long.TryParse(v.ToString(), NumberStyles.Integer, CultureInfo.InvariantCulture, out var ms)
            ? DateTimeOffset.FromUnixTimeMilliseconds(ms)
            : null;
        int Count(string field) => map.TryGetValue(field, out var v) && v.TryParse(out int n) ? n : 0;

        return new SourceState(
            source,
            map.TryGetValue("cursor", out var cursor) ? cursor.ToString() : null,
            Time("last_run"),
            map.TryGetValue("last_run_ok", out var ok) && ok == 1,
            Time("last_success"),
            new SourceCounts(Count("new"), Count("updated"), Count("duplicate"), Count("rejected"), Count("skipped")),
            map.TryGetValue("last_error", out var error) ? error.ToString() : null,
            Time("last_error_at"),
            (await rejected).Select(r => JsonSerializer.Deserialize<SourceRejectionRecord>(r.ToString(), Json)!).ToArray(),
            (await bodies).Select(b => JsonSerializer.Deserialize<KeptBodyRecord>(b.ToString(), Json)!).ToArray());
    }
}

/// <summary>Papers of one run by what intake made of them.</summary>
public sealed record SourceCounts(int New, int Updated, int Duplicate, int Rejected, int Skipped)
{
    public static SourceCounts Zero { get; } = new(0, 0, 0, 0, 0);
}

public sealed record SourceRun(DateTimeOffset StartedAt, SourceCounts Counts, string? Error);

public sealed record SourceRejectionRecord(DateTimeOffset At, string Entry, string Reason);

/// <param name="Size">Size of the whole body; <paramref name="Body"/> holds its start.</param>
public sealed record KeptBodyRecord(DateTimeOffset At, string Url, string Reason, long Size, string Body);

public sealed record SourceState(
    string Name,
    string? Cursor,
    DateTimeOffset? LastRun,
    bool LastRunOk,
    DateTimeOffset? LastSuccess,
    SourceCounts Counts,
    string? LastError,
    DateTimeOffset? LastErrorAt,
    IReadOnlyList<SourceRejectionRecord> Rejections,
    IReadOnlyList<KeptBodyRecord> Bodies);
