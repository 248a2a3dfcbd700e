using System.Diagnostics;
using Pipeline.Contracts.Conversions;
using Pipeline.Contracts.Embed.V1;
using Pipeline.Contracts.Ingest.V1;
using Pipeline.Contracts.Messages;
using Pipeline.Contracts.Notify.V1;
using Grpc.Core;
using Pipeline.Rank.Ranking;
using Pipeline.Rank.Ranking.Relevance;

namespace Pipeline.Rank.Storage;

/// <summary>What a rebuild from upstream did.</summary>
/// <param name="Subscribers">Subscribers notify republished; -1 when notify could not be asked.</param>
public sealed record RebuildResult(int Papers, int Skipped, TimeSpan Elapsed, int Subscribers = -1);

/// <summary>
/// Refills rank's Redis and in-memory indexes after rank's Redis was lost: pages through every
/// paper ingest holds (<c>ListPapers</c>), embeds "title. abstract" through embed (<c>Embed</c>,
/// which answers from its cache for text it has seen), and stores and indexes each paper as the
/// <c>PaperEmbedded</c> consumer would. Upserts only, and a paper's record never replaces a newer
/// one (a higher version, or the same version ingested later: <see cref="IndexedPaper.IsOlderThan"/>),
/// so running it twice, or while papers keep arriving (a page read before the consumer applied a
/// paper's next version), is harmless. Then asks notify to republish every subscriber (<c>RepublishSubscribers</c>,
/// with the caller's API key): profiles and "already sent" lists come back as those messages are
/// consumed. Votes live only in rank's Redis and are not restored (run it with AOF, as compose does).
/// </summary>
public sealed class UpstreamRebuild(
    IngestService.IngestServiceClient ingest,
    EmbedService.EmbedServiceClient embed,
    SubscriptionService.SubscriptionServiceClient notify,
    RankStore store,
    PaperIndex index,
    RelevanceRanker relevance,
    ILogger<UpstreamRebuild> logger)
{
    private const int PageSize = 1000;
    private static readonly TimeSpan CallTimeout = TimeSpan.FromMinutes(2);
    private readonly SemaphoreSlim _oneAtATime = new(1, 1);

    /// <param name="apiKey">The caller's API key, passed on to notify's RepublishSubscribers.</param>
    public async Task<RebuildResult> RebuildAsync(string? apiKey, CancellationToken cancellationToken)
    {
        await _oneAtATime.WaitAsync(cancellationToken);
        try
        {
            var watch = Stopwatch.StartNew();
            var model = await embed.GetModelAsync(new GetModelRequest(), deadline: DateTime.UtcNow.Add(CallTimeout), cancellationToken: cancellationToken);
            if (model.Dimensions != PaperIndex.Dimensions)
            {
                throw new InvalidOperationException($"embed's model {model.Id} gives {model.Dimensions} dimensions; rank indexes {PaperIndex.Dimensions}.");
            }

            var perCall = model.MaxTextsPerCall > 0 ? Math.Min(model.MaxTextsPerCall, 256) : 64;
            var (stored, skipped) = (0, 0);
            var token = "";
            do
            {
                var page = await ingest.ListPapersAsync(
                    new ListPapersRequest { Limit = PageSize, PageToken = token }, deadline: DateTime.UtcNow.Add(CallTimeout), cancellationToken: cancellationToken);
                var papers = page.Papers.Where(p => p.Id.Length > 0).ToArray();
                skipped += page.Papers.Count - papers.Length;

                var chunks = papers.Chunk(perCall).ToArray();
                var embedded = await Task.WhenAll(chunks.Select(chunk => EmbedAsync(chunk, cancellationToken)));
                var batch = new List<StoredPaper>(papers.Length);
                foreach (var (chunk, vectors) in chunks.Zip(embedded))
                {
                    for (var i = 0; i < chunk.Length; i++)
                    {
                        if (vectors[i].Length != PaperIndex.Dimensions)
                        {
                            logger.LogWarning("Rebuild skipped paper {PaperId}: embed answered {Length} values", chunk[i].Id, vectors[i].Length);
                            skipped++;
                            continue;
                        }

                        batch.Add(new StoredPaper(ToIndexed(chunk[i]), vectors[i]));
                    }
                }

                // A paper the consumer meanwhile saved in a newer version than this page read is
                // kept, in Redis and in the indexes (IndexedPaper.IsOlderThan).
                var saved = await store.SavePapersAsync(batch);
                for (var i = 0; i < batch.Count; i++)
                {
                    var (paper, vector) = batch[i];
                    if (saved[i] && index.Upsert(paper, vector))
                    {
                        relevance.Add(paper);
                    }
                }

                stored += batch.Count;
                token = page.NextPageToken;
                logger.LogInformation("Rebuild: {Papers} papers stored and indexed so far", stored);
            }
            while (token.Length > 0);

            relevance.TrimExcess();

            // Papers first: a profile's seed papers must be indexed when its SubscriberChanged arrives.
            var subscribers = await RepublishSubscribersAsync(apiKey, cancellationToken);
            logger.LogInformation("Rebuilt rank's index from ingest and embed: {Papers} papers ({Skipped} skipped), {Subscribers} subscribers republished by notify, in {Elapsed} ms",
                stored, skipped, subscribers, watch.ElapsedMilliseconds);
            return new RebuildResult(stored, skipped, watch.Elapsed, subscribers);
        }
        finally
        {
            _oneAtATime.Release();
        }
    }

    private async Task<int> RepublishSubscribersAsync(string? apiKey, CancellationToken cancellationToken)
    {
        try
        {
            var headers = new Metadata();
            if (!string.IsNullOrEmpty(apiKey))
            {
                headers.Add(Pipeline.ServiceDefaults.ApiKeyValidator.HeaderName, apiKey);
            }

            var answer = await notify.RepublishSubscribersAsync(
                new RepublishSubscribersRequest(), headers, DateTime.UtcNow.Add(CallTimeout), cancellationToken);
            return answer.Subscribers;
        }
        catch (RpcException e)
        {
            // The papers are back either way; profiles then return with each subscriber's next change.
            logger.LogWarning("Rebuild could not ask notify to republish its subscribers ({Status}: {Detail}); profiles return with each subscriber's next change",
                e.StatusCode, e.Status.Detail);
            return -1;
        }
    }

    private async Task<float[][]> EmbedAsync(Paper[] papers, CancellationToken cancellationToken)
    {
        var request = new EmbedRequest();
        request.Texts.AddRange(papers.Select(p => PaperText.Of(p.Title, p.Abstract)));
        var response = await embed.EmbedAsync(request, deadline: DateTime.UtcNow.Add(CallTimeout), cancellationToken: cancellationToken);
        if (response.Embeddings.Count != papers.Length)
        {
            throw new InvalidOperationException($"embed answered {response.Embeddings.Count} vectors for {papers.Length} texts.");
        }

        return response.Embeddings.Select(e => e.Values.ToArray()).ToArray();
    }

    /// <summary>ingest's gRPC paper as the record the PaperEmbedded event would have carried.</summary>
    internal static IndexedPaper ToIndexed(Paper p)
    {
        var summary = new PaperSummary(
            p.Id, p.Version, p.Title, p.Abstract, p.Authors.ToArray(), p.Categories.ToArray(),
            p.PublishedAt?.ToDateTimeOffset(), p.Url, p.Source, p.Upvotes)
        {
            Metadata = p.Metadata?.ToRecord(),
        };
        // ingest's ingested_at is when it first stored the paper.
        var at = p.IngestedAt?.ToDateTimeOffset() ?? DateTimeOffset.UtcNow;
        return new IndexedPaper(summary, at) { FirstIngestedAt = p.IngestedAt is null ? null : at };
    }
}
