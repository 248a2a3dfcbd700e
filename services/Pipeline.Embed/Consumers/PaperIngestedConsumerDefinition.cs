using MassTransit;
using Microsoft.Extensions.Options;
using Pipeline.Embed.Embedding;

namespace Pipeline.Embed.Consumers;

/// <summary>
/// Bounds how many papers one instance embeds at once. Model runs are CPU-bound and already
/// gated by <see cref="EmbeddingOptions.MaxConcurrentRuns"/>; a few more messages in flight keep
/// the cache lookups and publishes overlapping with the model, without piling up work that a
/// restart would have to redeliver. Retries come from the bus-wide policy in ServiceDefaults.
/// </summary>
public sealed class PaperIngestedConsumerDefinition : ConsumerDefinition<PaperIngestedConsumer>
{
    public PaperIngestedConsumerDefinition(IOptions<EmbeddingOptions> options)
    {
        ConcurrentMessageLimit = Math.Max(1, options.Value.ConsumerConcurrency);
    }
}
