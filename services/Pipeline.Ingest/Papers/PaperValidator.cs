using System.Text.RegularExpressions;
using Pipeline.Contracts;
using Pipeline.Contracts.Messages;

namespace Pipeline.Ingest.Papers;

/// <summary>
/// Turns a submitted paper into a clean <see cref="PaperSummary"/>, or says why it cannot be taken.
/// Ids are normalised (an arXiv id with a version suffix such as 2410.17243v2 becomes id
/// 2410.17243, version 2), whitespace in title and abstract is folded, and every field is bounded.
/// </summary>
public static partial class PaperValidator
{
    public const int MaxIdLength = 128;
    public const int MaxTitleLength = 1_000;
    public const int MaxAbstractLength = 20_000;
    public const int MaxAuthors = 1_000;
    public const int MaxAuthorLength = 300;
    public const int MaxCategories = 50;
    public const int MaxCategoryLength = 64;
    public const int MaxUrlLength = 2_048;
    public const int MaxSourceLength = 64;

    /// <summary>How far past the intake's clock a publication or featuring time may be (a date given without a time zone, a clock a little ahead).</summary>
    public static readonly TimeSpan FutureTolerance = TimeSpan.FromDays(1);

    // The arXiv id forms (new and old style, with a version) and the prefixes that name an arXiv
    // paper are shared with rank and notify: Pipeline.Contracts.PaperIds.

    // Papers from elsewhere carry their source as a prefix: hf:..., doi:10.1000/xyz, local:...
    [GeneratedRegex(@"^[a-z][a-z0-9-]{0,31}:[A-Za-z0-9._~:/()\-]{1,120}$")]
    private static partial Regex PrefixedId();


    /// <summary>
    /// The id a paper is stored under for <paramref name="rawId"/> as a user writes it: an arXiv id
    /// without its version ("2410.17243v2", "arxiv:2410.17243" and arXiv's DOI are "2410.17243"),
    /// else the id as given (trimmed).
    /// </summary>
    public static string StoredId(string rawId) => PaperIds.Canonical(rawId);

    [GeneratedRegex(@"\s+")]
    private static partial Regex Whitespace();

    /// <summary>
    /// The clean paper, or the reason it cannot be taken. Never throws: whatever a client or a
    /// source sends, a paper that cannot be read is refused alone, with a reason, and the others of
    /// its batch go on.
    /// </summary>
    /// <param name="now">
    /// The intake's clock: a publication or featuring time more than <see cref="FutureTolerance"/>
    /// after it is refused (such a paper would sit on top of Trending, aged zero, until the date
    /// came). Without it, times are not compared with the clock.
    /// </param>
    public static PaperValidation Validate(PaperSubmission submission, DateTimeOffset? now = null)
    {
        try
        {
            return ValidateOrThrow(submission, now);
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            return PaperValidation.Reject($"paper could not be read ({e.GetType().Name}: {Shorten(e.Message)})");
        }
    }

    private static string Iso(DateTimeOffset at) => at.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", System.Globalization.CultureInfo.InvariantCulture);

    private static PaperValidation ValidateOrThrow(PaperSubmission submission, DateTimeOffset? now)
    {
        if (submission.Unreadable is { } unreadable)
        {
            return PaperValidation.Reject(unreadable);
        }

        if (now is { } clock)
        {
            var latest = clock + FutureTolerance;
            if (submission.PublishedAt > latest)
            {
                return PaperValidation.Reject($"published_at {Iso(submission.PublishedAt.Value)} is in the future (more than a day after {Iso(clock)})");
            }

            if (submission.Metadata?.FeaturedAt > latest)
            {
                return PaperValidation.Reject($"metadata.featured_at {Iso(submission.Metadata.FeaturedAt.Value)} is in the future (more than a day after {Iso(clock)})");
            }

            // A day is later than the clock once it starts after it, with the same slack.
            if (submission.Metadata?.FeaturedOn is { } day && new DateTimeOffset(day.ToDateTime(TimeOnly.MinValue), TimeSpan.Zero) > latest)
            {
                return PaperValidation.Reject($"metadata.featured_on {day:yyyy-MM-dd} is in the future (more than a day after {Iso(clock)})");
            }
        }

        var rawId = (submission.Id ?? "").Trim();
        if (rawId.Length == 0)
        {
            return PaperValidation.Reject("id is required");
        }

        if (rawId.Length > MaxIdLength)
        {
            return PaperValidation.Reject($"id is longer than {MaxIdLength} characters");
        }

        string id;
        var version = submission.Version;
        bool isArxiv;
        var unprefixed = PaperIds.ArxivAlias().Match(rawId) is { Success: true } alias ? alias.Groups["rest"].Value : rawId;
        var arxiv = PaperIds.NewStyleArxivId().Match(unprefixed);
        if (!arxiv.Success)
        {
            arxiv = PaperIds.OldStyleArxivId().Match(unprefixed);
        }

        if (arxiv.Success)
        {
            id = arxiv.Groups["id"].Value;
            isArxiv = true;
            if (arxiv.Groups["v"].Success)
            {
                var fromId = int.Parse(arxiv.Groups["v"].Value, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture);
                if (version != 0 && version != fromId)
                {
                    return PaperValidation.Reject($"id says version {fromId} but version is {version}");
                }

                version = fromId;
            }
        }
        else if (PrefixedId().IsMatch(rawId))
        {
            id = rawId;
            isArxiv = false;
        }
        else
        {
            return PaperValidation.Reject($"id '{Shorten(rawId)}' is neither an arXiv id (2410.17243, astro-ph/0601001) nor a source-prefixed id (hf:..., doi:...)");
        }

        if (version < 0)
        {
            return PaperValidation.Reject("version must not be negative");
        }

        var title = Fold(submission.Title);
        if (title.Length == 0)
        {
            return PaperValidation.Reject("title is required");
        }

        if (title.Length > MaxTitleLength)
        {
            return PaperValidation.Reject($"title is longer than {MaxTitleLength} characters");
        }

        if (Unprintable(title) is { } titleProblem)
        {
            return PaperValidation.Reject($"title {titleProblem}");
        }

        // Checked before folding so a huge abstract costs no work.
        if ((submission.Abstract?.Length ?? 0) > MaxAbstractLength * 2)
        {
            return PaperValidation.Reject($"abstract is longer than {MaxAbstractLength} characters");
        }

        var abstractText = Fold(submission.Abstract);
        if (abstractText.Length == 0)
        {
            return PaperValidation.Reject("abstract is required");
        }

        if (abstractText.Length > MaxAbstractLength)
        {
            return PaperValidation.Reject($"abstract is longer than {MaxAbstractLength} characters");
        }

        if (Unprintable(abstractText) is { } abstractProblem)
        {
            return PaperValidation.Reject($"abstract {abstractProblem}");
        }

        var authors = submission.Authors.Select(Fold).Where(a => a.Length > 0).ToArray();
        if (authors.Length > MaxAuthors)
        {
            return PaperValidation.Reject($"more than {MaxAuthors} authors");
        }

        if (authors.FirstOrDefault(a => a.Length > MaxAuthorLength) is { } longAuthor)
        {
            return PaperValidation.Reject($"author '{Shorten(longAuthor)}' is longer than {MaxAuthorLength} characters");
        }

        if (authors.Select(a => (Author: a, Problem: Unprintable(a))).FirstOrDefault(a => a.Problem is not null) is { Problem: { } authorProblem } oddAuthor)
        {
            return PaperValidation.Reject($"author '{Shorten(Printable(oddAuthor.Author))}' {authorProblem}");
        }

        var categories = submission.Categories.Select(c => c.Trim()).Where(c => c.Length > 0).Distinct().ToArray();
        if (categories.Length > MaxCategories)
        {
            return PaperValidation.Reject($"more than {MaxCategories} categories");
        }

        if (categories.FirstOrDefault(c => c.Length > MaxCategoryLength || c.Any(char.IsControl) || Unprintable(c) is not null) is { } badCategory)
        {
            // Categories are printed in every email card: the same rule as titles and authors.
            return PaperValidation.Reject($"category '{Shorten(Printable(badCategory))}' is too long or has control characters");
        }

        var url = (submission.Url ?? "").Trim();
        if (url.Length == 0 && isArxiv)
        {
            url = $"https://arxiv.org/abs/{id}";
        }

        if (url.Length > MaxUrlLength)
        {
            return PaperValidation.Reject($"url is longer than {MaxUrlLength} characters");
        }

        if (url.Length > 0 && !(Uri.TryCreate(url, UriKind.Absolute, out var uri) && uri.Scheme is "http" or "https"))
        {
            return PaperValidation.Reject("url must be an absolute http or https address");
        }

        var source = (submission.Source ?? "").Trim();
        if (source.Length == 0)
        {
            source = "api";
        }

        if (source.Length > MaxSourceLength || source.Any(char.IsControl))
        {
            return PaperValidation.Reject($"source is longer than {MaxSourceLength} characters or has control characters");
        }

        if (submission.Upvotes < 0)
        {
            return PaperValidation.Reject("upvotes must not be negative");
        }

        var (metadata, metadataError) = ValidateMetadata(submission.Metadata);
        if (metadataError is not null)
        {
            return PaperValidation.Reject(metadataError);
        }

        return PaperValidation.Accept(new PaperSummary(
            id, version, title, abstractText, authors, categories, submission.PublishedAt, url, source, submission.Upvotes)
        {
            Metadata = metadata,
        });
    }

    private static (PaperMetadata? Metadata, string? Error) ValidateMetadata(PaperMetadata? m)
    {
        if (m is null)
        {
            return (null, null);
        }

        string? Clean(string? text, int max, string field, out string? error)
        {
            error = null;
            var folded = Fold(text);
            if (folded.Length > max)
            {
                error = $"{field} is longer than {max} characters";
            }

            return folded.Length == 0 ? null : folded;
        }

        var primary = Clean(m.PrimaryCategory, MaxCategoryLength, "primary category", out var e1);
        var doi = Clean(m.Doi, 256, "doi", out var e2);
        var comment = Clean(m.Comment, 2_000, "comment", out var e3);
        var journal = Clean(m.JournalRef, 500, "journal reference", out var e4);
        var pdf = Clean(m.PdfUrl, MaxUrlLength, "pdf url", out var e5);
        var github = Clean(m.GithubRepo, MaxUrlLength, "github repository", out var e6);
        if (new[] { e1, e2, e3, e4, e5, e6 }.FirstOrDefault(e => e is not null) is { } error)
        {
            return (null, error);
        }

        if (new[] { pdf, github }.Any(u => u is not null && !(Uri.TryCreate(u, UriKind.Absolute, out var parsed) && parsed.Scheme is "http" or "https")))
        {
            return (null, "pdf and github addresses must be absolute http or https addresses");
        }

        if (m.Comments < 0 || m.GithubStars < 0)
        {
            return (null, "comment and star counts must not be negative");
        }

        var details = m.AuthorDetails?.Select(a => new AuthorDetail(Fold(a.Name), a.Affiliations.Select(Fold).Where(x => x.Length > 0).ToArray())).ToArray();
        if (details is not null && (details.Length > MaxAuthors || details.Any(a => a.Name.Length > MaxAuthorLength || a.Affiliations.Count > 20 || a.Affiliations.Any(x => x.Length > MaxAuthorLength))))
        {
            return (null, $"author details exceed {MaxAuthors} authors, 20 affiliations each or {MaxAuthorLength} characters");
        }

        return (m with { PrimaryCategory = primary, Doi = doi, Comment = comment, JournalRef = journal, PdfUrl = pdf, GithubRepo = github, AuthorDetails = details }, null);
    }

    /// <summary>
    /// Why text that reaches emails and pages cannot be taken as it is, or null: a C0 control character
    /// or DEL (NUL and the like; line breaks and tabs are folded before this), a bidirectional override,
    /// embedding or isolate (U+202A-U+202E, U+2066-U+2069: they make text read differently from
    /// what it says), or half of a surrogate pair (not Unicode at all).
    /// </summary>
    public static string? Unprintable(string text)
    {
        for (var i = 0; i < text.Length; i++)
        {
            var c = text[i];
            if (char.IsHighSurrogate(c) && i + 1 < text.Length && char.IsLowSurrogate(text[i + 1]))
            {
                i++;
                continue;
            }

            if (char.IsSurrogate(c))
            {
                return $"has a lone surrogate U+{(int)c:X4} (not valid Unicode)";
            }

            // C0 and DEL; C1 (U+0080-U+009F) is left alone: real arXiv records carry it in doubly
            // encoded text, which Fold repairs, and what is left of it is harmless in email and HTML.
            if (c < ' ' || c == '\u007F')
            {
                return $"has the control character U+{(int)c:X4}";
            }

            if (c is >= '\u202A' and <= '\u202E' or >= '\u2066' and <= '\u2069')
            {
                return $"has the bidirectional control U+{(int)c:X4}";
            }
        }

        return null;
    }

    private static string Printable(string text) =>
        new(text.Select(c => c < ' ' || c == '\u007F' || char.IsSurrogate(c) || c is >= '\u202A' and <= '\u202E' or >= '\u2066' and <= '\u2069' ? '?' : c).ToArray());

    /// <summary>
    /// Repairs UTF-8 that was read as Latin-1 ("KroiÃ\u009f" → "Kroiß", <see cref="Mojibake"/>), then
    /// collapses every run of white space (line breaks included) to one space and trims. In that
    /// order: .NET's white space includes U+0085 and U+00A0, the second byte of a doubly encoded
    /// "ą" or "à" ("DÄ\u0085browski"), which folding first would turn into a space for good.
    /// </summary>
    public static string Fold(string? text) =>
        string.IsNullOrEmpty(text) ? "" : Whitespace().Replace(Mojibake.Repair(text), " ").Trim();

    private static string Shorten(string text) => text.Length <= 40 ? text : text[..40] + "…";
}

/// <summary>A paper as a client sent it, before validation.</summary>
public sealed record PaperSubmission(
    string? Id,
    int Version,
    string? Title,
    string? Abstract,
    IReadOnlyList<string> Authors,
    IReadOnlyList<string> Categories,
    DateTimeOffset? PublishedAt,
    string? Url,
    string? Source,
    int Upvotes)
{
    public PaperMetadata? Metadata { get; init; }

    /// <summary>
    /// Only update a paper ingest already holds; never take it as new. Set for arXiv's
    /// <c>replace</c> announcements, which are new versions of papers announced before.
    /// </summary>
    public bool OnlyIfKnown { get; init; }

    /// <summary>
    /// Why the paper as sent cannot be read, when a field could not even be converted (a protobuf
    /// timestamp that is no time): validation rejects the paper with this reason. Null otherwise.
    /// </summary>
    public string? Unreadable { get; init; }
}

/// <summary>Either a clean paper or the reason it was refused.</summary>
public sealed record PaperValidation(PaperSummary? Paper, string? Reason)
{
    public static PaperValidation Accept(PaperSummary paper) => new(paper, null);

    public static PaperValidation Reject(string reason) => new(null, reason);
}
