using Pipeline.Ingest.Storage;

namespace Pipeline.Ingest.Papers;

public enum IntakeOutcome
{
    Accepted,
    Updated,
    Duplicate,
    Rejected,
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
}
