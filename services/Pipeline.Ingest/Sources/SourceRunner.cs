using System.Collections.Concurrent;
using System.Diagnostics;
using System.Diagnostics.Metrics;
using System.Text;
using Microsoft.Extensions.Options;
using Pipeline.Ingest.Papers;
using Pipeline.Ingest.Sources.Parsing;
using Pipeline.Ingest.Storage;
using Pipeline.ServiceDefaults;

namespace Pipeline.Ingest.Sources;

/// <summary>
/// Runs a source's poll: one at a time per source (the scheduler and PollSource never overlap),
/// papers through <see cref="PaperIntake"/>, the run's counts, error, rejections and failed bodies
/// into <see cref="SourceStateStore"/>, and metrics per source and outcome.
/// </summary>
public sealed class SourceRunner(
    IEnumerable<IPaperSource> sources,
    PaperIntake intake,
    SourceStateStore store,
    IOptions<SourcesOptions> options,
    ServiceIdentity identity,
    TimeProvider clock,
    ILogger<SourceRunner> logger)
{
    private readonly ConcurrentDictionary<string, SemaphoreSlim> _running = new(StringComparer.Ordinal);
    private readonly PaperIntake _intake = intake;
    private readonly SourceStateStore _store = store;
    private readonly TimeProvider _clock = clock;

    private readonly Counter<long> _papers = identity.Meter.CreateCounter<long>(
        "pipeline.ingest.source.papers", description: "Papers from sources by source and outcome (new, updated, duplicate, rejected, skipped)");

    private readonly Counter<long> _polls = identity.Meter.CreateCounter<long>(
        "pipeline.ingest.source.polls", description: "Polls by source and result (ok, error)");

    public IReadOnlyList<IPaperSource> Sources { get; } = sources.ToArray();

    public SourcesOptions Options => options.Value;

    public IPaperSource? Find(string name) => Sources.FirstOrDefault(s => s.Name == name);

    /// <summary>Polls <paramref name="source"/> now (after a run under way ends) and returns its state.</summary>
    public async Task<SourceState> RunAsync(IPaperSource source, CancellationToken cancellationToken)
    {
        var gate = _running.GetOrAdd(source.Name, _ => new SemaphoreSlim(1, 1));
        await gate.WaitAsync(cancellationToken);
        // The poll's span (a PollSource call's span is its parent): its fetches and parses are
        // children; each batch of papers it submits is a trace of its own linked to it
        // (BatchTrace), which embed, rank and notify continue.
        using var activity = ActivitySourceOf().StartActivity($"poll {source.Name}");
        activity?.SetTag("ingest.source", source.Name);
        try
        {
            var started = _clock.GetUtcNow();
            var poll = new RunnerPoll(this, source.Name, await _store.GetCursorAsync(source.Name));
            string? error = null;
            try
            {
                await source.PollAsync(poll, cancellationToken);
            }
            catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
            {
                throw; // shutting down: the cursor holds the progress made
            }
            catch (Exception e)
            {
                error = Describe(e);
                logger.LogWarning(e, "Polling {Source} failed: {Error}", source.Name, error);
            }

            activity?.SetTag("ingest.papers.new", poll.Counts.New);
            activity?.SetTag("ingest.papers.updated", poll.Counts.Updated);
            activity?.SetTag("ingest.papers.rejected", poll.Counts.Rejected);
            if (error is not null)
            {
                activity?.SetStatus(ActivityStatusCode.Error, error);
            }

            await _store.RecordRunAsync(source.Name, new SourceRun(started, poll.Counts, error));
            _polls.Add(1, new("source", source.Name), new("result", error is null ? "ok" : "error"));
            logger.LogInformation("Polled {Source}: {New} new, {Updated} updated, {Duplicate} duplicate, {Rejected} rejected, {Skipped} skipped{Error}",
                source.Name, poll.Counts.New, poll.Counts.Updated, poll.Counts.Duplicate, poll.Counts.Rejected, poll.Counts.Skipped, error is null ? "" : "; " + error);
            return await StateAsync(source.Name);
        }
        finally
        {
            gate.Release();
        }
    }

    public Task<SourceState> StateAsync(string name) => _store.GetAsync(name, Math.Min(Options.KeptRejections, 50));

    private static string Describe(Exception e) => e switch
    {
        FeedFormatException or SourceErrorException or Fetching.FetchException => e.Message,
        InvalidOperationException => e.Message,
        _ => $"{e.GetType().Name}: {e.Message}",
    };

    private sealed class RunnerPoll(SourceRunner runner, string source, string? cursor) : SourcePoll
    {
        private int _new, _updated, _duplicate, _rejected, _skipped;

        public SourceCounts Counts => new(_new, _updated, _duplicate, _rejected, _skipped);

        public override string? Cursor => cursor;

        public override ActivitySource ActivitySource => runner.ActivitySourceOf();

        public override async Task SubmitAsync(IReadOnlyList<PaperSubmission> papers, CancellationToken cancellationToken, IReadOnlyList<string>? entries = null)
        {
            if (papers.Count == 0)
            {
                return;
            }

            // Each batch (a page) is a trace of its own, linked to the poll (BatchTrace).
            using var batch = Papers.BatchTrace.Start(runner.ActivitySourceOf(), $"submit {source}", papers.Count);
            var results = await runner._intake.SubmitAsync(papers, cancellationToken);
            var rejected = new List<SourceRejectionRecord>();
            var now = runner._clock.GetUtcNow();
            foreach (var r in results)
            {
                var outcome = r.Outcome switch
                {
                    IntakeOutcome.Accepted => Count(ref _new, "new"),
                    IntakeOutcome.Updated => Count(ref _updated, "updated"),
                    IntakeOutcome.Duplicate => Count(ref _duplicate, "duplicate"),
                    IntakeOutcome.Skipped => Count(ref _skipped, "skipped"),
                    _ => Count(ref _rejected, "rejected"),
                };
                if (outcome == "rejected")
                {
                    var entry = entries is not null && r.Index < entries.Count ? entries[r.Index] : r.Id.Length > 0 ? r.Id : $"entry {r.Index + 1}";
                    rejected.Add(new SourceRejectionRecord(now, entry, r.Reason ?? "rejected"));
                }
            }

            await runner._store.AddRejectionsAsync(source, rejected, runner.Options.KeptRejections);
        }

        public override async Task RejectAsync(IReadOnlyList<EntryRejection> rejections)
        {
            if (rejections.Count == 0)
            {
                return;
            }

            foreach (var _ in rejections)
            {
                Count(ref _rejected, "rejected");
            }

            var now = runner._clock.GetUtcNow();
            await runner._store.AddRejectionsAsync(source, rejections.Select(r => new SourceRejectionRecord(now, r.Entry, r.Reason)), runner.Options.KeptRejections);
        }

        public override Task SaveCursorAsync(string value) => runner._store.SaveCursorAsync(source, value);

        public override Task KeepBodyAsync(Uri url, ReadOnlyMemory<byte> body, string reason)
        {
            var kept = body[..Math.Min(body.Length, runner.Options.KeptBodyBytes)];
            var text = Encoding.UTF8.GetString(kept.Span);
            return runner._store.KeepBodyAsync(
                source,
                new KeptBodyRecord(runner._clock.GetUtcNow(), url.ToString(), reason, body.Length, text),
                Math.Max(1, runner.Options.KeptBodies));
        }

        private string Count(ref int counter, string outcome)
        {
            counter++;
            runner._papers.Add(1, new("source", source), new("outcome", outcome));
            return outcome;
        }
    }

    private ActivitySource ActivitySourceOf() => identity.ActivitySource;
}
