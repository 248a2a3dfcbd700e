using System.Diagnostics;
using System.Net;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;
using Pipeline.Ingest.Papers;
using Pipeline.Ingest.Sources;
using Pipeline.Ingest.Sources.Parsing;

namespace Pipeline.Ingest.Tests.Sources;

/// <summary>The real responses in ../shared/data, found by walking up to the folder with Pipeline.sln.</summary>
public static class SharedData
{
    public static bool IsPresent => RootDir.Value is not null;

    private static readonly Lazy<string?> RootDir = new(() =>
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "Pipeline.sln")))
            {
                var data = Path.GetFullPath(Path.Combine(dir.FullName, "..", "shared", "data"));
                return Directory.Exists(data) ? data : null;
            }
        }

        return null;
    });

    /// <summary>A file of ../shared/data; the tests that use it are skipped (not failed) where the folder is absent.</summary>
    public static string PathOf(string relative)
    {
        var root = RootDir.Value ?? throw new DirectoryNotFoundException("../shared/data is absent.");
        return Path.Combine(root, relative);
    }

    public static Stream Open(string relative) => File.OpenRead(PathOf(relative));

    public static byte[] Bytes(string relative) => File.ReadAllBytes(PathOf(relative));
}

/// <summary>A fact that reads ../shared/data: skipped, and says so, where that folder is absent.</summary>
public sealed class SharedDataFactAttribute : FactAttribute
{
    public SharedDataFactAttribute()
    {
        if (!SharedData.IsPresent)
        {
            Skip = "Skipped: ../shared/data (real recorded responses) is absent beside the repository.";
        }
    }
}

/// <summary>A Kestrel server on 127.0.0.1 and a free port, answering with the given handler.</summary>
public sealed class LocalHttpServer : IAsyncDisposable
{
    private readonly WebApplication _app;

    private LocalHttpServer(WebApplication app, int port)
    {
        _app = app;
        BaseUrl = $"http://127.0.0.1:{port}";
    }

    public string BaseUrl { get; }

    public List<(DateTimeOffset At, string PathAndQuery, string UserAgent)> Requests { get; } = [];

    public static async Task<LocalHttpServer> StartAsync(Func<HttpContext, Task> handler)
    {
        var builder = WebApplication.CreateSlimBuilder();
        // The test output holds ingest's appsettings.json (its Kestrel endpoints): use none of it.
        builder.Configuration.Sources.Clear();
        builder.WebHost.ConfigureKestrel(k => k.Listen(IPAddress.Loopback, 0));
        builder.Logging.ClearProviders();
        var app = builder.Build();
        LocalHttpServer? server = null;
        app.Run(async context =>
        {
            lock (server!.Requests)
            {
                server.Requests.Add((DateTimeOffset.UtcNow, context.Request.Path + context.Request.QueryString, context.Request.Headers.UserAgent.ToString()));
            }

            await handler(context);
        });
        await app.StartAsync();
        var address = app.Services.GetRequiredService<IServer>().Features.GetRequiredFeature<IServerAddressesFeature>().Addresses.First();
        server = new LocalHttpServer(app, new Uri(address).Port);
        return server;
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
    }
}

/// <summary>A poll that keeps everything in memory and de-duplicates by id, as intake would.</summary>
public sealed class RecordingPoll(string? cursor = null) : SourcePoll
{
    private static readonly ActivitySource Source = new("Pipeline.Ingest.Tests");

    public Dictionary<string, PaperSubmission> Papers { get; } = [];

    public int New { get; private set; }

    public List<EntryRejection> Rejections { get; } = [];

    public List<(Uri Url, byte[] Body, string Reason)> KeptBodies { get; } = [];

    public string? SavedCursor { get; private set; } = cursor;

    public override string? Cursor { get; } = cursor;

    public override ActivitySource ActivitySource => Source;

    public override Task SubmitAsync(IReadOnlyList<PaperSubmission> papers, CancellationToken cancellationToken, IReadOnlyList<string>? entries = null)
    {
        foreach (var p in papers)
        {
            var id = PaperValidator.Validate(p).Paper?.Id ?? p.Id ?? "";
            if (Papers.TryAdd(id, p))
            {
                New++;
            }
        }

        return Task.CompletedTask;
    }

    public override Task RejectAsync(IReadOnlyList<EntryRejection> rejections)
    {
        Rejections.AddRange(rejections);
        RejectCalls.Add(rejections.Count);
        return Task.CompletedTask;
    }

    /// <summary>How many rejections each RejectAsync call carried.</summary>
    public List<int> RejectCalls { get; } = [];

    public override Task SaveCursorAsync(string value)
    {
        SavedCursor = value;
        return Task.CompletedTask;
    }

    public override Task KeepBodyAsync(Uri url, ReadOnlyMemory<byte> body, string reason)
    {
        KeptBodies.Add((url, body.ToArray(), reason));
        return Task.CompletedTask;
    }
}

public static class Fixtures
{
    public static MemoryStream Stream(string text) => new(System.Text.Encoding.UTF8.GetBytes(text));

    /// <summary>An arXiv API feed in the recorded format with the given entries, all of the results.</summary>
    public static string ArxivFeed(params string[] entries) => ArxivPage(entries.Length, 0, entries);

    /// <summary>One page of an arXiv API answer: <paramref name="entries"/> from <paramref name="start"/> of <paramref name="total"/> results.</summary>
    public static string ArxivPage(int total, int start, IEnumerable<string> entries) => $"""
        <?xml version='1.0' encoding='UTF-8'?>
        <feed xmlns:opensearch="http://a9.com/-/spec/opensearch/1.1/" xmlns:arxiv="http://arxiv.org/schemas/atom" xmlns="http://www.w3.org/2005/Atom">
          <id>https://arxiv.org/api/fixture</id>
          <title>arXiv Query: fixture</title>
          <updated>2026-04-12T22:09:27Z</updated>
          <opensearch:itemsPerPage>10</opensearch:itemsPerPage>
          <opensearch:totalResults>{total}</opensearch:totalResults>
          <opensearch:startIndex>{start}</opensearch:startIndex>
        {string.Concat(entries)}
        </feed>
        """;

    public static string ArxivEntry(string id = "http://arxiv.org/abs/2410.17243v2", string title = "A   title\n   over two lines", string updated = "2024-10-24T10:00:00Z", string extra = "",
        string published = "2024-10-22T17:59:59Z") => $"""
          <entry>
            <id>{id}</id>
            <title>{title}</title>
            <updated>{updated}</updated>
            <link href="{id}" rel="alternate" type="text/html"/>
            <link href="https://arxiv.org/pdf/2410.17243v2" rel="related" type="application/pdf" title="pdf"/>
            <summary>  An abstract
          with line breaks.  </summary>
            <category term="cs.LG" scheme="http://arxiv.org/schemas/atom"/>
            <category term="cs.CL" scheme="http://arxiv.org/schemas/atom"/>
            <published>{published}</published>
            <arxiv:primary_category term="cs.CL"/>
            <author><name>Ada Lovelace</name><arxiv:affiliation>Analytical Engines Ltd</arxiv:affiliation></author>
            <author><name>Alan Turing</name></author>
            {extra}
          </entry>
        """;
}
