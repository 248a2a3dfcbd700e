using StackExchange.Redis;

namespace Pipeline.Notify.Storage;

/// <summary>
/// The trace each paper came in with (W3C traceparent), as notify saw it on a PaperMatched, so a
/// digest's spans can link to the traces of its papers when rank's answer does not carry them.
/// Kept 30 days: older papers do not reach digests.
/// </summary>
public sealed class PaperTraceStore(IDatabase redis)
{
    private static readonly TimeSpan Keep = TimeSpan.FromDays(30);

    public Task RememberAsync(string paperId, string traceParent) =>
        redis.StringSetAsync(Key(paperId), traceParent, Keep, When.NotExists);

    public async Task<IReadOnlyDictionary<string, string>> FindAsync(IReadOnlyList<string> paperIds)
    {
        if (paperIds.Count == 0)
        {
            return new Dictionary<string, string>();
        }

        var values = await redis.StringGetAsync(paperIds.Select(id => (RedisKey)Key(id)).ToArray());
        return paperIds.Zip(values).Where(p => !p.Second.IsNullOrEmpty).ToDictionary(p => p.First, p => p.Second.ToString());
    }

    private static string Key(string paperId) => $"notify:paper-trace:{paperId}";
}
