using MassTransit;
using Pipeline.Contracts.Messages;
using Pipeline.Rank.Ranking;
using Pipeline.Rank.Ranking.Relevance;
using Pipeline.Rank.Storage;

namespace Pipeline.Rank.Consumers;

/// <summary>
/// Keeps a profile for every active subscriber: their interests embedded through the embed service.
/// Changes older than the one already applied are ignored, so redelivery and reordering are harmless.
/// </summary>
public sealed class SubscriberChangedConsumer(
    RankStore store, FeedbackStore feedbackStore, Feedback feedback, ProfileIndex profiles, TextEmbedder embedder, IConfiguration configuration,
    StartupGate startup, KeptRankings keptRankings)
    : IConsumer<SubscriberChanged>
{
    public async Task Consume(ConsumeContext<SubscriberChanged> context)
    {
        // Not before the load: the loaded (older) profile would otherwise replace this change in memory.
        await startup.WaitAsync(context.CancellationToken);
        var message = context.Message;
        if (await store.ProfileChangedAtAsync(message.SubscriberId) is { } applied && applied > message.ChangedAt)
        {
            return;
        }

        if (!message.Active)
        {
            await store.DeleteProfileAsync(message.SubscriberId, message.ChangedAt);
            await feedbackStore.ForgetAsync(message.SubscriberId);
            profiles.Remove(message.SubscriberId);
            feedback.Forget(message.SubscriberId);
            keptRankings.Forget(message.SubscriberId);
            return;
        }

        var interests = (message.Interests ?? []).Where(i => !string.IsNullOrWhiteSpace(i)).Select(i => i.Trim()).ToArray();
        var vectors = await embedder.EmbedAsync(interests, context.CancellationToken);
        var threshold = message.InstantThreshold > 0 ? message.InstantThreshold : configuration.GetValue("Ranking:DefaultInstantThreshold", 0.5);
        var profile = new SubscriberProfile(message.SubscriberId, interests, vectors, message.Cadence, threshold, message.ChangedAt);
        var preferences = new ProfilePreferences(
            Bounded(message.SeedPaperIds), Bounded(message.Authors), Bounded(message.Categories));
        await feedbackStore.SavePreferencesAsync(message.SubscriberId, preferences);
        await store.SaveProfileAsync(profile);
        feedback.SetPreferences(message.SubscriberId, preferences);
        profiles.Upsert(profile);
    }

    private static string[] Bounded(IReadOnlyList<string>? values) =>
        (values ?? []).Select(v => v.Trim()).Where(v => v.Length is > 0 and <= 200).Distinct().Take(50).ToArray();
}
