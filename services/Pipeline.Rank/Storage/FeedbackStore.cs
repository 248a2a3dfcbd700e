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

    /// <summary>What <see cref="LoadIntoAsync"/> read.</summary>
    public readonly record struct Loaded(int VotedPapers, int SentSubscribers, long SentPapers, int PreferenceSubscribers);

    /// <summary>
    /// Loads every vote, sent paper and preference. Keys are read <see cref="LoadBatch"/> at a time,
    /// all of a batch in flight at once on the one connection (not one round trip each: 10,000
    /// subscribers' histories took seconds that way), and sent papers become paper numbers straight
    /// from the bytes Redis sent, without a string each (a month of digests is millions of ids).
    /// </summary>
    public async Task<Loaded> LoadIntoAsync(Feedback feedback)
    {
        var votedPapers = await redis.SetMembersAsync(VotedPapers);
        foreach (var batch in votedPapers.Chunk(LoadBatch))
        {
            var votes = await Task.WhenAll(batch.Select(paper => redis.HashGetAllAsync($"rank:votes:{paper}")));
            for (var i = 0; i < batch.Length; i++)
            {
                var paperId = batch[i].ToString();
                foreach (var vote in votes[i])
                {
                    feedback.Vote(paperId, vote.Name.ToString(), (int)vote.Value);
                }
            }
        }

        var sentSubscribers = await redis.SetMembersAsync(SentSubscribers);
        var sentPapers = 0L;
        var ordinals = new List<int>();
        var text = new char[MaxIdBytes];
        foreach (var batch in sentSubscribers.Chunk(LoadBatch))
        {
            var histories = await Task.WhenAll(batch.Select(subscriber => redis.SetMembersAsync($"rank:sent:{subscriber}")));
            for (var i = 0; i < batch.Length; i++)
            {
                ordinals.Clear();
                foreach (var paper in histories[i])
                {
                    ordinals.Add(OrdinalOf(paper, text));
                }

                sentPapers += ordinals.Count;
                feedback.MarkSent(batch[i].ToString(), System.Runtime.InteropServices.CollectionsMarshal.AsSpan(ordinals));
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

        return new Loaded(votedPapers.Length, sentSubscribers.Length, sentPapers, preferenceSubscribers.Length);
    }

    /// <summary>Keys read at once by <see cref="LoadIntoAsync"/>.</summary>
    private const int LoadBatch = 256;

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

/// <summary>Loads votes, sent papers and preferences at start, beside the index.</summary>
public sealed class FeedbackLoader(FeedbackStore store, Feedback feedback, ILogger<FeedbackLoader> logger) : IHostedService
{
    public async Task StartAsync(CancellationToken cancellationToken)
    {
        var started = System.Diagnostics.Stopwatch.GetTimestamp();
        var allocatedBefore = GC.GetTotalAllocatedBytes();
        var loaded = await store.LoadIntoAsync(feedback);
        var allocated = GC.GetTotalAllocatedBytes() - allocatedBefore;
        logger.LogInformation(
            "Loaded feedback from Redis in {Milliseconds} ms: votes on {VotedPapers} papers, {SentPapers} papers sent to {SentSubscribers} subscribers, preferences of {PreferenceSubscribers} subscribers; {AllocatedMegabytes} MB allocated",
            (long)System.Diagnostics.Stopwatch.GetElapsedTime(started).TotalMilliseconds, loaded.VotedPapers, loaded.SentPapers, loaded.SentSubscribers, loaded.PreferenceSubscribers, allocated / 1_000_000);
        // Months of digests are millions of ids read (each a buffer of Redis's bytes): as after the
        // index load, hand that garbage's pages back now rather than serve with them resident.
        if (allocated > CompactAfterBytes)
        {
            GC.Collect(GC.MaxGeneration, GCCollectionMode.Aggressive, blocking: true, compacting: true);
        }
    }

    /// <summary>A load that allocated more than this is followed by a compacting collection.</summary>
    private const long CompactAfterBytes = 64L << 20;

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
}
