using System.Diagnostics;
using Pipeline.Ingest.Sources;
using Pipeline.Ingest.Tests.Intake;

namespace Pipeline.Ingest.Tests.Sources;

/// <summary>
/// A scheduled poll is a trace with its fetch and parse spans; each batch of papers it submits is
/// a trace of its own, linked to the poll, with each paper's PaperIngested published inside it, so
/// embed, rank and notify carry on that trace, and no trace grows with the size of a poll.
/// </summary>
public sealed class When_a_source_is_polled : IAsyncLifetime
{
    private readonly IntakeHarness _ingest = new();
    private readonly List<Activity> _spans = [];
    private ActivityListener _listener = null!;

    public async Task InitializeAsync()
    {
        await _ingest.InitializeAsync();
        _listener = new ActivityListener
        {
            ShouldListenTo = s => s.Name == _ingest.Identity.ActivitySource.Name,
            Sample = (ref ActivityCreationOptions<ActivityContext> _) => ActivitySamplingResult.AllDataAndRecorded,
            ActivityStopped = a => { lock (_spans) { _spans.Add(a); } },
        };
        ActivitySource.AddActivityListener(_listener);
    }

    public async Task DisposeAsync()
    {
        _listener.Dispose();
        await _ingest.DisposeAsync();
    }

    [Fact]
    public async Task The_poll_holds_its_fetch_and_each_batch_it_announced_is_a_trace_linked_to_it()
    {
        Assert.Null(Activity.Current); // as in the scheduler's loop: nothing to continue
        var source = new TwoPapersSource();

        await _ingest.Runner(source).RunAsync(source, CancellationToken.None);

        Activity poll;
        Activity fetch;
        Activity batch;
        lock (_spans)
        {
            poll = Assert.Single(_spans, s => s.OperationName == "poll two-papers");
            fetch = Assert.Single(_spans, s => s.OperationName == "fetch two-papers");
            batch = Assert.Single(_spans, s => s.OperationName == "submit two-papers");
        }

        Assert.Equal(default, poll.ParentSpanId);
        Assert.Equal(poll.SpanId, fetch.ParentSpanId);
        Assert.Equal(2, (int)poll.GetTagItem("ingest.papers.new")!);
        Assert.Equal(["2410.00011", "2410.00012"], _ingest.Published.Select(p => p.Paper.Id).Order());
        // The batch: a root of its own, linked to the poll, holding the papers' announcements.
        Assert.Equal(default, batch.ParentSpanId);
        Assert.NotEqual(poll.TraceId, batch.TraceId);
        Assert.Equal((poll.TraceId, poll.SpanId), (Assert.Single(batch.Links).Context.TraceId, batch.Links.Single().Context.SpanId));
        Assert.Equal(2, (int)batch.GetTagItem("ingest.papers")!);
        Assert.All(_ingest.PublishedTraces, t => Assert.Equal(batch.TraceId, t));
    }

    /// <summary>A source whose one page holds two papers, fetched inside a span as HTTP sources do.</summary>
    private sealed class TwoPapersSource : IPaperSource
    {
        public string Name => "two-papers";

        public SourceOptions Options { get; } = new JsonLinesOptions();

        public async Task PollAsync(SourcePoll poll, CancellationToken cancellationToken)
        {
            using (poll.ActivitySource.StartActivity($"fetch {Name}", ActivityKind.Client))
            {
                await Task.Yield();
            }

            await poll.SubmitAsync([IntakeHarness.Paper("2410.00011"), IntakeHarness.Paper("2410.00012")], cancellationToken);
        }
    }
}
