using System.Text.Json.Serialization;

namespace Pipeline.Contracts.Messages;

/// <summary>
/// The fields of a paper that every stage after ingest needs, carried inside the events so the hot
/// path needs no extra round trip. <see cref="Metadata"/> holds what some sources add.
/// </summary>
public sealed record PaperSummary(
    string Id,
    int Version,
    string Title,
    string Abstract,
    IReadOnlyList<string> Authors,
    IReadOnlyList<string> Categories,
    DateTimeOffset? PublishedAt,
    string Url,
    string Source,
    int Upvotes)
{
    public PaperMetadata? Metadata { get; init; }
}

/// <summary>What sources know beyond the essentials; every field optional.</summary>
/// <param name="FeaturedOn">The day a daily-papers site featured the paper.</param>
/// <param name="FeaturedAt">When the daily-papers site featured it, where the site says (Hugging Face's <c>submittedOnDailyAt</c>).</param>
public sealed record PaperMetadata(
    string? PrimaryCategory = null,
    DateTimeOffset? UpdatedAt = null,
    string? PdfUrl = null,
    string? Doi = null,
    string? Comment = null,
    string? JournalRef = null,
    IReadOnlyList<AuthorDetail>? AuthorDetails = null,
    int Comments = 0,
    string? GithubRepo = null,
    int GithubStars = 0,
    DateOnly? FeaturedOn = null,
    // Left out of JSON when unknown, so a record stored before this field existed reads and
    // fingerprints (ingest's PaperFingerprint) the same as it did.
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] DateTimeOffset? FeaturedAt = null);

public sealed record AuthorDetail(string Name, IReadOnlyList<string> Affiliations);
