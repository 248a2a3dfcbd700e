using System.Globalization;
using System.Text.Json;
using Pipeline.Rank.Ranking;
using StackExchange.Redis;

namespace Pipeline.Rank.Storage;

/// <summary>
/// Votes (<c>rank:votes:{paper}</c>: voter → ±1), what each subscriber was sent
/// (<c>rank:sent:{subscriber}</c>), profile preferences (<c>rank:prefs:{subscriber}</c>) and the
/// papers each subscriber was alerted to on a day (<c>rank:alerted:{subscriber}:{day}</c>, for the
/// daily limit) in rank's Redis.
/// </summary>
public sealed class FeedbackStore(IDatabase redis)
{
    private const string VotedPapers = "rank:voted-papers";
    private const string SentSubscribers = "rank:sent-subscribers";
    private const string PreferenceSubscribers = "rank:prefs-subscribers";
    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web);

    public Task SaveVoteAsync(string paperId, string voterId, int value)
    {
        var tx = redis.CreateTransaction();
        _ = value == 0 ? tx.HashDeleteAsync($"rank:votes:{paperId}", voterId) : tx.HashSetAsync($"rank:votes:{paperId}", voterId, value);
        _ = tx.SetAddAsync(VotedPapers, paperId);
        return tx.ExecuteAsync();
    }

    public Task SaveSentAsync(string subscriberId, IReadOnlyList<string> paperIds)
    {
        var tx = redis.CreateTransaction();
        _ = tx.SetAddAsync($"rank:sent:{subscriberId}", paperIds.Select(p => (RedisValue)p).ToArray());
        _ = tx.SetAddAsync(SentSubscribers, subscriberId);
        return tx.ExecuteAsync();
    }

    public Task SavePreferencesAsync(string subscriberId, ProfilePreferences preferences)
    {
        var tx = redis.CreateTransaction();
        _ = tx.StringSetAsync($"rank:prefs:{subscriberId}", JsonSerializer.Serialize(preferences, Json));
        _ = tx.SetAddAsync(PreferenceSubscribers, subscriberId);
        return tx.ExecuteAsync();
    }

    public Task ForgetAsync(string subscriberId)
    {
        var tx = redis.CreateTransaction();
        _ = tx.KeyDeleteAsync([$"rank:prefs:{subscriberId}", $"rank:sent:{subscriberId}"]);
        _ = tx.SetRemoveAsync(PreferenceSubscribers, subscriberId);
        _ = tx.SetRemoveAsync(SentSubscribers, subscriberId);
        return tx.ExecuteAsync();
    }

    // Atomic, so two papers matched at once cannot both take the day's last alert.
    private const string TakeAlertScript = """
        if redis.call('SISMEMBER', KEYS[1], ARGV[1]) == 1 then return 1 end
        if redis.call('SCARD', KEYS[1]) >= tonumber(ARGV[2]) then return 0 end
        redis.call('SADD', KEYS[1], ARGV[1])
        redis.call('EXPIRE', KEYS[1], ARGV[3])
        return 1
        """;

    /// <summary>
    /// Whether an instant alert of <paramref name="paperId"/> fits the subscriber's
    /// <paramref name="perDay"/> alerts of today (UTC); if so it is counted. The same paper is
    /// counted once however often it is asked for (a redelivered or retried <c>PaperEmbedded</c>),
    /// so a retry does not use up another of the day's alerts; a paper over the limit is not
    /// remembered, so a day holds at most <paramref name="perDay"/> ids per subscriber.
    /// </summary>
    public async Task<bool> TryTakeAlertAsync(string subscriberId, string paperId, int perDay, DateTimeOffset now)
    {
        if (perDay <= 0)
        {
            return false;
        }

        var key = $"rank:alerted:{subscriberId}:{now.UtcDateTime.ToString("yyyy-MM-dd", CultureInfo.InvariantCulture)}";
        // Kept a day past its own, so a day's count is never read back from an expired key.
        var taken = await redis.ScriptEvaluateAsync(
            TakeAlertScript, [key], [paperId, perDay, (long)TimeSpan.FromDays(2).TotalSeconds]);
        return (long)taken == 1;
    }

    public async Task LoadIntoAsync(Feedback feedback)
    {
        foreach (var paper in await redis.SetMembersAsync(VotedPapers))
        {
            foreach (var vote in await redis.HashGetAllAsync($"rank:votes:{paper}"))
            {
                feedback.Vote(paper.ToString(), vote.Name.ToString(), (int)vote.Value);
            }
        }

        foreach (var subscriber in await redis.SetMembersAsync(SentSubscribers))
        {
            var sent = await redis.SetMembersAsync($"rank:sent:{subscriber}");
            feedback.MarkSent(subscriber.ToString(), sent.Select(s => s.ToString()));
        }

        foreach (var subscriber in await redis.SetMembersAsync(PreferenceSubscribers))
        {
            var json = await redis.StringGetAsync($"rank:prefs:{subscriber}");
            if (!json.IsNullOrEmpty)
            {
                feedback.SetPreferences(subscriber.ToString(), JsonSerializer.Deserialize<ProfilePreferences>(json.ToString(), Json)!);
            }
        }
    }
}

/// <summary>Loads votes, sent papers and preferences at start, beside the index.</summary>
public sealed class FeedbackLoader(FeedbackStore store, Feedback feedback) : IHostedService
{
    public Task StartAsync(CancellationToken cancellationToken) => store.LoadIntoAsync(feedback);

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
}
