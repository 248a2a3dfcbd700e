using System.Diagnostics;
using System.Diagnostics.Metrics;
using MassTransit;
using Pipeline.Contracts.Messages;
using Pipeline.Ingest.Storage;
using Pipeline.ServiceDefaults;
using Pipeline.ServiceDefaults.Messaging;

namespace Pipeline.Ingest.Papers;

/// <summary>
/// Takes a batch of submitted papers: validates each alone, de-duplicates by id, stores what is new
/// or changed and publishes <see cref="PaperIngested"/> for it. One bad paper never stops the others.
/// </summary>
public sealed class PaperIntake(PaperStore store, IBus bus, PublishDeadline publishDeadline, ServiceIdentity identity, TimeProvider clock)
{
    private readonly Counter<long> _papers = identity.Meter.CreateCounter<long>(
        "pipeline.ingest.papers", description: "Submitted papers by outcome (accepted, updated, duplicate, rejected)");

    private readonly Counter<long> _republished = identity.Meter.CreateCounter<long>(
        "pipeline.ingest.republished", description: "Stored papers announced by the sweep after the broker had not confirmed their events");

    private readonly Histogram<double> _lag = identity.Meter.CreateHistogram<double>(
        "pipeline.ingest.lag", unit: "s", description: "Time from a paper's publication to its ingestion, for new papers, by source");

    private readonly PaperLocks _locks = new();

    public async Task<IReadOnlyList<IntakeResult>> SubmitAsync(IReadOnlyList<PaperSubmission> submissions, CancellationToken cancellationToken)
    {
        var results = new IntakeResult[submissions.Count];
        var validated = new List<(int Index, PaperSummary Paper, bool OnlyIfKnown)>();
        var arrived = clock.GetUtcNow();
        for (var i = 0; i < submissions.Count; i++)
        {
            var validation = PaperValidator.Validate(submissions[i], arrived);
            if (validation.Paper is not { } paper)
            {
                results[i] = new IntakeResult(i, submissions[i].Id ?? "", IntakeOutcome.Rejected, validation.Reason);
            }
            else
            {
                validated.Add((i, paper, submissions[i].OnlyIfKnown));
            }
        }

        var valid = TakeOnePerId(validated, results);

        // Read, merge, store, publish and mark as one step per paper: a concurrent intake of the
        // same id (a source's poll beside a SubmitPapers call, the sweep) waits for it.
        using (await _locks.HoldAsync(valid.Select(v => v.Paper.Id), cancellationToken))
        {
            var existing = await store.GetManyAsync(valid.Select(v => v.Paper.Id).ToArray());
            var now = clock.GetUtcNow();
            var toStore = new List<StoredPaper>();
            var events = new List<PaperIngested>();
            for (var k = 0; k < valid.Count; k++)
            {
                var (index, submitted, onlyIfKnown) = valid[k];
                // One identity across sources and versions: merge with what is held before comparing.
                var paper = PaperMerge.Merge(existing[k]?.Paper, submitted);
                var fingerprint = PaperFingerprint.Record(paper);
                var (outcome, publish, reason) = IntakeDecision.Decide(existing[k], paper, fingerprint, onlyIfKnown);
                results[index] = new IntakeResult(index, paper.Id, outcome, reason);
                if (!publish)
                {
                    continue;
                }

                if (outcome == IntakeOutcome.Accepted && existing[k] is null && paper.PublishedAt is { } published && published <= now)
                {
                    _lag.Record((now - published).TotalSeconds, new KeyValuePair<string, object?>("source", paper.Source));
                }

                var stored = new StoredPaper(paper, PaperFingerprint.Content(paper), fingerprint, existing[k]?.IngestedAt ?? now, Published: false)
                {
                    IsUpdate = outcome == IntakeOutcome.Updated,
                    TraceParent = Activity.Current?.Id,
                };
                toStore.Add(stored);
                events.Add(new PaperIngested(paper, stored.ContentHash, outcome == IntakeOutcome.Updated, now) { FirstIngestedAt = stored.IngestedAt });
            }

            if (toStore.Count > 0)
            {
                await store.SaveAsync(toStore, now);
                // Publisher confirms: this returns once the broker holds every event, or throws
                // PublishNotConfirmedException after the deadline. The papers stay unpublished in the
                // store then: a repeat of the call publishes them again, and so does the sweep
                // (UnpublishedPaperSweeper) if nobody repeats it.
                await bus.PublishBatchWithinAsync(events, publishDeadline, cancellationToken);
                await store.MarkPublishedAsync(toStore);
            }
        }

        foreach (var result in results)
        {
            _papers.Add(1, new KeyValuePair<string, object?>("outcome", result.Outcome.ToString().ToLowerInvariant()));
        }

        return results;
    }

    /// <summary>
    /// Announces the papers stored unpublished at or before <paramref name="storedBefore"/> (their
    /// events were never confirmed: a broker down, a process that died between storing and
    /// publishing), <paramref name="batchSize"/> at a time through the same publish with a deadline,
    /// and marks each published if its stored record is still the one announced. Returns how many
    /// it announced; throws as publishing and Redis do, leaving the rest listed for the next try.
    /// </summary>
    public async Task<int> RepublishAsync(DateTimeOffset storedBefore, int batchSize, CancellationToken cancellationToken)
    {
        batchSize = Math.Max(1, batchSize);
        var announced = 0;
        while (true)
        {
            var due = await store.GetDueUnpublishedAsync(storedBefore, batchSize);
            if (due.Count == 0)
            {
                return announced;
            }

            int marked;
            // Read under the same per-paper lock as intake: what goes out is the record stored
            // now, and no intake of the same paper announces a newer one in between.
            using (await _locks.HoldAsync(due, cancellationToken))
            {
                var papers = await store.GetUnpublishedAsync(due);
                if (papers.Count == 0)
                {
                    marked = 0;
                }
                else
                {
                    var now = clock.GetUtcNow();
                    // Each in the trace of the call or poll that stored it (the sweep has none of its own).
                    await Task.WhenAll(papers.Select(p => RepublishOneAsync(p, now, cancellationToken)));
                    marked = await store.MarkPublishedAsync(papers);
                    announced += papers.Count;
                    _republished.Add(papers.Count);
                }
            }

            // Published or gone papers were taken off the list, and a record stored again meanwhile
            // is listed with a later time, so it is not due here; stopping when nothing was marked
            // bounds the loop all the same.
            if (due.Count < batchSize || marked == 0)
            {
                return announced;
            }
        }
    }

    /// <summary>
    /// One paper per id: where an id occurs more than once in a batch (two versions in one page of
    /// a JSON Lines file, arXiv's record and Hugging Face's in one import, a client that sends a
    /// paper twice), the occurrences are combined in their order as separate calls would have been
    /// (<see cref="PaperMerge.Merge"/>: Hugging Face adds its upvotes to arXiv's record, a later
    /// entry of the same version corrects an earlier one), except that an entry of a lower version
    /// than one before it is superseded, as the store would refuse it. The combined paper is
    /// answered at the entry with the highest version (on equal versions, the last); the others are
    /// duplicates within the request, not errors, and say whether they were combined into it or
    /// superseded. The paper is taken as new unless every occurrence was a replacement only of a
    /// paper already held.
    /// </summary>
    private static List<(int Index, PaperSummary Paper, bool OnlyIfKnown)> TakeOnePerId(
        List<(int Index, PaperSummary Paper, bool OnlyIfKnown)> validated, IntakeResult[] results)
    {
        var taken = new List<(int Index, PaperSummary Paper, bool OnlyIfKnown)>(validated.Count);
        foreach (var occurrences in validated.GroupBy(v => v.Paper.Id, StringComparer.Ordinal))
        {
            var winner = occurrences.MaxBy(v => (v.Paper.Version, v.Index));
            PaperSummary? combined = null;
            var superseded = new HashSet<int>();
            foreach (var occurrence in occurrences.OrderBy(v => v.Index))
            {
                if (combined is not null && occurrence.Paper.Version > 0 && occurrence.Paper.Version < combined.Version && !PaperMerge.IsEngagementOnly(occurrence.Paper))
                {
                    superseded.Add(occurrence.Index);
                    continue;
                }

                combined = PaperMerge.Merge(combined, occurrence.Paper);
            }

            foreach (var other in occurrences.Where(v => v.Index != winner.Index))
            {
                var why = superseded.Contains(other.Index) || (winner.Paper.Version > other.Paper.Version && !PaperMerge.IsEngagementOnly(other.Paper) && other.Paper.Version > 0)
                    ? $"superseded within this request by version {winner.Paper.Version} of the same paper"
                    : $"combined within this request with entry {winner.Index} of the same id";
                results[other.Index] = new IntakeResult(other.Index, other.Paper.Id, IntakeOutcome.Duplicate, why);
            }

            taken.Add((winner.Index, combined!, occurrences.All(v => v.OnlyIfKnown)));
        }

        return taken;
    }

    private async Task RepublishOneAsync(StoredPaper paper, DateTimeOffset now, CancellationToken cancellationToken)
    {
        ActivityContext.TryParse(paper.TraceParent, null, out var parent);
        using var activity = identity.ActivitySource.StartActivity("republish paper", ActivityKind.Producer, parent);
        activity?.SetTag("paper.id", paper.Paper.Id);
        await bus.PublishWithinAsync(new PaperIngested(paper.Paper, paper.ContentHash, paper.IsUpdate, now) { FirstIngestedAt = paper.IngestedAt }, publishDeadline, cancellationToken);
    }
}

public sealed record IntakeResult(int Index, string Id, IntakeOutcome Outcome, string? Reason);
