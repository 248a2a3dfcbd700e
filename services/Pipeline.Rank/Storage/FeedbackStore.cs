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
        SavePreferences(tx, subscriberId, preferences);
        return tx.ExecuteAsync();
    }

    /// <summary>Adds the writes of <see cref="SavePreferencesAsync"/> to <paramref name="tx"/> (a profile's conditional save).</summary>
    public void SavePreferences(ITransaction tx, string subscriberId, ProfilePreferences preferences)
    {
        _ = tx.StringSetAsync($"rank:prefs:{subscriberId}", JsonSerializer.Serialize(preferences, Json));
        _ = tx.SetAddAsync(PreferenceSubscribers, subscriberId);
    }

    public Task ForgetAsync(string subscriberId)
    {
        var tx = redis.CreateTransaction();
        Forget(tx, subscriberId);
        return tx.ExecuteAsync();
    }

    /// <summary>Adds the writes of <see cref="ForgetAsync"/> to <paramref name="tx"/> (an unsubscribe's conditional tombstone).</summary>
    public void Forget(ITransaction tx, string subscriberId)
    {
        _ = tx.KeyDeleteAsync([$"rank:prefs:{subscriberId}", $"rank:sent:{subscriberId}"]);
        _ = tx.SetRemoveAsync(PreferenceSubscribers, subscriberId);
        _ = tx.SetRemoveAsync(SentSubscribers, subscriberId);
    }

    // Atomic, so two papers matched at once cannot both take the day's last alert. KEYS[2] is the
    // day before: a paper counted then (its alert published, the crash before it was marked, the
    // redelivery after midnight) is not counted again against the new day's alerts.
    private const string TakeAlertScript = """
        if redis.call('SISMEMBER', KEYS[1], ARGV[1]) == 1 or redis.call('SISMEMBER', KEYS[2], ARGV[1]) == 1 then return 1 end
        if redis.call('SCARD', KEYS[1]) >= tonumber(ARGV[2]) then return 0 end
        redis.call('SADD', KEYS[1], ARGV[1])
        redis.call('EXPIRE', KEYS[1], ARGV[3])
        return 1
        """;

    /// <summary>
    /// Whether an instant alert of <paramref name="paperId"/> fits the subscriber's
    /// <paramref name="perDay"/> alerts of today (UTC); if so it is counted. The same paper is
    /// counted once however often it is asked for (a redelivered or retried <c>PaperEmbedded</c>),
    /// so a retry does not use up another of the day's alerts, also when it comes after midnight
    /// for a paper counted the day before; a paper over the limit is not remembered, so a day holds
    /// at most <paramref name="perDay"/> ids per subscriber.
    /// </summary>
    public async Task<bool> TryTakeAlertAsync(string subscriberId, string paperId, int perDay, DateTimeOffset now)
    {
        if (perDay <= 0)
        {
            return false;
        }

        var key = AlertedKey(subscriberId, now.UtcDateTime);
        // Kept a day past its own, so a day's count is never read back from an expired key (and
        // the next day can ask it which papers were counted).
        var taken = await redis.ScriptEvaluateAsync(
            TakeAlertScript, [key, AlertedKey(subscriberId, now.UtcDateTime.AddDays(-1))], [paperId, perDay, (long)TimeSpan.FromDays(2).TotalSeconds]);
        return (long)taken == 1;
    }

    private static string AlertedKey(string subscriberId, DateTime utc) =>
        $"rank:alerted:{subscriberId}:{utc.ToString("yyyy-MM-dd", CultureInfo.InvariantCulture)}";

    /// <summary>What <see cref="LoadVotesAndPreferencesAsync"/> read.</summary>
    public readonly record struct Loaded(int VotedPapers, int PreferenceSubscribers, int SkippedVotes);

    /// <summary>
    /// Loads every vote and preference (what subscribers were sent is loaded by
    /// <see cref="SentHistoryLoader"/>). Keys are read <see cref="LoadBatch"/> at a time, all of a
    /// batch in flight at once on the one connection, not one round trip each.
    /// </summary>
    public async Task<Loaded> LoadVotesAndPreferencesAsync(Feedback feedback)
    {
        var votedPapers = await redis.SetMembersAsync(VotedPapers);
        var skipped = 0;
        foreach (var batch in votedPapers.Chunk(LoadBatch))
        {
            var votes = await Task.WhenAll(batch.Select(paper => redis.HashGetAllAsync($"rank:votes:{paper}")));
            for (var i = 0; i < batch.Length; i++)
            {
                var paperId = batch[i].ToString();
                foreach (var vote in votes[i])
                {
                    // Rank writes only +1 and -1; anything else (a hand edit) is skipped, not fatal to the load.
                    if (vote.Value.TryParse(out int value) && value is -1 or 1)
                    {
                        feedback.Vote(paperId, vote.Name.ToString(), value);
                    }
                    else
                    {
                        skipped++;
                    }
                }
            }
        }

        var preferenceSubscribers = await redis.SetMembersAsync(PreferenceSubscribers);
        foreach (var batch in preferenceSubscribers.Chunk(LoadBatch))
        {
            var preferences = await Task.WhenAll(batch.Select(subscriber => redis.StringGetAsync($"rank:prefs:{subscriber}")));
            for (var i = 0; i < batch.Length; i++)
            {
                if (!preferences[i].IsNullOrEmpty)
                {
                    feedback.SetPreferences(batch[i].ToString(), JsonSerializer.Deserialize<ProfilePreferences>(preferences[i].ToString(), Json)!);
                }
            }
        }

        return new Loaded(votedPapers.Length, preferenceSubscribers.Length, skipped);
    }

    /// <summary>Every subscriber who was ever sent a paper.</summary>
    public async Task<string[]> SentSubscribersAsync() =>
        (await redis.SetMembersAsync(SentSubscribers)).Select(s => s.ToString()).ToArray();

    /// <summary>
    /// Marks what <paramref name="subscriberId"/> was sent, as stored, in <paramref name="feedback"/>;
    /// returns how many papers. Paper ids become paper numbers straight from the bytes Redis sent,
    /// without a string each (months of digests are millions of ids).
    /// </summary>
    public async Task<int> LoadSentAsync(string subscriberId, Feedback feedback)
    {
        var sent = await redis.SetMembersAsync($"rank:sent:{subscriberId}");
        if (sent.Length == 0)
        {
            return 0;
        }

        var ordinals = new int[sent.Length];
        var text = new char[MaxIdBytes];
        for (var i = 0; i < sent.Length; i++)
        {
            ordinals[i] = OrdinalOf(sent[i], text);
        }

        feedback.MarkSent(subscriberId, ordinals);
        return ordinals.Length;
    }

    /// <summary>Keys read at once by a load.</summary>
    public const int LoadBatch = 256;

    /// <summary>Paper ids longer than this (in UTF-8) are read as strings.</summary>
    private const int MaxIdBytes = 256;

    /// <summary>A paper id as Redis sent it (UTF-8) to its number, without a string unless the id is new.</summary>
    private static int OrdinalOf(RedisValue paperId, char[] text)
    {
        ReadOnlyMemory<byte> bytes = paperId;
        if (bytes.Length > MaxIdBytes)
        {
            return PaperOrdinals.Of(paperId.ToString());
        }

        var length = System.Text.Encoding.UTF8.GetChars(bytes.Span, text);
        return PaperOrdinals.Of(text.AsSpan(0, length));
    }
}

/// <summary>
/// Loads votes and preferences at start, beside the index, and starts loading what each subscriber
/// was sent in the background (<see cref="SentHistoryLoader"/>): months of digests are millions of
/// papers, seconds of loading that rank need not wait for.
/// </summary>
public sealed class FeedbackLoader(FeedbackStore store, Feedback feedback, SentHistoryLoader sentHistory, ILogger<FeedbackLoader> logger) : IHostedService
{
    private readonly CancellationTokenSource _stopping = new();

    public async Task StartAsync(CancellationToken cancellationToken)
    {
        var started = System.Diagnostics.Stopwatch.GetTimestamp();
        var loaded = await store.LoadVotesAndPreferencesAsync(feedback);
        logger.LogInformation(
            "Loaded feedback from Redis in {Milliseconds} ms: votes on {VotedPapers} papers ({SkippedVotes} not +1 or -1 skipped), preferences of {PreferenceSubscribers} subscribers",
            (long)System.Diagnostics.Stopwatch.GetElapsedTime(started).TotalMilliseconds, loaded.VotedPapers, loaded.SkippedVotes, loaded.PreferenceSubscribers);
        _ = Task.Run(() => sentHistory.LoadAllAsync(_stopping.Token), CancellationToken.None);
    }

    public async Task StopAsync(CancellationToken cancellationToken)
    {
        await _stopping.CancelAsync();
    }
}
