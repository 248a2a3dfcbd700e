using Pipeline.Ingest.Papers;

namespace Pipeline.Ingest.Sources.Parsing;

/// <summary>What a parser made of one response body.</summary>
/// <param name="Papers">Entries that parsed, in feed order, not yet validated by intake.</param>
/// <param name="Rejections">Entries that did not, each with its reason; the others are unaffected.</param>
/// <param name="TotalResults">The feed's own count of results (arXiv API), for paging.</param>
public sealed record ParsedFeed(
    IReadOnlyList<PaperSubmission> Papers,
    IReadOnlyList<EntryRejection> Rejections,
    int? TotalResults = null,
    int? StartIndex = null)
{
    public static ParsedFeed Empty { get; } = new([], []);

    /// <summary>
    /// The most entries one body may hold (an arXiv API page holds at most 2,000, a day's listing a
    /// few thousand, a daily-papers page about fifty): a body with more is refused as a whole, so a
    /// 16 MB body of junk items cannot make millions of rejections in memory.
    /// </summary>
    public const int MaxEntries = 20_000;

    /// <summary>Throws <see cref="FeedFormatException"/> once <paramref name="position"/> passes <see cref="MaxEntries"/>.</summary>
    public static void CheckEntryCount(int position)
    {
        if (position > MaxEntries)
        {
            throw new FeedFormatException($"the body holds more than {MaxEntries:N0} entries, more than any page of a source this reads; nothing from it is taken");
        }
    }
}

/// <summary>One entry of a feed that could not become a paper.</summary>
/// <param name="Entry">Which entry: its id when it has one, else its position ("entry 7", "line 12").</param>
public sealed record EntryRejection(string Entry, string Reason);

/// <summary>
/// The body as a whole is unusable: not well-formed, truncated, not the expected format. Nothing
/// from it is ingested; the body is kept for inspection and the cursor does not move, so the next
/// poll asks again.
/// </summary>
public sealed class FeedFormatException(string message, Exception? inner = null) : Exception(message, inner);

/// <summary>
/// The source answered with an error document (arXiv's Atom feed with one "Error" entry, Hugging
/// Face's <c>{"error": ...}</c>): a failed request, not an empty result.
/// </summary>
public sealed class SourceErrorException(string message) : Exception(message);
