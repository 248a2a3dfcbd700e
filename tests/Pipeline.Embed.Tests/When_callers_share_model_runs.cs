using System.Diagnostics;
using Pipeline.Embed.Embedding;

namespace Pipeline.Embed.Tests;

[Collection(EmbedderCollection.Name)]
public sealed class When_callers_share_model_runs(EmbedderFixture fixture)
{
    private readonly MiniLmEmbedder _embedder = fixture.Embedder;

    [Fact]
    public async Task Each_caller_gets_its_own_vectors_in_its_own_order()
    {
        await using var batcher = new EmbeddingBatcher(_embedder, new EmbeddingOptions { MaxConcurrentRuns = 1, MaxBatchSize = 8 });
        var requests = Enumerable.Range(0, 12)
            .Select(i => new[] { $"paper {i} on protein folding", string.Join(' ', Enumerable.Repeat($"sequence {i}", i + 1)) })
            .ToArray();

        var results = await Task.WhenAll(requests.Select(texts => batcher.EmbedAsync(texts)));

        for (var i = 0; i < requests.Length; i++)
        {
            var alone = _embedder.Embed(requests[i]);
            Assert.Equal(2, results[i].Length);
            for (var t = 0; t < 2; t++)
            {
                for (var d = 0; d < MiniLmEmbedder.Dimensions; d++)
                {
                    Assert.True(Math.Abs(alone[t][d] - results[i][t][d]) <= 1e-5, $"request {i}, text {t}, component {d}");
                }
            }
        }
    }

    [Fact]
    public async Task Calls_past_the_queue_bound_are_refused_at_once_and_the_ones_queued_are_answered()
    {
        // Embed is open: a crowd of callers must not queue texts (each up to 16 MB) without bound.
        await using var batcher = new EmbeddingBatcher(_embedder, new EmbeddingOptions { MaxConcurrentRuns = 1, MaxBatchSize = 64, MaxQueuedTexts = 4 });
        var longText = string.Join(' ', Enumerable.Repeat("protein structure prediction with deep learning", 40));
        // One call alone is taken whatever its size, and keeps the one worker busy for a while.
        var busy = batcher.EmbedAsync(Enumerable.Repeat(longText, 64).Select((t, i) => $"{i} {t}").ToArray());
        var watch = Stopwatch.StartNew();
        while (batcher.QueuedTexts > 0 && watch.Elapsed < TimeSpan.FromSeconds(30))
        {
            await Task.Delay(5);
        }

        var first = batcher.EmbedAsync(["queued one", "queued two"]);
        var second = batcher.EmbedAsync(["queued three", "queued four"]);
        // Refused as the call is made (nothing queued), not by a task that fails later.
        var refused = Assert.IsType<EmbeddingQueueFullException>(Record.Exception(() => { _ = batcher.EmbedAsync(["one too many"]); }));

        // An ingested paper (the bus consumer's call) is queued past the bound all the same.
        var paper = batcher.EmbedAsync(["an ingested paper's title and abstract"], bounded: false);

        Assert.False(busy.IsCompleted, "the worker finished the long run before the bound was tested: make it longer");
        Assert.Contains("at most 4", refused.Message);
        Assert.Equal(5, batcher.QueuedTexts);
        await Task.WhenAll(busy, first, second);
        Assert.Single(await paper);
        Assert.Equal(0, batcher.QueuedTexts);
        Assert.Single(await batcher.EmbedAsync(["taken again once the queue drained"]));
    }

    [Fact]
    public async Task Two_workers_racing_for_the_queue_lose_no_caller_and_mix_up_no_vectors()
    {
        // Two workers take from one queue, one text a run, while 400 callers of mixed lengths
        // arrive at once: every caller gets an answer, and its own.
        await using var batcher = new EmbeddingBatcher(_embedder, new EmbeddingOptions { MaxConcurrentRuns = 2, MaxBatchSize = 1 });
        var texts = Enumerable.Range(0, 400)
            .Select(i => i % 5 == 0 ? string.Join(' ', Enumerable.Repeat($"long abstract {i}", 60 + i)) : $"query {i} about graphs")
            .ToArray();

        var results = await Task.WhenAll(texts.Select(t => Task.Run(() => batcher.EmbedAsync([t])))).WaitAsync(TimeSpan.FromSeconds(60));

        foreach (var i in new[] { 0, 1, 2, 5, 77, 399 })
        {
            var alone = _embedder.Embed(texts[i]);
            Assert.All(Enumerable.Range(0, MiniLmEmbedder.Dimensions), d => Assert.InRange(results[i][0][d], alone[d] - 1e-5f, alone[d] + 1e-5f));
        }
    }

    [Fact]
    public async Task Requests_queued_together_are_embedded_in_fewer_model_runs()
    {
        using var source = new ActivitySource("Pipeline.Embed.Tests." + Guid.NewGuid());
        var runs = 0;
        using var listener = new ActivityListener
        {
            ShouldListenTo = s => s == source,
            Sample = (ref ActivityCreationOptions<ActivityContext> _) => ActivitySamplingResult.AllData,
            ActivityStopped = a => Interlocked.Increment(ref runs),
        };
        ActivitySource.AddActivityListener(listener);
        await using var batcher = new EmbeddingBatcher(_embedder, new EmbeddingOptions { MaxConcurrentRuns = 1, MaxBatchSize = 32 }, source);

        await Task.WhenAll(Enumerable.Range(0, 16).Select(i => batcher.EmbedAsync([$"paper number {i}"])));

        Assert.InRange(runs, 1, 8);
    }

    [Fact]
    public async Task A_shared_model_run_stays_in_the_first_callers_trace_and_links_the_others()
    {
        using var source = new ActivitySource("Pipeline.Embed.Tests." + Guid.NewGuid());
        var runs = new List<Activity>();
        using var listener = new ActivityListener
        {
            ShouldListenTo = s => s == source,
            Sample = (ref ActivityCreationOptions<ActivityContext> _) => ActivitySamplingResult.AllData,
            ActivityStopped = a => { lock (runs) { runs.Add(a); } },
        };
        ActivitySource.AddActivityListener(listener);
        await using var batcher = new EmbeddingBatcher(_embedder, new EmbeddingOptions { MaxConcurrentRuns = 1, MaxBatchSize = 32 }, source);

        // Keep the one worker busy so that the papers after the first queue up and share a run. The
        // busy caller has a trace of its own too: on a slow machine it may share the first run.
        Task<float[][]> busy;
        ActivityTraceId busyTrace;
        using (var caller = source.StartActivity("busy caller", ActivityKind.Consumer, new ActivityContext(ActivityTraceId.CreateRandom(), ActivitySpanId.CreateRandom(), ActivityTraceFlags.Recorded)))
        {
            busyTrace = caller!.TraceId;
            busy = batcher.EmbedAsync([string.Join(' ', Enumerable.Repeat("a long text that keeps the model busy", 40))]);
        }

        var papers = Enumerable.Range(0, 6).Select(i =>
        {
            // Each paper's consumer span: its own trace.
            using var paper = source.StartActivity($"consume paper {i}", ActivityKind.Consumer, new ActivityContext(ActivityTraceId.CreateRandom(), ActivitySpanId.CreateRandom(), ActivityTraceFlags.Recorded));
            return (Trace: paper!.TraceId, Vectors: batcher.EmbedAsync([$"paper {i} on sparse attention"]));
        }).ToArray();
        await busy;
        await Task.WhenAll(papers.Select(p => p.Vectors));

        var shared = runs.Where(r => r.OperationName == "run embedding model").MaxBy(r => r.Links.Count())!;
        Assert.True(shared.Links.Count() >= 1, "no model run was shared");
        var traces = papers.Select(p => p.Trace).Append(busyTrace).ToHashSet();
        // The run is a child in one paper's trace and every other paper it embedded is a link.
        Assert.Contains(shared.TraceId, traces);
        Assert.All(shared.Links, l => Assert.Contains(l.Context.TraceId, traces));
        Assert.DoesNotContain(shared.Links, l => l.Context.TraceId == shared.TraceId);
        Assert.Equal((int)shared.GetTagItem("embed.requests")!, shared.Links.Count() + 1);
    }

    [Fact]
    public async Task A_caller_that_gives_up_does_not_stop_the_others()
    {
        await using var batcher = new EmbeddingBatcher(_embedder, new EmbeddingOptions { MaxConcurrentRuns = 1 });
        using var cancelled = new CancellationTokenSource();
        cancelled.Cancel();

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => batcher.EmbedAsync(["never mind"], cancelled.Token));
        var vectors = await batcher.EmbedAsync(["still here"]);

        Assert.Equal(MiniLmEmbedder.Dimensions, Assert.Single(vectors).Length);
    }

    [Fact]
    public async Task Texts_of_a_caller_that_gave_up_while_queued_are_never_run()
    {
        using var source = new ActivitySource("Pipeline.Embed.Tests." + Guid.NewGuid());
        var runTexts = new List<int>();
        using var listener = new ActivityListener
        {
            ShouldListenTo = s => s == source,
            Sample = (ref ActivityCreationOptions<ActivityContext> _) => ActivitySamplingResult.AllData,
            ActivityStopped = a => { lock (runTexts) { runTexts.Add((int)a.GetTagItem("embed.texts")!); } },
        };
        ActivitySource.AddActivityListener(listener);
        // One text a run, so that what queues behind the busy run cannot join it.
        await using var batcher = new EmbeddingBatcher(_embedder, new EmbeddingOptions { MaxConcurrentRuns = 1, MaxBatchSize = 1 }, source);

        var busy = batcher.EmbedAsync([string.Join(' ', Enumerable.Repeat("a long text that keeps the model busy", 40))]);
        using var gaveUp = new CancellationTokenSource();
        var abandoned = batcher.EmbedAsync(Enumerable.Range(0, 50).Select(i => $"abandoned text {i}").ToArray(), gaveUp.Token);
        gaveUp.Cancel();
        using var alreadyGone = new CancellationTokenSource();
        alreadyGone.Cancel();
        var late = batcher.EmbedAsync(["gave up before asking"], alreadyGone.Token);
        var still = batcher.EmbedAsync(["still here"]);

        await busy;
        Assert.Equal(MiniLmEmbedder.Dimensions, Assert.Single(await still).Length);
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => abandoned);
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => late);
        lock (runTexts)
        {
            Assert.Equal([1, 1], runTexts); // the busy text and "still here": nothing of the 51 others
        }
    }

    [Fact]
    public async Task A_stopped_batcher_refuses_new_work()
    {
        var batcher = new EmbeddingBatcher(_embedder, new EmbeddingOptions { MaxConcurrentRuns = 1 });
        await batcher.DisposeAsync();

        Assert.Throws<ObjectDisposedException>(() => { _ = batcher.EmbedAsync(["too late"]); });
    }
}
