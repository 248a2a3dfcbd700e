using MassTransit;
using Pipeline.Contracts.Messages;
using Pipeline.Rank.Ranking;
using Pipeline.Rank.Storage;

namespace Pipeline.Rank.Consumers;

/// <summary>Remembers what each subscriber was sent, so Recommend leaves it out next time.</summary>
public sealed class DigestSentConsumer(FeedbackStore store, Feedback feedback, StartupGate startup) : IConsumer<DigestSent>
{
    public async Task Consume(ConsumeContext<DigestSent> context)
    {
        await startup.WaitAsync(context.CancellationToken);
        await store.SaveSentAsync(context.Message.SubscriberId, context.Message.PaperIds);
        feedback.MarkSent(context.Message.SubscriberId, context.Message.PaperIds);
    }
}
