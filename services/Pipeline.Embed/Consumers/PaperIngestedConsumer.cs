using MassTransit;
using Pipeline.Contracts.Messages;
using Pipeline.Embed.Embedding;
using Pipeline.ServiceDefaults;
using Pipeline.ServiceDefaults.Messaging;

namespace Pipeline.Embed.Consumers;

/// <summary>
/// Embeds each ingested paper's title and abstract and publishes <see cref="PaperEmbedded"/>.
/// Idempotent: a redelivery finds the vector in the cache (or computes the same one again) and
/// publishes the same event, which rank applies idempotently.
/// </summary>
public sealed class PaperIngestedConsumer(CachedEmbedder embedder, ServiceIdentity identity, PublishDeadline publishDeadline, OutageRetry outages) : IConsumer<PaperIngested>
{
    public async Task Consume(ConsumeContext<PaperIngested> context)
    {
        Validate(context.Message);
        // A publish the broker did not confirm in time is waited out (BusRetry), not sent to the error queue.
        await outages.RunAsync(context, () => EmbedAndAnnounceAsync(context), $"PaperIngested {context.Message.Paper.Id}");
    }

    private async Task EmbedAndAnnounceAsync(ConsumeContext<PaperIngested> context)
    {
        var message = context.Message;
        var text = PaperText.Of(message.Paper.Title, message.Paper.Abstract);

        float[] vector;
        using (var activity = identity.ActivitySource.StartActivity("embed paper"))
        {
            activity?.SetTag("paper.id", message.Paper.Id);
            // Not bounded by MaxQueuedTexts: open Embed calls filling the queue must not send papers to the error queue.
            var (vectors, hits) = await embedder.EmbedAsync([text], context.CancellationToken, bounded: false);
            activity?.SetTag("embed.cache", hits > 0 ? "hit" : "miss");
            vector = vectors[0];
        }

        await context.PublishWithinAsync(new PaperEmbedded(message.Paper, message.ContentHash, message.IsUpdate, embedder.ModelId, vector, message.IngestedAt) { FirstIngestedAt = message.FirstIngestedAt },
            publishDeadline, context.CancellationToken);
    }

    /// <summary>
    /// A message that names no paper can never be embedded: an <see cref="ArgumentException"/>,
    /// which the bus's retry policy sends to the error queue at once (not after five retries that
    /// each hold a consumer slot).
    /// </summary>
    public static void Validate(PaperIngested message)
    {
        if (message.Paper is null)
        {
            throw new ArgumentException("PaperIngested without a paper: nothing to embed.");
        }

        if (string.IsNullOrWhiteSpace(message.Paper.Id))
        {
            throw new ArgumentException("PaperIngested whose paper has no id: its vector could not be told apart.");
        }
    }
}
