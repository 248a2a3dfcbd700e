using StackExchange.Redis;

namespace Pipeline.Notify.Storage;

/// <summary>
/// When each digest subscriber's next digest is due: the sorted set <c>notify:digest-due</c>
/// (member: subscriber id, score: due time in Unix milliseconds), so a scheduler tick reads only the
/// subscribers that are due instead of scanning all of them.
/// </summary>
public sealed class DigestSchedule(IDatabase redis)
{
    private const string Key = "notify:digest-due";

    public Task SetAsync(string subscriberId, DateTimeOffset due) =>
        redis.SortedSetAddAsync(Key, subscriberId, due.ToUnixTimeMilliseconds());

    public Task RemoveAsync(string subscriberId) => redis.SortedSetRemoveAsync(Key, subscriberId);

    public async Task<DateTimeOffset?> GetAsync(string subscriberId) =>
        await redis.SortedSetScoreAsync(Key, subscriberId) is { } score ? DateTimeOffset.FromUnixTimeMilliseconds((long)score) : null;

    /// <summary>Up to <paramref name="limit"/> subscribers due at or before <paramref name="now"/>, the most overdue first.</summary>
    public async Task<IReadOnlyList<string>> DueAsync(DateTimeOffset now, int limit)
    {
        var members = await redis.SortedSetRangeByScoreAsync(Key, double.NegativeInfinity, now.ToUnixTimeMilliseconds(), take: limit);
        return members.Select(m => m.ToString()).ToArray();
    }
}
