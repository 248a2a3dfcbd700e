namespace Pipeline.Notify.Delivery;

/// <summary>Preferences as a subscriber asked for them, before validation.</summary>
public sealed record PreferencesRequest(
    IReadOnlyList<string> Interests,
    string Cadence,
    string? TimeZone,
    int Hour,
    int MaxPapers,
    double InstantThreshold,
    int Weekday = 0,
    bool NoteWhenEmpty = false,
    IReadOnlyList<string>? SeedPaperIds = null,
    IReadOnlyList<string>? Authors = null,
    IReadOnlyList<string>? Categories = null);

/// <summary>Validated preferences.</summary>
public sealed record Preferences(
    IReadOnlyList<string> Interests,
    string Cadence,
    string TimeZone,
    int Hour,
    int MaxPapers,
    double InstantThreshold,
    int Weekday = 1,
    bool NoteWhenEmpty = false,
    IReadOnlyList<string>? SeedPaperIds = null,
    IReadOnlyList<string>? Authors = null,
    IReadOnlyList<string>? Categories = null);

/// <summary>The bounds on what a subscriber can ask for.</summary>
public static class SubscriptionRules
{
    public const int MaxInterests = 20;
    public const int MaxInterestLength = 200;
    public const int DefaultMaxPapers = 10;
    public const int MaxPapersLimit = 50;
    public const int MaxProfileItems = 50;
    public const int MaxProfileItemLength = 200;
    public static readonly string[] Cadences = ["daily", "weekly", "instant"];

    public static (Preferences? Preferences, string? Error) Validate(PreferencesRequest request, double defaultThreshold)
    {
        var interests = request.Interests.Select(i => i.Trim()).Where(i => i.Length > 0).Distinct(StringComparer.OrdinalIgnoreCase).ToArray();
        if (interests.Length == 0)
        {
            return (null, "give at least one interest, such as 'diffusion models'");
        }

        if (interests.Length > MaxInterests)
        {
            return (null, $"at most {MaxInterests} interests");
        }

        if (interests.FirstOrDefault(i => i.Length > MaxInterestLength || i.Any(char.IsControl)) is { } bad)
        {
            return (null, $"interest '{bad[..Math.Min(bad.Length, 40)]}' is longer than {MaxInterestLength} characters or has control characters");
        }

        if (!Cadences.Contains(request.Cadence))
        {
            return (null, "cadence must be daily, weekly or instant");
        }

        var zone = string.IsNullOrWhiteSpace(request.TimeZone) ? "UTC" : request.TimeZone.Trim();
        if (zone.Length > 64 || !TimeZoneInfo.TryFindSystemTimeZoneById(zone, out _))
        {
            return (null, $"'{zone[..Math.Min(zone.Length, 64)]}' is not a known time zone (use an IANA name such as Europe/Berlin)");
        }

        if (request.Hour is < 0 or > 23)
        {
            return (null, "hour must be between 0 and 23");
        }

        var maxPapers = request.MaxPapers == 0 ? DefaultMaxPapers : request.MaxPapers;
        if (maxPapers is < 1 or > MaxPapersLimit)
        {
            return (null, $"max_papers must be between 1 and {MaxPapersLimit}");
        }

        var threshold = request.InstantThreshold == 0 ? defaultThreshold : request.InstantThreshold;
        if (double.IsNaN(threshold) || threshold is < 0 or > 1)
        {
            return (null, "instant_threshold must be between 0 and 1");
        }

        var weekday = request.Weekday == 0 ? 1 : request.Weekday;
        if (weekday is < 1 or > 7)
        {
            return (null, "weekday must be between 1 (Monday) and 7 (Sunday)");
        }

        var (seeds, seedsError) = CleanList(request.SeedPaperIds, "seed_paper_ids");
        var (authors, authorsError) = CleanList(request.Authors, "authors");
        var (categories, categoriesError) = CleanList(request.Categories, "categories");
        if ((seedsError ?? authorsError ?? categoriesError) is { } listError)
        {
            return (null, listError);
        }

        // Kept as the papers are known everywhere: "arxiv:2410.17243v2" is 2410.17243.
        seeds = seeds.Select(Pipeline.Contracts.PaperIds.Canonical).Distinct(StringComparer.Ordinal).ToList();

        if (authors.FirstOrDefault(a => !a.Any(char.IsLetter)) is { } nameless)
        {
            return (null, $"authors: '{nameless}' is not a name (an author is followed by name, such as 'Grace Hopper' or 'G. Hopper')");
        }

        return (new Preferences(interests, request.Cadence, zone, request.Hour, maxPapers, threshold, weekday, request.NoteWhenEmpty, seeds, authors, categories), null);
    }

    private static (IReadOnlyList<string> Items, string? Error) CleanList(IReadOnlyList<string>? items, string field)
    {
        var clean = (items ?? []).Select(i => i.Trim()).Where(i => i.Length > 0).Distinct(StringComparer.OrdinalIgnoreCase).ToArray();
        if (clean.Length > MaxProfileItems)
        {
            return ([], $"{field}: at most {MaxProfileItems}");
        }

        return clean.Any(i => i.Length > MaxProfileItemLength || i.Any(char.IsControl))
            ? ([], $"{field}: each at most {MaxProfileItemLength} characters, without control characters")
            : (clean, null);
    }
}
