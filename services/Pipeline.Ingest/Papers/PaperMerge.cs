using Pipeline.Contracts.Messages;

namespace Pipeline.Ingest.Papers;

/// <summary>
/// One paper, one identity: what ingest stores when a paper it already holds arrives again,
/// possibly from another source. The id (the versionless arXiv id) is the identity.
/// <list type="bullet">
/// <item>Hugging Face contributes engagement (upvotes, comment count, GitHub repository and stars,
/// the day it was featured); arXiv's bibliographic record (title, abstract, authors, categories,
/// links) wins over HF's copy of it, whichever came first.</item>
/// <item>A record that knows nothing of engagement keeps the engagement already held.</item>
/// <item>The same version from a thinner source (the RSS listing after the API) fills its gaps
/// from what is held instead of erasing it; the publication date, once known, stays.</item>
/// </list>
/// </summary>
public static class PaperMerge
{
    public const string HuggingFace = "huggingface";

    public static PaperSummary Merge(PaperSummary? existing, PaperSummary incoming)
    {
        if (existing is null)
        {
            return incoming;
        }

        if (IsEngagementOnly(incoming) && !IsEngagementOnly(existing))
        {
            // HF's view of a paper arXiv described: keep arXiv's record, take HF's numbers.
            return existing with
            {
                Upvotes = incoming.Upvotes,
                Metadata = WithEngagement(existing.Metadata, incoming.Metadata),
            };
        }

        var merged = incoming;
        if (!HasEngagement(incoming) && HasEngagement(existing))
        {
            merged = merged with
            {
                Upvotes = existing.Upvotes,
                Metadata = WithEngagement(merged.Metadata, existing.Metadata),
            };
        }

        if (merged.Version == 0)
        {
            merged = merged with { Version = existing.Version };
        }

        if (merged.Version == existing.Version && existing.Metadata is { } held)
        {
            var m = merged.Metadata ?? new PaperMetadata();
            merged = merged with
            {
                Metadata = m with
                {
                    PrimaryCategory = m.PrimaryCategory ?? held.PrimaryCategory,
                    UpdatedAt = m.UpdatedAt ?? held.UpdatedAt,
                    PdfUrl = m.PdfUrl ?? held.PdfUrl,
                    Doi = m.Doi ?? held.Doi,
                    Comment = m.Comment ?? held.Comment,
                    JournalRef = m.JournalRef ?? held.JournalRef,
                    AuthorDetails = m.AuthorDetails ?? held.AuthorDetails,
                    FeaturedAt = m.FeaturedAt ?? (m.FeaturedOn == held.FeaturedOn ? held.FeaturedAt : null),
                },
            };
        }

        // The first publication date is the paper's; later sources report announcement or featuring days.
        return merged with { PublishedAt = existing.PublishedAt ?? merged.PublishedAt };
    }

    /// <summary>A record from a source that adds engagement to papers described elsewhere.</summary>
    public static bool IsEngagementOnly(PaperSummary paper) => paper.Source == HuggingFace;

    private static bool HasEngagement(PaperSummary paper) =>
        paper.Upvotes > 0 || paper.Metadata is { FeaturedOn: not null } or { FeaturedAt: not null } or { Comments: > 0 } or { GithubRepo: not null } or { GithubStars: > 0 };

    private static PaperMetadata? WithEngagement(PaperMetadata? target, PaperMetadata? engagement)
    {
        if (engagement is null)
        {
            return target;
        }

        // A poll of the same day that does not give the featuring's time keeps the time held.
        var featuredAt = engagement.FeaturedAt
            ?? (target is { FeaturedAt: { } held } && (engagement.FeaturedOn is null || engagement.FeaturedOn == target.FeaturedOn) ? held : null);
        return (target ?? new PaperMetadata()) with
        {
            Comments = engagement.Comments,
            GithubRepo = engagement.GithubRepo,
            GithubStars = engagement.GithubStars,
            FeaturedOn = engagement.FeaturedOn ?? target?.FeaturedOn,
            FeaturedAt = featuredAt,
        };
    }
}
