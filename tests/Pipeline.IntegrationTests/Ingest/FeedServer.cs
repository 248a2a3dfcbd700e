using System.Collections.Concurrent;
using System.Net;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Pipeline.Testing;

namespace Pipeline.IntegrationTests.Ingest;

/// <summary>
/// Stands in for arXiv and Hugging Face on 127.0.0.1: the recorded arXiv API pages from
/// ../shared/data, a Hugging Face day that first answers 429, and an arXiv listing cut in half.
/// Tests never contact the internet.
/// </summary>
public sealed class FeedServer : IAsyncDisposable
{
    private readonly WebApplication _app;
    private int _hfCalls;

    private FeedServer(WebApplication app) => _app = app;

    public string BaseUrl { get; private set; } = "";

    public ConcurrentQueue<(DateTimeOffset At, string Path)> Requests { get; } = new();

    public static string SharedDataPath(string relative) =>
        Path.GetFullPath(Path.Combine(RepoPaths.RepoRoot, "..", "shared", "data", relative));

    public static bool SharedDataPresent => Directory.Exists(SharedDataPath("arxiv-api"));

    public static async Task<FeedServer> StartAsync()
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Configuration.Sources.Clear();
        builder.WebHost.ConfigureKestrel(k => k.Listen(IPAddress.Loopback, 0));
        builder.Logging.ClearProviders();
        var app = builder.Build();
        var server = new FeedServer(app);
        app.Use(async (ctx, next) =>
        {
            server.Requests.Enqueue((DateTimeOffset.UtcNow, ctx.Request.Path + ctx.Request.QueryString));
            await next();
        });
        app.MapGet("/api/query", async ctx =>
        {
            var start = int.Parse(ctx.Request.Query["start"].ToString(), System.Globalization.CultureInfo.InvariantCulture);
            ctx.Response.ContentType = "application/atom+xml; charset=utf-8";
            if (start < 60)
            {
                await ctx.Response.SendFileAsync(SharedDataPath($"arxiv-api/query-testing-start{start}-max10.xml"));
            }
            else
            {
                await ctx.Response.WriteAsync(FeedFixtures.EmptyArxivFeed);
            }
        });
        app.MapGet("/hf/api/daily_papers", async ctx =>
        {
            if (Interlocked.Increment(ref server._hfCalls) == 1)
            {
                ctx.Response.StatusCode = StatusCodes.Status429TooManyRequests;
                ctx.Response.Headers.RetryAfter = "1";
                return;
            }

            ctx.Response.ContentType = "application/json";
            await ctx.Response.WriteAsync(FeedFixtures.HuggingFaceDay);
        });
        app.MapGet("/rss/{category}", async ctx =>
        {
            // A listing cut off half way, as a dropped connection behind a proxy leaves it.
            var whole = FeedFixtures.Listing;
            ctx.Response.ContentType = "application/rss+xml";
            await ctx.Response.WriteAsync(whole[..(whole.Length / 2)]);
        });
        await app.StartAsync();
        server.BaseUrl = app.Services.GetRequiredService<IServer>().Features.GetRequiredFeature<IServerAddressesFeature>().Addresses.First();
        return server;
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
    }
}

public static class FeedFixtures
{
    public const string EmptyArxivFeed = """
        <?xml version='1.0' encoding='UTF-8'?>
        <feed xmlns:opensearch="http://a9.com/-/spec/opensearch/1.1/" xmlns:arxiv="http://arxiv.org/schemas/atom" xmlns="http://www.w3.org/2005/Atom">
          <id>https://arxiv.org/api/fixture-empty</id>
          <title>arXiv Query: fixture past the last page</title>
          <updated>2026-04-12T22:09:27Z</updated>
          <opensearch:itemsPerPage>10</opensearch:itemsPerPage>
          <opensearch:totalResults>60</opensearch:totalResults>
          <opensearch:startIndex>60</opensearch:startIndex>
        </feed>
        """;

    /// <summary>Two featured papers; 2410.17243 is also submitted as an arXiv paper by the test.</summary>
    public const string HuggingFaceDay = """
        [
          {"paper": {"id": "2410.17243", "title": "HF's copy\nof the title", "summary": "HF's copy of the abstract.",
                     "authors": [{"name": "A. Lovelace"}], "publishedAt": "2024-10-22T17:59:59.000Z",
                     "upvotes": 88, "githubRepo": "https://github.com/example/inf-cl", "githubStars": 123,
                     "submittedOnDailyAt": "2024-10-23T01:00:00.000Z"},
           "numComments": 4, "publishedAt": "2024-10-22T17:59:59.000Z"},
          {"paper": {"id": "2410.99001", "title": "Only on\nHugging Face today", "summary": "A featured paper.",
                     "authors": [{"name": "Grace Hopper"}], "publishedAt": "2024-10-22T10:00:00.000Z", "upvotes": 7},
           "numComments": 0}
        ]
        """;

    public const string Listing = """
        <?xml version='1.0' encoding='UTF-8'?>
        <rss xmlns:arxiv="http://arxiv.org/schemas/atom" xmlns:dc="http://purl.org/dc/elements/1.1/" version="2.0">
          <channel>
            <title>cs.LG updates on arXiv.org</title>
            <item>
              <title>First listed paper</title>
              <link>https://arxiv.org/abs/2410.98001</link>
              <description>arXiv:2410.98001v1 Announce Type: new Abstract: The first abstract of the listing.</description>
              <guid isPermaLink="false">oai:arXiv.org:2410.98001v1</guid>
              <category>cs.LG</category>
              <pubDate>Tue, 22 Oct 2024 00:00:00 -0400</pubDate>
              <arxiv:announce_type>new</arxiv:announce_type>
              <dc:creator>Ada Lovelace</dc:creator>
            </item>
            <item>
              <title>Second listed paper</title>
              <link>https://arxiv.org/abs/2410.98002</link>
              <description>arXiv:2410.98002v1 Announce Type: new Abstract: The second abstract of the listing.</description>
              <guid isPermaLink="false">oai:arXiv.org:2410.98002v1</guid>
              <category>cs.LG</category>
              <pubDate>Tue, 22 Oct 2024 00:00:00 -0400</pubDate>
              <arxiv:announce_type>new</arxiv:announce_type>
              <dc:creator>Alan Turing</dc:creator>
            </item>
          </channel>
        </rss>
        """;
}

/// <summary>A fact that serves the recorded arXiv pages of ../shared/data: skipped, and says so, where that folder is absent.</summary>
public sealed class RecordedPagesFactAttribute : FactAttribute
{
    public RecordedPagesFactAttribute()
    {
        if (!FeedServer.SharedDataPresent)
        {
            Skip = "Skipped: ../shared/data/arxiv-api (recorded arXiv pages) is absent beside the repository.";
        }
    }
}
