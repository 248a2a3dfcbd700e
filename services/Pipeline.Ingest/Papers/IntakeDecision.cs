using Pipeline.Contracts.Messages;
using Pipeline.Ingest.Storage;

namespace Pipeline.Ingest.Papers;

public enum IntakeOutcome
{
    Accepted,
    Updated,
    Duplicate,
    Rejected,

    /// <summary>A replacement of a paper ingest never held: not taken, so it is never announced as new.</summary>
    Skipped,
}

/// <summary>What a submitted, valid paper means given what ingest already holds under its id.</summary>
public static class IntakeDecision
{
    /// <returns>
    /// The outcome the client sees, and whether the paper must be stored and published. A known
    /// paper whose event never got out (<c>Published</c> false) is published again, so a crash
    /// between storing and publishing loses nothing.
    /// </returns>
    public static (IntakeOutcome Outcome, bool Publish) Decide(StoredPaper? existing, string fingerprint) =>
        existing switch
        {
            null => (IntakeOutcome.Accepted, true),
            { Fingerprint: var f, Published: true } when f == fingerprint => (IntakeOutcome.Duplicate, false),
            { Fingerprint: var f } when f == fingerprint => (IntakeOutcome.Accepted, true),
            _ => (IntakeOutcome.Updated, true),
        };

    /// <summary>
    /// As <see cref="Decide(StoredPaper?, string)"/>, knowing the incoming paper: an older version
    /// arriving after a newer one (a late page, a stale mirror) never overwrites the newer, and a
    /// replacement of an unknown paper is skipped.
    /// </summary>
    public static (IntakeOutcome Outcome, bool Publish, string? Reason) Decide(StoredPaper? existing, PaperSummary incoming, string fingerprint, bool onlyIfKnown = false)
    {
        if (existing is null && onlyIfKnown)
        {
            return (IntakeOutcome.Skipped, false, "a new version of a paper this service never ingested; not announced as new");
        }

        if (existing is not null && incoming.Version > 0 && existing.Paper.Version > incoming.Version)
        {
            return (IntakeOutcome.Duplicate, false, $"version {incoming.Version} is older than the stored version {existing.Paper.Version}");
        }

        var (outcome, publish) = Decide(existing, fingerprint);
        return (outcome, publish, null);
    }
}
