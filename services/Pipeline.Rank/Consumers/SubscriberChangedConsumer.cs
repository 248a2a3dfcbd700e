using Grpc.Core;
using MassTransit;
using Pipeline.Contracts.Messages;
using Pipeline.Rank.Ranking;
using Pipeline.Rank.Ranking.Relevance;
using Pipeline.Rank.Storage;
using Pipeline.ServiceDefaults.Messaging;

namespace Pipeline.Rank.Consumers;

/// <summary>
/// Keeps a profile for every active subscriber: their interests embedded through the embed service.
/// Changes older than the one already applied are ignored, so redelivery and reordering are harmless.
/// </summary>
/// <remarks>
/// Two changes of one subscriber can be consumed at once, and an active one waits for embed in
/// between its read of the stored change and its write. So the write is conditional in Redis (the
/// profile or the tombstone, the preferences and <c>rank:subscribers</c> in one transaction, made
/// only if no later change is stored: <see cref="RankStore.SaveProfileAsync"/>), and memory is
/// changed under a per-subscriber lock held across that write, so it follows Redis's order: a
/// change that finished first is not overwritten by an older one that embedded slower, and an
/// unsubscribe is not undone by an older "active".
/// </remarks>
public sealed class SubscriberChangedConsumer(
    RankStore store, FeedbackStore feedbackStore, Feedback feedback, ProfileIndex profiles, TextEmbedder embedder, IConfiguration configuration,
    StartupGate startup, KeptRankings keptRankings, OutageRetry? outages = null)
    : IConsumer<SubscriberChanged>
{
    private static readonly StripedLocks Subscribers = new();

    // Waits out an outage of rank's Redis (BusRetry) instead of parking the message in the error queue.
    public Task Consume(ConsumeContext<SubscriberChanged> context) => outages is null
        ? ApplyAsync(context.Message, context.CancellationToken)
        : outages.RunAsync(context, () => ApplyAsync(context.Message, context.CancellationToken), $"SubscriberChanged of {context.Message.SubscriberId}");

    /// <summary>What consuming <paramref name="message"/> does (for tests: no bus needed).</summary>
    internal async Task ApplyAsync(SubscriberChanged message, CancellationToken cancellationToken)
    {
        // Not before the load: the loaded (older) profile would otherwise replace this change in memory.
        await startup.WaitAsync(cancellationToken);
        // A change already overtaken costs no embedding; the conditional save below decides.
        if (await store.ProfileChangedAtAsync(message.SubscriberId) is { } applied && applied > message.ChangedAt)
        {
            return;
        }

        if (!message.Active)
        {
            using (await Subscribers.EnterAsync(message.SubscriberId.GetHashCode(StringComparison.Ordinal), cancellationToken))
            {
                if (!await store.DeleteProfileAsync(message.SubscriberId, message.ChangedAt, tx => feedbackStore.Forget(tx, message.SubscriberId)))
                {
                    return;
                }

                profiles.Remove(message.SubscriberId, message.ChangedAt);
                feedback.Forget(message.SubscriberId);
                keptRankings.Forget(message.SubscriberId);
            }

            return;
        }

        var interests = (message.Interests ?? []).Where(i => !string.IsNullOrWhiteSpace(i)).Select(i => i.Trim()).ToArray();
        var vectors = await EmbedWaitingForEmbedAsync(interests, cancellationToken);
        var threshold = message.InstantThreshold > 0 ? message.InstantThreshold : configuration.GetValue("Ranking:DefaultInstantThreshold", 0.5);
        var profile = new SubscriberProfile(message.SubscriberId, interests, vectors, message.Cadence, threshold, message.ChangedAt);
        var preferences = new ProfilePreferences(
            Bounded((message.SeedPaperIds ?? []).Select(Pipeline.Contracts.PaperIds.Canonical).Distinct().ToArray()), Bounded(message.Authors), Bounded(message.Categories));
        using (await Subscribers.EnterAsync(message.SubscriberId.GetHashCode(StringComparison.Ordinal), cancellationToken))
        {
            if (!await store.SaveProfileAsync(profile, tx => feedbackStore.SavePreferences(tx, message.SubscriberId, preferences)))
            {
                return;
            }

            if (profiles.Upsert(profile))
            {
                feedback.SetPreferences(message.SubscriberId, preferences);
            }
        }
    }

    /// <summary>
    /// How long one attempt at a change waits for an embed service that does not answer
    /// (restarting, or not up yet): longer than embed takes to start. The consumers' outage waits
    /// (OutageRetry) repeat the attempt within the consumer watchdog's patience.
    /// </summary>
    internal TimeSpan EmbedPatience { get; set; } = TimeSpan.FromSeconds(30);

    private async Task<IReadOnlyList<float[]>> EmbedWaitingForEmbedAsync(string[] interests, CancellationToken cancellationToken)
    {
        var until = DateTime.UtcNow + EmbedPatience;
        var wait = TimeSpan.FromMilliseconds(500);
        while (true)
        {
            try
            {
                return await embedder.EmbedAsync(interests, cancellationToken);
            }
            catch (RpcException e) when (e.StatusCode == StatusCode.Unavailable && DateTime.UtcNow + wait < until)
            {
                await Task.Delay(wait, cancellationToken);
                wait = TimeSpan.FromTicks(Math.Min(wait.Ticks * 2, TimeSpan.FromSeconds(5).Ticks));
            }
        }
    }

    private static string[] Bounded(IReadOnlyList<string>? values) =>
        (values ?? []).Select(v => v.Trim()).Where(v => v.Length is > 0 and <= 200).Distinct().Take(50).ToArray();
}
