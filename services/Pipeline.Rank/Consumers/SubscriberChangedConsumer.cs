using MassTransit;
using Pipeline.Contracts.Messages;
using Pipeline.Rank.Ranking;
using Pipeline.Rank.Storage;

namespace Pipeline.Rank.Consumers;

/// <summary>
/// Keeps a profile for every active subscriber: their interests embedded through the embed service.
/// Changes older than the one already applied are ignored, so redelivery and reordering are harmless.
/// </summary>
public sealed class SubscriberChangedConsumer(RankStore store, ProfileIndex profiles, TextEmbedder embedder, IConfiguration configuration)
    : IConsumer<SubscriberChanged>
{
    public async Task Consume(ConsumeContext<SubscriberChanged> context)
    {
        var message = context.Message;
        if (await store.ProfileChangedAtAsync(message.SubscriberId) is { } applied && applied > message.ChangedAt)
        {
            return;
        }

        if (!message.Active)
        {
            await store.DeleteProfileAsync(message.SubscriberId, message.ChangedAt);
            profiles.Remove(message.SubscriberId);
            return;
        }

        var interests = message.Interests.Where(i => !string.IsNullOrWhiteSpace(i)).Select(i => i.Trim()).ToArray();
        var vectors = await embedder.EmbedAsync(interests, context.CancellationToken);
        var threshold = message.InstantThreshold > 0 ? message.InstantThreshold : configuration.GetValue("Ranking:DefaultInstantThreshold", 0.5);
        var profile = new SubscriberProfile(message.SubscriberId, interests, vectors, message.Cadence, threshold, message.ChangedAt);
        await store.SaveProfileAsync(profile);
        profiles.Upsert(profile);
    }
}
