using System.IO.Compression;
using System.Net;
using System.Text;
using Grpc.Core;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Pipeline.Contracts.Ingest.V1;
using Pipeline.IntegrationTests.Infrastructure;
using Pipeline.IntegrationTests.Ingest;
using Pipeline.Testing;

namespace Pipeline.IntegrationTests.Hostile;

/// <summary>
/// A hostile paper source on 127.0.0.1: every path answers what the test put there last (a corpus
/// file, 100 MB of nothing, a gzip bomb), and it counts what it sent and what was asked of it.
/// </summary>
public sealed class HostileFeedServer : IAsyncDisposable
{
    private readonly WebApplication _app;
    private Func<HttpContext, Task> _answer = ctx => Task.CompletedTask;
    private long _bytesSent;

    private HostileFeedServer(WebApplication app) => _app = app;

    public string BaseUrl { get; private set; } = "";

    public List<string> Requests { get; } = [];

    /// <summary>Bytes the last answer got onto the connection before the client stopped reading.</summary>
    public long BytesSent => Interlocked.Read(ref _bytesSent);

    public void Answer(Func<HttpContext, Task> answer)
    {
        Interlocked.Exchange(ref _bytesSent, 0);
        _answer = answer;
    }

    public void AnswerWith(byte[] body, string contentType) => Answer(async ctx =>
    {
        ctx.Response.ContentType = contentType;
        await ctx.Response.Body.WriteAsync(body);
    });

    /// <summary>
    /// Writes <paramref name="total"/> bytes in 64 KB chunks (chunked unless a length was set),
    /// counting what gets out. After <paramref name="fastBytes"/> it slows to 64 KB per 20 ms, so a
    /// client that reads on would take minutes and one that hung up is noticed long before the end
    /// (writes to a closed connection are discarded without an error).
    /// </summary>
    public async Task StreamAsync(HttpContext ctx, long total, long fastBytes)
    {
        var chunk = new byte[64 * 1024];
        try
        {
            for (long sent = 0; sent < total && !ctx.RequestAborted.IsCancellationRequested; sent += chunk.Length)
            {
                if (sent >= fastBytes)
                {
                    await Task.Delay(20, ctx.RequestAborted);
                }

                await ctx.Response.Body.WriteAsync(chunk, ctx.RequestAborted);
                Interlocked.Add(ref _bytesSent, chunk.Length);
            }
        }
        catch (Exception e) when (e is OperationCanceledException or IOException or ObjectDisposedException)
        {
            // The client hung up: what it asked for was too large.
        }
    }

    public static async Task<HostileFeedServer> StartAsync()
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Configuration.Sources.Clear();
        builder.WebHost.ConfigureKestrel(k => k.Listen(IPAddress.Loopback, 0));
        builder.Logging.ClearProviders();
        var app = builder.Build();
        var server = new HostileFeedServer(app);
        app.Run(ctx =>
        {
            lock (server.Requests)
            {
                server.Requests.Add(ctx.Request.Path + ctx.Request.QueryString);
            }

            return server._answer(ctx);
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

/// <summary>An ingest process with its own Redis whose four sources all point at a <see cref="HostileFeedServer"/>.</summary>
public sealed class HostileSourcesFixture : IAsyncLifetime
{
    public const string ApiKey = "hostile-sources-test-key";

    private readonly SemaphoreSlim _start = new(1, 1);
    private IngestProcess? _ingest;

    public HostileFeedServer Feeds { get; private set; } = null!;

    public string JsonLinesPath { get; } = Path.Combine(TestArtifacts.NewDirectory("hostile-jsonl"), "papers.jsonl");

    public Uri Health => _ingest!.Health;

    public IngestService.IngestServiceClient Client => _ingest!.Client;

    public static Metadata WithApiKey => new() { { "x-api-key", ApiKey } };

    public async Task EnsureStartedAsync(string rabbitMq)
    {
        await _start.WaitAsync();
        try
        {
            if (_ingest is not null)
            {
                return;
            }

            Feeds = await HostileFeedServer.StartAsync();
            await File.WriteAllTextAsync(JsonLinesPath, "");
            _ingest = await IngestProcess.StartAsync(rabbitMq, ApiKey, new Dictionary<string, string?>
            {
                ["Sources__ArxivApi__Enabled"] = "true",
                ["Sources__ArxivApi__BaseUrl"] = Feeds.BaseUrl + "/api/query",
                ["Sources__ArxivApi__Query"] = "all:hostile",
                ["Sources__ArxivApi__MinRequestInterval"] = "00:00:00",
                ["Sources__ArxivApi__MaxAttempts"] = "1",
                ["Sources__ArxivRss__Enabled"] = "true",
                ["Sources__ArxivRss__BaseUrl"] = Feeds.BaseUrl + "/rss/",
                ["Sources__ArxivRss__Categories__0"] = "cs.LG",
                ["Sources__ArxivRss__MinRequestInterval"] = "00:00:00",
                ["Sources__ArxivRss__MaxAttempts"] = "1",
                ["Sources__HuggingFace__Enabled"] = "true",
                ["Sources__HuggingFace__BaseUrl"] = Feeds.BaseUrl + "/hf/api/daily_papers",
                ["Sources__HuggingFace__FirstPollDays"] = "1",
                ["Sources__HuggingFace__MinRequestInterval"] = "00:00:00",
                ["Sources__HuggingFace__MaxAttempts"] = "1",
                ["Sources__JsonLines__Enabled"] = "true",
                ["Sources__JsonLines__Path"] = JsonLinesPath,
                // MaxResponseBytes is left at its default (16 MB): the limit a deployment has.
            });
        }
        finally
        {
            _start.Release();
        }
    }

    public bool IsRunning => _ingest?.IsRunning == true;

    public Task InitializeAsync() => Task.CompletedTask;

    public async Task DisposeAsync()
    {
        if (_ingest is not null)
        {
            await _ingest.DisposeAsync();
        }

        if (Feeds is not null)
        {
            await Feeds.DisposeAsync();
        }
    }
}

/// <summary>
/// The hostile source bodies of the corpus, served over HTTP to a running ingest and polled with
/// PollSource as an operator would: each poll ends with a clear error or clear rejections, the
/// service stays up, and nothing of a refused body is stored (the papers and the cursor are as before).
/// </summary>
public sealed class HostileSourcesTests(RabbitMqFixture broker, HostileSourcesFixture ingest) : RabbitMqTestBase(broker), IClassFixture<HostileSourcesFixture>
{
    private const long HundredMegabytes = 100L * 1024 * 1024;
    private const long DefaultLimit = 16L * 1024 * 1024;

    public override async Task InitializeAsync()
    {
        await base.InitializeAsync();
        await ingest.EnsureStartedAsync(ConnectionString);
    }

    private async Task<SourceStatus> Poll(string source) =>
        (await ingest.Client.PollSourceAsync(new PollSourceRequest { Source = source }, HostileSourcesFixture.WithApiKey, deadline: DateTime.UtcNow.AddMinutes(1))).Status;

    /// <summary>The papers ingest holds (ids and content hashes) and the source's cursor.</summary>
    private async Task<string> Snapshot(string source)
    {
        var papers = await ingest.Client.ListPapersAsync(new ListPapersRequest { Limit = 1000 });
        var status = (await ingest.Client.ListSourcesAsync(new ListSourcesRequest())).Sources.Single(s => s.Name == source);
        return $"cursor {status.Cursor}; papers {string.Join(", ", papers.Papers.Select(p => $"{p.Id}:{p.ContentHash}").Order())}";
    }

    /// <summary>Polls a source that answers something hostile: the poll fails with <paramref name="reason"/> and changes nothing.</summary>
    private async Task<SourceStatus> AssertRefusedAsync(string source, string reason)
    {
        var before = await Snapshot(source);

        var status = await Poll(source);

        Assert.False(status.LastRunOk, $"the poll of {source} succeeded");
        Assert.True(status.LastError.Contains(reason, StringComparison.Ordinal), $"the poll of {source} failed with: {status.LastError}");
        Assert.Equal(0, status.NewPapers + status.Updated);
        Assert.Equal(before, await Snapshot(source));
        Assert.True(ingest.IsRunning, "ingest exited");
        using var http = new HttpClient();
        Assert.Equal(HttpStatusCode.OK, (await http.GetAsync(ingest.Health)).StatusCode);
        return status;
    }

    [Fact]
    public async Task A_100_MB_answer_is_cut_off_at_the_size_limit_instead_of_being_read_whole()
    {
        ingest.Feeds.Answer(ctx => ingest.Feeds.StreamAsync(ctx, HundredMegabytes, fastBytes: DefaultLimit + (4 << 20)));
        var started = DateTime.UtcNow;

        await AssertRefusedAsync("arxiv-api", $"longer than the {DefaultLimit} bytes this source reads; abandoned");

        // Ingest hung up at the limit: read whole, the slow rest would have taken over a minute.
        Assert.True(DateTime.UtcNow - started < TimeSpan.FromSeconds(20), $"the poll took {DateTime.UtcNow - started}");
        Assert.InRange(ingest.Feeds.BytesSent, DefaultLimit, HundredMegabytes / 2);
    }

    [Fact]
    public async Task A_gzip_bomb_is_cut_off_at_the_size_limit_after_decompression()
    {
        // 100 MB of zeros, about 100 KB on the wire.
        using var compressed = new MemoryStream();
        await using (var gzip = new GZipStream(compressed, CompressionLevel.SmallestSize, leaveOpen: true))
        {
            var zeros = new byte[1 << 20];
            for (var i = 0; i < 100; i++)
            {
                await gzip.WriteAsync(zeros);
            }
        }

        var bomb = compressed.ToArray();
        Assert.InRange(bomb.Length, 1, 1 << 20);
        ingest.Feeds.Answer(async ctx =>
        {
            ctx.Response.ContentType = "application/rss+xml";
            ctx.Response.Headers.ContentEncoding = "gzip";
            await ctx.Response.Body.WriteAsync(bomb);
        });

        await AssertRefusedAsync("arxiv-rss", $"longer than the {DefaultLimit} bytes this source reads; abandoned");
    }

    [Fact]
    public async Task A_declared_100_MB_answer_is_refused_before_a_byte_of_it_is_read()
    {
        ingest.Feeds.Answer(async ctx =>
        {
            ctx.Response.ContentLength = HundredMegabytes;
            await ingest.Feeds.StreamAsync(ctx, HundredMegabytes, fastBytes: 0);
        });

        await AssertRefusedAsync("huggingface", $"declares {HundredMegabytes} bytes, more than the {DefaultLimit} bytes");

        Assert.True(ingest.Feeds.BytesSent < DefaultLimit, $"{ingest.Feeds.BytesSent} bytes got out");
    }

    [Theory]
    [InlineData("xml/billion-laughs.atom.xml", "undeclared entity 'lol9'")]
    [InlineData("xml/quadratic-blowup.atom.xml", "undeclared entity 'a'")]
    [InlineData("xml/xxe-file.atom.xml", "undeclared entity 'xxe'")]
    [InlineData("xml/xxe-http.atom.xml", "undeclared entity 'xxe'")]
    [InlineData("xml/invalid-utf8.atom.xml", "Invalid character in the given encoding")]
    [InlineData("xml/nul-reference.atom.xml", "0x00, is an invalid character")]
    [InlineData("generated: 100,000 nested elements", "levels deep")]
    public async Task A_hostile_feed_is_refused_as_a_whole_quickly_and_its_start_is_kept_for_inspection(string file, string reason)
    {
        var body = file.StartsWith("generated", StringComparison.Ordinal)
            ? Encoding.UTF8.GetBytes("<?xml version='1.0' encoding='UTF-8'?><feed xmlns='http://www.w3.org/2005/Atom'><entry><id>http://arxiv.org/abs/2410.17243v1</id><title>"
                + string.Concat(Enumerable.Repeat("<b>", 100_000)) + string.Concat(Enumerable.Repeat("</b>", 100_000)) + "</title></entry></feed>")
            : Encoding.UTF8.GetBytes(Encoding.UTF8.GetString(HostileCorpus.Bytes(file)).Replace("{{XXE_URL}}", ingest.Feeds.BaseUrl + "/xxe", StringComparison.Ordinal));
        if (file.Contains("invalid-utf8", StringComparison.Ordinal))
        {
            body = HostileCorpus.Bytes(file); // the bytes as they are, not through a string
        }

        ingest.Feeds.AnswerWith(body, "application/atom+xml");
        var started = DateTime.UtcNow;

        var status = await AssertRefusedAsync("arxiv-api", reason);

        Assert.True(DateTime.UtcNow - started < TimeSpan.FromSeconds(20), $"the poll took {DateTime.UtcNow - started}");
        Assert.DoesNotContain(ingest.Feeds.Requests, r => r.StartsWith("/xxe", StringComparison.Ordinal));
        Assert.DoesNotContain("lollollol", status.LastError);
        var kept = (await ingest.Client.ListSourcesAsync(new ListSourcesRequest { IncludeBodies = true })).Sources.Single(s => s.Name == "arxiv-api").KeptBodies;
        Assert.Contains(kept, b => b.Reason.Contains(reason, StringComparison.Ordinal) && b.Size == body.Length);
    }

    [Fact]
    public async Task Hostile_items_of_a_hugging_face_day_are_rejected_one_by_one_and_only_the_good_one_is_stored()
    {
        ingest.Feeds.AnswerWith(HostileCorpus.Bytes("json/hf-hostile-items.json"), "application/json");

        var status = await Poll("huggingface");

        Assert.True(status.LastRunOk, status.LastError);
        Assert.Equal((1, 5), (status.NewPapers, status.Rejected));
        var reasons = string.Join("\n", status.RecentRejections.Select(r => $"{r.Entry}: {r.Reason}"));
        Assert.Contains("UTF-8", reasons);
        Assert.Contains("surrogate", reasons);
        Assert.Contains("2410.90005: title has the control character U+0000", reasons);
        Assert.Contains("2410.90006: title has the bidirectional control U+202E", reasons);
        var stored = await ingest.Client.GetPaperAsync(new GetPaperRequest { Id = "2410.90001" });
        Assert.Equal("A well-formed paper beside the hostile ones", stored.Title);
        foreach (var id in new[] { "2410.90002", "2410.90004", "2410.90005", "2410.90006" })
        {
            var e = await Assert.ThrowsAsync<RpcException>(() => ingest.Client.GetPaperAsync(new GetPaperRequest { Id = id }).ResponseAsync);
            Assert.Equal(StatusCode.NotFound, e.StatusCode);
        }
    }

    [Fact]
    public async Task A_hugging_face_day_nested_100000_deep_is_refused_as_a_whole()
    {
        ingest.Feeds.AnswerWith(Encoding.UTF8.GetBytes(new string('[', 100_000) + new string(']', 100_000)), "application/json");

        await AssertRefusedAsync("huggingface", "maximum configured depth of 32");
    }

    [Fact]
    public async Task Each_hostile_line_of_a_json_lines_file_is_rejected_alone_and_the_good_lines_are_stored()
    {
        await File.WriteAllBytesAsync(ingest.JsonLinesPath, HostileCorpus.Bytes("jsonl/hostile.jsonl"));

        var status = await Poll("jsonl");

        Assert.True(status.LastRunOk, status.LastError);
        Assert.Equal((2, 6), (status.NewPapers, status.Rejected));
        var reasons = status.RecentRejections.ToDictionary(r => r.Entry, r => r.Reason);
        Assert.Equal(6, reasons.Count);
        Assert.All(reasons.Keys, entry => Assert.Contains("line", entry, StringComparison.OrdinalIgnoreCase));
        Assert.Contains(reasons.Values, r => r.StartsWith("not valid UTF-8", StringComparison.Ordinal));
        Assert.Contains(reasons.Values, r => r.Contains("maximum configured depth of 32", StringComparison.Ordinal));
        foreach (var id in new[] { "2410.91001", "2410.91008" })
        {
            Assert.Equal(id, (await ingest.Client.GetPaperAsync(new GetPaperRequest { Id = id })).Id);
        }

        var e = await Assert.ThrowsAsync<RpcException>(() => ingest.Client.GetPaperAsync(new GetPaperRequest { Id = "2410.91004" }).ResponseAsync);
        Assert.Equal(StatusCode.NotFound, e.StatusCode);
    }
}
