using System.Diagnostics;
using System.Threading.Channels;

namespace Pipeline.Embed.Embedding;

/// <summary>
/// Queues embedding requests and runs whatever is waiting as one model run, so that many callers
/// with one text each (a burst of PaperIngested messages, concurrent gRPC calls) share a padded
/// batch. On two cores a batch of 16 texts embeds about three times faster than 16 single runs.
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
    private readonly int _maxBatchSize;
    private readonly Channel<Request> _queue = Channel.CreateUnbounded<Request>();
    private readonly Task[] _workers;

    public EmbeddingBatcher(MiniLmEmbedder model, EmbeddingOptions options, ActivitySource? activitySource = null)
    {
        _model = model;
        _activitySource = activitySource;
        _maxBatchSize = Math.Max(1, options.MaxBatchSize);

        // Without this the workers would inherit the constructing caller's ExecutionContext, and
        // with it Activity.Current: every later model run would claim that caller's trace.
        using (ExecutionContext.SuppressFlow())
        {
            _workers = Enumerable.Range(0, options.EffectiveConcurrentRuns).Select(_ => Task.Run(RunAsync)).ToArray();
        }
    }

    /// <summary>One vector per text, in order; the texts may share a model run with other callers'.</summary>
    public Task<float[][]> EmbedAsync(IReadOnlyList<string> texts, CancellationToken cancellationToken = default)
    {
        if (texts.Count == 0)
        {
            return Task.FromResult(Array.Empty<float[]>());
        }

        var request = new Request(texts.ToArray(), Activity.Current?.Context, new(TaskCreationOptions.RunContinuationsAsynchronously));
        if (!_queue.Writer.TryWrite(request))
        {
            throw new ObjectDisposedException(nameof(EmbeddingBatcher));
        }

        // A caller that gives up stops waiting; its texts are still embedded with the others.
        return request.Done.Task.WaitAsync(cancellationToken);
    }

    private async Task RunAsync()
    {
        var taken = new List<Request>();
        while (await _queue.Reader.WaitToReadAsync())
        {
            taken.Clear();
            var texts = 0;
            while (texts < _maxBatchSize && _queue.Reader.TryRead(out var request))
            {
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
        try
        {
            // The run belongs to the first caller's trace and links the others', so every trace
            // that waited on it can find it.
            var links = requests.Skip(1).Where(r => r.Caller is not null).Select(r => new ActivityLink(r.Caller!.Value));
            using var activity = _activitySource?.StartActivity("run embedding model", ActivityKind.Internal, requests[0].Caller ?? default, links: links);
            activity?.SetTag("embed.model", MiniLmEmbedder.ModelId);
            activity?.SetTag("embed.texts", textCount);
            activity?.SetTag("embed.requests", requests.Count);

            var vectors = _model.Embed(requests.Count == 1 ? requests[0].Texts : requests.SelectMany(r => r.Texts).ToArray());

            var offset = 0;
            foreach (var request in requests)
            {
                request.Done.TrySetResult(vectors[offset..(offset + request.Texts.Length)]);
                offset += request.Texts.Length;
            }
        }
        catch (Exception e)
        {
            foreach (var request in requests)
            {
                request.Done.TrySetException(e);
            }
        }
    }

    /// <summary>Finishes what is queued, then stops the workers.</summary>
    public async ValueTask DisposeAsync()
    {
        _queue.Writer.TryComplete();
        await Task.WhenAll(_workers);
    }

    private sealed record Request(string[] Texts, ActivityContext? Caller, TaskCompletionSource<float[][]> Done);
}
