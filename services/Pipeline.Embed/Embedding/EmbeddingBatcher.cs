using System.Diagnostics;
using System.Diagnostics.Metrics;
using System.Threading.Channels;
using Microsoft.Extensions.Logging.Abstractions;

namespace Pipeline.Embed.Embedding;

/// <summary>
/// Queues embedding requests and runs whatever is waiting as one model run, so that many callers
/// with one text each (a burst of PaperIngested messages, concurrent gRPC calls) share a padded
/// batch. Shared runs save the fixed cost of a run, which matters for short texts (queries); a
/// 256-word-piece abstract is already a large matrix product, so runs stay small (docs/embedding.md).
/// </summary>
/// <remarks>
/// A fixed number of workers (<see cref="EmbeddingOptions.EffectiveConcurrentRuns"/>) run the model;
/// each run already uses <see cref="EmbeddingOptions.IntraOpThreads"/> cores, so more runs would
/// only contend for the CPU. Waiting callers hold no thread.
/// </remarks>
public sealed class EmbeddingBatcher : IAsyncDisposable
{
    private readonly MiniLmEmbedder _model;
    private readonly ActivitySource? _activitySource;
    private readonly ILogger _logger;
    private readonly Counter<long>? _modelTexts;
    private readonly Histogram<long>? _batchSizes;
    private readonly int _maxBatchSize;
    private readonly int _runs;
    private readonly Channel<Request> _queue = Channel.CreateUnbounded<Request>();
    private readonly Task[] _workers;
    private readonly int _maxQueuedTexts;
    private int _queuedTexts;

    public EmbeddingBatcher(MiniLmEmbedder model, EmbeddingOptions options, ActivitySource? activitySource = null, Meter? meter = null, ILogger<EmbeddingBatcher>? logger = null)
    {
        _model = model;
        _activitySource = activitySource;
        _logger = logger ?? NullLogger<EmbeddingBatcher>.Instance;
        // Per instance, so an operator running several embed instances sees each one's share.
        _modelTexts = meter?.CreateCounter<long>("pipeline.embed.model_texts", "{text}", "Texts run through the model (cache misses).");
        _batchSizes = meter?.CreateHistogram<long>("pipeline.embed.batch_size", "{text}", "Texts per model run.");
        _maxBatchSize = Math.Max(1, options.MaxBatchSize);
        _runs = options.EffectiveConcurrentRuns;
        _maxQueuedTexts = Math.Max(1, options.MaxQueuedTexts);

        // Without this the workers would inherit the constructing caller's ExecutionContext, and
        // with it Activity.Current: every later model run would claim that caller's trace.
        using (ExecutionContext.SuppressFlow())
        {
            _workers = Enumerable.Range(0, _runs).Select(_ => Task.Run(RunAsync)).ToArray();
        }
    }

    /// <summary>Texts waiting for a model run (not those being run).</summary>
    public int QueuedTexts => Volatile.Read(ref _queuedTexts);

    /// <summary>The id of the vectors this batcher's model makes (base model and precision).</summary>
    public string ModelId => _model.ModelId;

    /// <summary>What the cache keys this batcher's vectors by: the model id and its files' fingerprint.</summary>
    public string CacheId => _model.CacheId;

    /// <summary>
    /// One vector per text, in order; the texts may share a model run with other callers'.
    /// <paramref name="bounded"/> false (the bus consumer's papers) queues past
    /// <see cref="EmbeddingOptions.MaxQueuedTexts"/>: the consumer's own concurrency limit bounds
    /// those, and a crowd of open <c>Embed</c> calls filling the queue must not push ingested papers
    /// through their retries into the error queue. Their texts still count, so callers that are
    /// bounded find the queue fuller.
    /// </summary>
    public Task<float[][]> EmbedAsync(IReadOnlyList<string> texts, CancellationToken cancellationToken = default, bool bounded = true)
    {
        if (texts.Count == 0)
        {
            return Task.FromResult(Array.Empty<float[]>());
        }

        if (cancellationToken.IsCancellationRequested)
        {
            return Task.FromCanceled<float[][]>(cancellationToken);
        }

        // Bounded: calls that would queue more than MaxQueuedTexts texts are refused at once
        // (RESOURCE_EXHAUSTED: try again later) instead of holding their text in memory for minutes.
        // One call alone is always taken, however large, so a call within MaxTextsPerCall can succeed.
        var queued = Interlocked.Add(ref _queuedTexts, texts.Count);
        if (bounded && queued > _maxQueuedTexts && queued != texts.Count)
        {
            Interlocked.Add(ref _queuedTexts, -texts.Count);
            throw new EmbeddingQueueFullException($"{queued - texts.Count} texts are waiting for the model (at most {_maxQueuedTexts}); try again shortly.");
        }

        var request = new Request(texts.ToArray(), Activity.Current?.Context, new(TaskCreationOptions.RunContinuationsAsynchronously), cancellationToken);
        if (!_queue.Writer.TryWrite(request))
        {
            Interlocked.Add(ref _queuedTexts, -texts.Count);
            throw new ObjectDisposedException(nameof(EmbeddingBatcher));
        }

        // A caller that gives up stops waiting at once, and its texts leave the queue unembedded
        // if no run has taken them yet: a client that keeps calling with tiny deadlines cannot
        // pile up model time that nobody waits for (and that would hold up papers and queries).
        return request.Done.Task.WaitAsync(cancellationToken);
    }

    private async Task RunAsync()
    {
        var taken = new List<Request>();
        while (await _queue.Reader.WaitToReadAsync())
        {
            taken.Clear();
            var texts = 0;
            // A fair share of what is waiting, so the last texts of a burst are split across the
            // runs rather than left to one while the other cores idle.
            var share = Math.Clamp((_queue.Reader.Count + _runs - 1) / _runs, 1, _maxBatchSize);
            while (texts < share && _queue.Reader.TryRead(out var request))
            {
                Interlocked.Add(ref _queuedTexts, -request.Texts.Length);
                if (request.Cancellation.IsCancellationRequested)
                {
                    request.Done.TrySetCanceled(request.Cancellation);
                    continue;
                }

                taken.Add(request);
                texts += request.Texts.Length;
            }

            if (taken.Count > 0)
            {
                Run(taken, texts);
            }
        }
    }

    private void Run(List<Request> requests, int textCount)
    {
        float[][] vectors;
        try
        {
            vectors = RunModel(requests, textCount);
        }
        catch (Exception e)
        {
            foreach (var request in requests)
            {
                request.Done.TrySetException(e);
            }

            return;
        }

        // Callers resume only after the run's span has ended, so it nests inside their spans.
        var offset = 0;
        foreach (var request in requests)
        {
            request.Done.TrySetResult(vectors[offset..(offset + request.Texts.Length)]);
            offset += request.Texts.Length;
        }
    }

    private float[][] RunModel(List<Request> requests, int textCount)
    {
        // The run belongs to the first caller's trace and links the others', so every trace
        // that waited on it can find it.
        var links = requests.Skip(1).Where(r => r.Caller is not null).Select(r => new ActivityLink(r.Caller!.Value));
        using var activity = _activitySource?.StartActivity("run embedding model", ActivityKind.Internal, requests[0].Caller ?? default, links: links);
        activity?.SetTag("embed.model", _model.ModelId);
        activity?.SetTag("embed.texts", textCount);
        activity?.SetTag("embed.requests", requests.Count);

        var started = Stopwatch.GetTimestamp();
        var vectors = _model.Embed(requests.Count == 1 ? requests[0].Texts : requests.SelectMany(r => r.Texts).ToArray());

        // One line per model run (not per text): enough to see how well callers share runs,
        // and which instance did the work when several compete for the same queue.
        _logger.LogInformation("Model run on {Texts} texts from {Requests} callers took {Milliseconds:F0} ms ({Model}, instance {Instance})",
            textCount, requests.Count, Stopwatch.GetElapsedTime(started).TotalMilliseconds, _model.ModelId, Instance);
        // Tagged by model: the query model's batcher records into the same two instruments.
        var model = new KeyValuePair<string, object?>("embed.model", _model.ModelId);
        _modelTexts?.Add(textCount, model);
        _batchSizes?.Record(textCount, model);
        return vectors;
    }

    /// <summary>Tells instances apart in logs: the host name (a container id under compose) and the process id.</summary>
    public static string Instance { get; } = $"{Environment.MachineName}/{Environment.ProcessId}";

    /// <summary>Finishes what is queued, then stops the workers.</summary>
    public async ValueTask DisposeAsync()
    {
        _queue.Writer.TryComplete();
        await Task.WhenAll(_workers);
    }

    private sealed record Request(string[] Texts, ActivityContext? Caller, TaskCompletionSource<float[][]> Done, CancellationToken Cancellation);
}

/// <summary>More texts are waiting for the model than <see cref="EmbeddingOptions.MaxQueuedTexts"/>: the call is refused, nothing was queued.</summary>
public sealed class EmbeddingQueueFullException(string message) : Exception(message);
