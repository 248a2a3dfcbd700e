using Google.Protobuf.WellKnownTypes;
using Pipeline.Contracts.Ingest.V1;
using Pipeline.Contracts.Messages;
using PaperMetadata = Pipeline.Contracts.Messages.PaperMetadata;
using Pipeline.Ingest.Papers;
using Pipeline.Ingest.Storage;

namespace Pipeline.Ingest.Grpc;

/// <summary>Between the gRPC Paper and the domain's records.</summary>
public static class PaperMapping
{
    public static PaperSubmission ToSubmission(Paper p) =>
        new(p.Id, p.Version, p.Title, p.Abstract, p.Authors, p.Categories, p.PublishedAt?.ToDateTimeOffset(), p.Url, p.Source, p.Upvotes)
        {
            Metadata = p.Metadata is { } m ? ToRecord(m) : null,
        };

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
            Metadata = p.Metadata is { } m ? ToProto(m) : null,
        };
        paper.Authors.AddRange(p.Authors);
        paper.Categories.AddRange(p.Categories);
        return paper;
    }

    private static PaperMetadata ToRecord(Contracts.Ingest.V1.PaperMetadata m) => new(
        NullIfEmpty(m.PrimaryCategory),
        m.UpdatedAt?.ToDateTimeOffset(),
        NullIfEmpty(m.PdfUrl),
        NullIfEmpty(m.Doi),
        NullIfEmpty(m.Comment),
        NullIfEmpty(m.JournalRef),
        m.AuthorDetails.Count == 0 ? null : m.AuthorDetails.Select(a => new AuthorDetail(a.Name, a.Affiliations.ToArray())).ToArray(),
        m.Comments,
        NullIfEmpty(m.GithubRepo),
        m.GithubStars,
        DateOnly.TryParseExact(m.FeaturedOn, "yyyy-MM-dd", out var day) ? day : null);

    private static Contracts.Ingest.V1.PaperMetadata ToProto(PaperMetadata m)
    {
        var proto = new Contracts.Ingest.V1.PaperMetadata
        {
            PrimaryCategory = m.PrimaryCategory ?? "",
            UpdatedAt = m.UpdatedAt is { } u ? Timestamp.FromDateTimeOffset(u) : null,
            PdfUrl = m.PdfUrl ?? "",
            Doi = m.Doi ?? "",
            Comment = m.Comment ?? "",
            JournalRef = m.JournalRef ?? "",
            Comments = m.Comments,
            GithubRepo = m.GithubRepo ?? "",
            GithubStars = m.GithubStars,
            FeaturedOn = m.FeaturedOn?.ToString("yyyy-MM-dd", System.Globalization.CultureInfo.InvariantCulture) ?? "",
        };
        foreach (var a in m.AuthorDetails ?? [])
        {
            proto.AuthorDetails.Add(new Author { Name = a.Name, Affiliations = { a.Affiliations } });
        }

        return proto;
    }

    private static string? NullIfEmpty(string s) => s.Length == 0 ? null : s;
}
