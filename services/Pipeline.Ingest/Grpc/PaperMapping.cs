using Google.Protobuf.WellKnownTypes;
using Pipeline.Contracts.Conversions;
using Pipeline.Contracts.Ingest.V1;
using Pipeline.Contracts.Messages;
using Pipeline.Ingest.Papers;
using Pipeline.Ingest.Storage;

namespace Pipeline.Ingest.Grpc;

/// <summary>Between the gRPC Paper and the domain's records.</summary>
public static class PaperMapping
{
    /// <summary>
    /// The paper as submitted. Never throws: a timestamp that is no time (seconds outside years 1
    /// to 9999, nanos out of range) becomes <see cref="PaperSubmission.Unreadable"/>, and validation
    /// rejects that paper alone with the reason while the rest of its call or stream is taken.
    /// </summary>
    public static PaperSubmission ToSubmission(Paper p)
    {
        var unreadable = new List<string>(3);
        DateTimeOffset? publishedAt = null;
        if (p.PublishedAt is { } published)
        {
            if (published.TryToDateTimeOffset(out var at))
            {
                publishedAt = at;
            }
            else
            {
                unreadable.Add("published_at");
            }
        }

        var metadata = p.Metadata;
        if (metadata?.UpdatedAt is { } updated && !updated.IsValid())
        {
            unreadable.Add("metadata.updated_at");
            metadata = metadata.Clone();
            metadata.UpdatedAt = null;
        }

        if (metadata?.FeaturedAt is { } featured && !featured.IsValid())
        {
            unreadable.Add("metadata.featured_at");
            metadata = metadata.Clone();
            metadata.FeaturedAt = null;
        }

        return new(p.Id, p.Version, p.Title, p.Abstract, p.Authors, p.Categories, publishedAt, p.Url, p.Source, p.Upvotes)
        {
            Metadata = metadata?.ToRecord(),
            Unreadable = unreadable.Count == 0
                ? null
                : $"{(unreadable.Count == 1 ? unreadable[0] : string.Join(", ", unreadable[..^1]) + " and " + unreadable[^1])} {(unreadable.Count == 1 ? "is" : "are")} not a valid timestamp ({TimestampConversions.ValidRange})",
        };
    }

    public static Paper ToProto(StoredPaper stored)
    {
        var p = stored.Paper;
        var paper = new Paper
        {
            Id = p.Id,
            Version = p.Version,
            Title = p.Title,
            Abstract = p.Abstract,
            Url = p.Url,
            Source = p.Source,
            Upvotes = p.Upvotes,
            PublishedAt = p.PublishedAt is { } at ? Timestamp.FromDateTimeOffset(at) : null,
            IngestedAt = Timestamp.FromDateTimeOffset(stored.IngestedAt),
            ContentHash = stored.ContentHash,
            Metadata = p.Metadata?.ToProto(),
        };
        paper.Authors.AddRange(p.Authors);
        paper.Categories.AddRange(p.Categories);
        return paper;
    }
}
