using MassTransit;
using Pipeline.Contracts.Messages;
using Pipeline.Rank.Ranking;
using Pipeline.Rank.Storage;
using Pipeline.ServiceDefaults.Messaging;

namespace Pipeline.Rank.Consumers;

/// <summary>Remembers what each subscriber was sent, so Recommend leaves it out next time.</summary>
public sealed class DigestSentConsumer(FeedbackStore store, Feedback feedback, StartupGate startup, OutageRetry outages) : IConsumer<DigestSent>
{
    public async Task Consume(ConsumeContext<DigestSent> context)
    {
        // Waits out an outage of rank's Redis (BusRetry) instead of parking the message in the error queue.
        await outages.RunAsync(context, async () =>
        {
            await startup.WaitAsync(context.CancellationToken);
            await store.SaveSentAsync(context.Message.SubscriberId, context.Message.PaperIds);
            feedback.MarkSent(context.Message.SubscriberId, context.Message.PaperIds);
        }, $"DigestSent of {context.Message.SubscriberId}");
    }
}
