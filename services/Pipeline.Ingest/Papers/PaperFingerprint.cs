using System.Security.Cryptography;
using System.Text;
using Pipeline.Contracts.Messages;

namespace Pipeline.Ingest.Papers;

/// <summary>Hashes that tell whether a paper changed.</summary>
public static class PaperFingerprint
{
    /// <summary>
    /// Hash of the text that is embedded (title and abstract): embed caches vectors by it, so a
    /// new version with the same text costs no model run.
    /// </summary>
    public static string Content(PaperSummary paper) => Sha256(paper.Title, paper.Abstract);

    /// <summary>
    /// Hash of everything a reader sees. The same fingerprint again is a duplicate; another one
    /// for a known id is an update.
    /// </summary>
    public static string Record(PaperSummary paper) => Sha256(
        paper.Version.ToString(System.Globalization.CultureInfo.InvariantCulture),
        paper.Title,
        paper.Abstract,
        string.Join('\u001f', paper.Authors),
        string.Join('\u001f', paper.Categories),
        paper.PublishedAt?.ToUnixTimeSeconds().ToString(System.Globalization.CultureInfo.InvariantCulture) ?? "",
        paper.Url,
        paper.Upvotes.ToString(System.Globalization.CultureInfo.InvariantCulture),
        paper.Metadata is null ? "" : System.Text.Json.JsonSerializer.Serialize(paper.Metadata));

    private static string Sha256(params string[] parts)
    {
        // A separator that cannot occur in folded text keeps ("ab","c") and ("a","bc") apart.
        var bytes = Encoding.UTF8.GetBytes(string.Join('\u001e', parts));
        return Convert.ToHexStringLower(SHA256.HashData(bytes));
    }
}
