using System.Collections.Concurrent;
using Grpc.Core;
using Microsoft.Extensions.Configuration;
using Pipeline.Contracts.Embed.V1;
using Pipeline.Contracts.Messages;
using Pipeline.Rank.Consumers;
using Pipeline.Rank.Ranking;
using Pipeline.Rank.Ranking.Relevance;
using Pipeline.Rank.Storage;

namespace Pipeline.Rank.Tests.Storage;

/// <summary>
/// Two <c>SubscriberChanged</c> of one subscriber consumed at once, the older one waiting for embed
/// while the newer one is applied: the newer one stays, in Redis and in memory.
/// </summary>
public class When_a_subscriber_changes_twice_at_once(RedisFixture redis) : IClassFixture<RedisFixture>
{
    private static readonly DateTimeOffset T1 = new(2026, 11, 5, 9, 0, 0, TimeSpan.Zero);
    private static readonly DateTimeOffset T2 = T1.AddMinutes(1);

    private static SubscriberChanged Change(bool active, string interest, string author, DateTimeOffset at) =>
        new("ada", active, active ? [interest] : [], active ? "instant" : "none", 0.5, at) { Authors = active ? [author] : [] };

    private sealed class RankState
    {
        public RankState(RedisFixture redis)
        {
            var db = redis.NewDatabase();
            Store = new RankStore(db);
            FeedbackStore = new FeedbackStore(db);
            var startup = new StartupGate();
            startup.StartAsync(CancellationToken.None).GetAwaiter().GetResult();
            Consumer = new SubscriberChangedConsumer(
                Store, FeedbackStore, Feedback, Profiles, new TextEmbedder(Embed), new ConfigurationBuilder().Build(), startup,
                new KeptRankings(new RelevanceRanker(new PaperIndex()), 100));
        }

        public RankStore Store { get; }

        public FeedbackStore FeedbackStore { get; }

        public Feedback Feedback { get; } = new();

        public ProfileIndex Profiles { get; } = new();

        public HeldEmbedClient Embed { get; } = new();

        public SubscriberChangedConsumer Consumer { get; }

        /// <summary>Applies <paramref name="older"/> up to its embedding, all of <paramref name="newer"/>, then the rest of <paramref name="older"/>.</summary>
        public async Task OvertakenAsync(SubscriberChanged older, SubscriberChanged newer)
        {
            var (asked, answer) = Embed.Hold(older.Interests[0]);
            var slow = Consumer.ApplyAsync(older, CancellationToken.None);
            await asked.Task.WaitAsync(TimeSpan.FromSeconds(10));
            await Consumer.ApplyAsync(newer, CancellationToken.None).WaitAsync(TimeSpan.FromSeconds(10));
            answer.SetResult();
            await slow.WaitAsync(TimeSpan.FromSeconds(10));
        }

        /// <summary>The profiles and preferences a restarted rank loads from Redis.</summary>
        public async Task<(ProfileIndex Profiles, Feedback Feedback)> RestartedAsync()
        {
            var profiles = new ProfileIndex();
            profiles.UpsertMany(await Store.LoadProfilesAsync().ToListAsync());
            var feedback = new Feedback();
            await FeedbackStore.LoadVotesAndPreferencesAsync(feedback);
            return (profiles, feedback);
        }
    }

    /// <summary>Instant alerts for a paper on quantum error correction by Grace Hopper.</summary>
    private static IReadOnlyList<InstantMatch> Alerts(ProfileIndex profiles, Feedback feedback)
    {
        var paper = new PaperSummary("2611.00007", 1, "Quantum error correction with surface codes", "", ["Grace Hopper"], ["quant-ph"], T1, "", "api", 0);
        return new InstantMatcher(profiles, null, null, feedback).Match(HeldEmbedClient.VectorOf("quantum error correction"), paper);
    }

    [Fact]
    public async Task An_unsubscribe_applied_first_is_not_undone_by_an_older_change_still_embedding()
    {
        var rank = new RankState(redis);

        await rank.OvertakenAsync(Change(true, "quantum error correction", "Grace Hopper", T1), Change(false, "", "", T2));

        Assert.Null(rank.Profiles.Get("ada"));
        Assert.Empty(rank.Feedback.PreferencesOf("ada").Authors);
        Assert.Empty(Alerts(rank.Profiles, rank.Feedback));
        Assert.Equal(T2, await rank.Store.ProfileChangedAtAsync("ada"));
        var (profiles, feedback) = await rank.RestartedAsync();
        Assert.Null(profiles.Get("ada"));
        Assert.Empty(feedback.PreferencesOf("ada").Authors);
        Assert.Empty(Alerts(profiles, feedback));
    }

    [Fact]
    public async Task A_later_change_applied_first_is_not_overwritten_by_an_older_one_that_embedded_slower()
    {
        var rank = new RankState(redis);

        await rank.OvertakenAsync(Change(true, "protein folding", "Linus Pauling", T1), Change(true, "quantum error correction", "Grace Hopper", T2));

        Assert.Equal(["quantum error correction"], rank.Profiles.Get("ada")!.Interests);
        Assert.Equal(["Grace Hopper"], rank.Feedback.PreferencesOf("ada").Authors);
        Assert.Single(Alerts(rank.Profiles, rank.Feedback));
        var (profiles, feedback) = await rank.RestartedAsync();
        Assert.Equal(["quantum error correction"], profiles.Get("ada")!.Interests);
        Assert.Equal(T2, profiles.Get("ada")!.ChangedAt);
        Assert.Equal(["Grace Hopper"], feedback.PreferencesOf("ada").Authors);
    }

    [Fact]
    public async Task A_change_waits_for_an_embed_service_that_is_restarting()
    {
        var rank = new RankState(redis);
        rank.Embed.Unavailable = 3;

        await rank.Consumer.ApplyAsync(Change(true, "quantum error correction", "Grace Hopper", T1), CancellationToken.None).WaitAsync(TimeSpan.FromSeconds(20));

        Assert.Equal(["quantum error correction"], rank.Profiles.Get("ada")!.Interests);
        Assert.Single(Alerts(rank.Profiles, rank.Feedback));
    }

    [Fact]
    public async Task A_change_fails_to_the_bus_when_embed_stays_down_past_the_patience()
    {
        var rank = new RankState(redis);
        rank.Consumer.EmbedPatience = TimeSpan.FromSeconds(1);
        rank.Embed.Unavailable = 1_000;

        var error = await Assert.ThrowsAsync<RpcException>(() => rank.Consumer.ApplyAsync(Change(true, "quantum error correction", "Grace Hopper", T1), CancellationToken.None));

        Assert.Equal(StatusCode.Unavailable, error.StatusCode);
        Assert.Null(rank.Profiles.Get("ada"));
    }

    [Fact]
    public async Task A_subscriber_who_comes_back_later_is_active_again()
    {
        var rank = new RankState(redis);

        await rank.Consumer.ApplyAsync(Change(true, "protein folding", "Linus Pauling", T1), CancellationToken.None);
        await rank.Consumer.ApplyAsync(Change(false, "", "", T2), CancellationToken.None);
        await rank.Consumer.ApplyAsync(Change(true, "quantum error correction", "Grace Hopper", T2.AddMinutes(1)), CancellationToken.None);
        // The same change again (a redelivery) is applied again.
        await rank.Consumer.ApplyAsync(Change(true, "quantum error correction", "Grace Hopper", T2.AddMinutes(1)), CancellationToken.None);

        Assert.Single(Alerts(rank.Profiles, rank.Feedback));
        var (profiles, feedback) = await rank.RestartedAsync();
        Assert.Single(Alerts(profiles, feedback));
    }

    /// <summary>Embeds a text as a fixed vector of its own; a text held answers only when released.</summary>
    private sealed class HeldEmbedClient : EmbedService.EmbedServiceClient
    {
        private readonly ConcurrentDictionary<string, (TaskCompletionSource Asked, TaskCompletionSource Answer)> _held = new();

        public static float[] VectorOf(string text)
        {
            var random = new Random(text.Length * 31 + text[0]);
            return ClusteredVectors.Normalise(Enumerable.Range(0, PaperIndex.Dimensions).Select(_ => (float)random.NextDouble() - 0.5f).ToArray());
        }

        /// <summary>Holds the answer for <paramref name="text"/>: <c>Asked</c> completes when it is asked for, the answer once <c>Answer</c> is set.</summary>
        public (TaskCompletionSource Asked, TaskCompletionSource Answer) Hold(string text) =>
            _held[text] = (new(TaskCreationOptions.RunContinuationsAsynchronously), new(TaskCreationOptions.RunContinuationsAsynchronously));

        /// <summary>Calls still to be refused as UNAVAILABLE, as by an embed service that is restarting.</summary>
        public int Unavailable;

        public override AsyncUnaryCall<EmbedResponse> EmbedAsync(EmbedRequest request, Metadata? headers = null, DateTime? deadline = null, CancellationToken cancellationToken = default)
        {
            if (Interlocked.Decrement(ref Unavailable) >= 0)
            {
                throw new RpcException(new Status(StatusCode.Unavailable, "connection refused"));
            }

            var response = new EmbedResponse();
            var waits = new List<Task>();
            foreach (var text in request.Texts)
            {
                var embedding = new Embedding();
                embedding.Values.Add(VectorOf(text));
                response.Embeddings.Add(embedding);
                if (_held.TryGetValue(text, out var held))
                {
                    held.Asked.TrySetResult();
                    waits.Add(held.Answer.Task);
                }
            }

            return new AsyncUnaryCall<EmbedResponse>(
                Task.WhenAll(waits).ContinueWith(_ => response, TaskScheduler.Default), Task.FromResult(new Metadata()), () => Status.DefaultSuccess, () => [], () => { });
        }
    }
}
