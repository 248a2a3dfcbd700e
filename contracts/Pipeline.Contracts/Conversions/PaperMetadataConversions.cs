using System.Globalization;
using Google.Protobuf.WellKnownTypes;
using Pipeline.Contracts.Messages;
using ProtoMetadata = Pipeline.Contracts.Ingest.V1.PaperMetadata;

namespace Pipeline.Contracts.Conversions;

/// <summary>
/// Between the gRPC <see cref="ProtoMetadata"/> (empty strings for "none") and the message record
/// <see cref="PaperMetadata"/> (nulls): one mapping for every service that crosses the two.
/// </summary>
public static class PaperMetadataConversions
{
    /// <summary>
    /// The record of <paramref name="m"/>. Throws InvalidOperationException when its
    /// <c>updated_at</c> or <c>featured_at</c> is no time: check <see cref="TimestampConversions.IsValid"/>
    /// first where a client sent it.
    /// </summary>
    public static PaperMetadata ToRecord(this ProtoMetadata m) => new(
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
        DateOnly.TryParseExact(m.FeaturedOn, "yyyy-MM-dd", CultureInfo.InvariantCulture, DateTimeStyles.None, out var day) ? day : null,
        m.FeaturedAt?.ToDateTimeOffset());

    public static ProtoMetadata ToProto(this PaperMetadata m)
    {
        var proto = new ProtoMetadata
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
            FeaturedOn = m.FeaturedOn?.ToString("yyyy-MM-dd", CultureInfo.InvariantCulture) ?? "",
            FeaturedAt = m.FeaturedAt is { } f ? Timestamp.FromDateTimeOffset(f) : null,
        };
        foreach (var a in m.AuthorDetails ?? [])
        {
            proto.AuthorDetails.Add(new Ingest.V1.Author { Name = a.Name, Affiliations = { a.Affiliations } });
        }

        return proto;
    }

    private static string? NullIfEmpty(string s) => s.Length == 0 ? null : s;
}
