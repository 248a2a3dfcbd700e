namespace Pipeline.Ingest.Sources;

/// <summary>
/// <c>Sources</c> in configuration: one section per source, and what all of them share. Every
/// source is off until enabled (it polls the public internet); a disabled source neither polls on
/// schedule nor on <c>PollSource</c>.
/// </summary>
public sealed class SourcesOptions
{
    /// <summary>Off in tests that drive sources with PollSource alone.</summary>
    public bool SchedulerEnabled { get; set; } = true;

    /// <summary>Bodies that failed to parse, kept per source (newest first) for inspection.</summary>
    public int KeptBodies { get; set; } = 5;

    /// <summary>How much of a failed body is kept.</summary>
    public int KeptBodyBytes { get; set; } = 64 * 1024;

    /// <summary>Rejected entries kept per source, newest first, with their reasons.</summary>
    public int KeptRejections { get; set; } = 200;

    /// <summary>Names the project to the sites it polls, as arXiv asks of API clients.</summary>
    public string UserAgent { get; set; } = "paper-pipeline-ingest/1.0 (self-hosted research paper pipeline; polite polling)";

    public ArxivApiOptions ArxivApi { get; set; } = new();

    public ArxivRssOptions ArxivRss { get; set; } = new();

    public HuggingFaceOptions HuggingFace { get; set; } = new();

    public JsonLinesOptions JsonLines { get; set; } = new();

    /// <summary>What an enabled source cannot work with, in words naming the setting; null when nothing.</summary>
    public string? Problem() =>
        ArxivApi.Enabled && !string.Equals(ArxivApi.SortBy, "lastUpdatedDate", StringComparison.OrdinalIgnoreCase)
            ? $"Sources:ArxivApi:SortBy is '{ArxivApi.SortBy}'; only lastUpdatedDate is supported: the poll's cursor relies on the newest updates coming first."
            : null;
}

/// <summary>Fails ingest's start on a <see cref="SourcesOptions.Problem"/>, with its words.</summary>
public sealed class SourcesOptionsValidator : Microsoft.Extensions.Options.IValidateOptions<SourcesOptions>
{
    public Microsoft.Extensions.Options.ValidateOptionsResult Validate(string? name, SourcesOptions options) =>
        options.Problem() is { } problem
            ? Microsoft.Extensions.Options.ValidateOptionsResult.Fail(problem)
            : Microsoft.Extensions.Options.ValidateOptionsResult.Success;
}

/// <summary>What every source has.</summary>
public abstract class SourceOptions
{
    public bool Enabled { get; set; }

    /// <summary>Time between the starts of two scheduled polls.</summary>
    public TimeSpan Interval { get; set; } = TimeSpan.FromHours(1);
}

/// <summary>What every source that polls over HTTP has.</summary>
public abstract class HttpSourceOptions : SourceOptions
{
    public string BaseUrl { get; set; } = "";

    /// <summary>One request, from sending it to the last byte of the answer.</summary>
    public TimeSpan Timeout { get; set; } = TimeSpan.FromSeconds(60);

    /// <summary>Enforced while reading: a longer body is abandoned at this many bytes.</summary>
    public long MaxResponseBytes { get; set; } = 16L * 1024 * 1024;

    /// <summary>Polite spacing between two requests to the same source, retries included.</summary>
    public TimeSpan MinRequestInterval { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>Attempts per request when the server answers 429/502/503/504 or the connection fails.</summary>
    public int MaxAttempts { get; set; } = 4;

    /// <summary>First backoff; it doubles with each retry (a Retry-After header wins when longer).</summary>
    public TimeSpan RetryBaseDelay { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>A Retry-After longer than this ends the poll with an error instead of waiting.</summary>
    public TimeSpan MaxRetryDelay { get; set; } = TimeSpan.FromMinutes(5);
}

/// <summary>The arXiv query API: categories and/or a search query, newest updates first, paged.</summary>
public sealed class ArxivApiOptions : HttpSourceOptions
{
    public ArxivApiOptions()
    {
        BaseUrl = "https://export.arxiv.org/api/query";
        Interval = TimeSpan.FromHours(6);
        // arXiv's terms of use: no more than one request every three seconds, on one connection.
        MinRequestInterval = TimeSpan.FromSeconds(3);
    }

    public string[] Categories { get; set; } = [];

    /// <summary>A search_query of the API (ti:, abs:, au:, all: ...), ANDed with the categories.</summary>
    public string? Query { get; set; }

    public int PageSize { get; set; } = 100;

    /// <summary>
    /// A poll stops after this many results. The first poll (no watermark yet) ends there: older
    /// papers are left out. A later poll that stops here before reaching the watermark keeps its
    /// place, and the next poll pages on from it until the watermark, so no update is skipped.
    /// </summary>
    public int MaxResultsPerPoll { get; set; } = 2_000;

    /// <summary>
    /// How far below the watermark a poll still pages. arXiv dates an entry by its submission
    /// (<c>updated</c> for a new version), and announces it a day to four days later, later still
    /// when it was held for moderation: such a paper enters the listing below entries taken by
    /// earlier polls. A poll pages on until a page reaches further back than the watermark less
    /// this, so those papers are taken when they appear; the papers read again are duplicates,
    /// counted as such. Zero: stop at the first page that reaches the watermark.
    /// </summary>
    public TimeSpan Lookback { get; set; } = TimeSpan.FromDays(5);

    /// <summary>
    /// How far below the watermark the deep poll reads, made every <see cref="DeepLookbackEvery"/>:
    /// a paper arXiv held for moderation longer than <see cref="Lookback"/> is announced dated by
    /// its submission, below where ordinary polls stop. Costs that poll a month of the listing read
    /// again (as duplicates), over several polls if it is longer than <see cref="MaxResultsPerPoll"/>.
    /// </summary>
    public TimeSpan DeepLookback { get; set; } = TimeSpan.FromDays(30);

    /// <summary>Time between deep polls; zero: none.</summary>
    public TimeSpan DeepLookbackEvery { get; set; } = TimeSpan.FromDays(1);

    /// <summary>Only lastUpdatedDate: the cursor relies on newest-first order (any other value fails the poll, saying so).</summary>
    public string SortBy { get; set; } = "lastUpdatedDate";
}

/// <summary>arXiv's daily announcement feed, one request per category.</summary>
public sealed class ArxivRssOptions : HttpSourceOptions
{
    public ArxivRssOptions()
    {
        BaseUrl = "https://rss.arxiv.org/rss/";
        Interval = TimeSpan.FromHours(3);
        MinRequestInterval = TimeSpan.FromSeconds(3);
    }

    public string[] Categories { get; set; } = [];
}

/// <summary>Hugging Face daily papers, one request per day.</summary>
public sealed class HuggingFaceOptions : HttpSourceOptions
{
    public HuggingFaceOptions()
    {
        BaseUrl = "https://huggingface.co/api/daily_papers";
        Interval = TimeSpan.FromHours(1);
    }

    /// <summary>Days fetched by the first poll (today and the days before it).</summary>
    public int FirstPollDays { get; set; } = 3;
}

/// <summary>A JSON Lines file of papers, read from where the last poll stopped.</summary>
public sealed class JsonLinesOptions : SourceOptions
{
    public JsonLinesOptions()
    {
        Interval = TimeSpan.FromMinutes(5);
    }

    public string? Path { get; set; }

    public int MaxLineBytes { get; set; } = 1024 * 1024;

    public int BatchSize { get; set; } = 500;
}
