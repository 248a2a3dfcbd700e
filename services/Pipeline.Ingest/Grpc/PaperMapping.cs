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
    public static PaperSubmission ToSubmission(Paper p) =>
        new(p.Id, p.Version, p.Title, p.Abstract, p.Authors, p.Categories, p.PublishedAt?.ToDateTimeOffset(), p.Url, p.Source, p.Upvotes)
        {
            Metadata = p.Metadata?.ToRecord(),
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
            Metadata = p.Metadata?.ToProto(),
        };
        paper.Authors.AddRange(p.Authors);
        paper.Categories.AddRange(p.Categories);
        return paper;
    }
}
