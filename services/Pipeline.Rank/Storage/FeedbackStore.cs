using System.Globalization;
using System.Text.Json;
using Pipeline.Rank.Ranking;
using StackExchange.Redis;

namespace Pipeline.Rank.Storage;

/// <summary>
/// Votes (<c>rank:votes:{paper}</c>: voter → ±1), what each subscriber was sent
/// (<c>rank:sent:{subscriber}</c>), profile preferences (<c>rank:prefs:{subscriber}</c>) and the
/// daily count of instant alerts (<c>rank:alerts:{subscriber}:{day}</c>) in rank's Redis.
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

    /// <summary>Counts one more instant alert for the subscriber today (UTC) and returns the count.</summary>
    public async Task<long> CountAlertAsync(string subscriberId, DateTimeOffset now)
    {
        var key = $"rank:alerts:{subscriberId}:{now.UtcDateTime.ToString("yyyy-MM-dd", CultureInfo.InvariantCulture)}";
        var count = await redis.StringIncrementAsync(key);
        if (count == 1)
        {
            await redis.KeyExpireAsync(key, TimeSpan.FromDays(2));
        }

        return count;
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
