using System.Diagnostics;
using System.Net;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging.Abstractions;
using Pipeline.Ingest.Sources;
using Pipeline.Ingest.Sources.Fetching;

namespace Pipeline.Ingest.Tests.Sources;

public class SourceHttpSpecs
{
    private static (SourceHttp Http, HttpClient Client) Create(Action<HuggingFaceOptions>? configure = null)
    {
        var options = new HuggingFaceOptions
        {
            MinRequestInterval = TimeSpan.Zero,
            RetryBaseDelay = TimeSpan.FromMilliseconds(20),
            Timeout = TimeSpan.FromSeconds(5),
            MaxAttempts = 3,
        };
        configure?.Invoke(options);
        var client = new HttpClient { Timeout = Timeout.InfiniteTimeSpan };
        client.DefaultRequestHeaders.TryAddWithoutValidation("User-Agent", new SourcesOptions().UserAgent);
        return (new SourceHttp(client, options, new PoliteGate(options.MinRequestInterval, TimeProvider.System), TimeProvider.System, NullLogger.Instance), client);
    }

    [Fact]
    public async Task A_429_with_retry_after_is_retried_after_the_asked_delay_and_succeeds()
    {
        var calls = 0;
        await using var server = await LocalHttpServer.StartAsync(async ctx =>
        {
            if (Interlocked.Increment(ref calls) == 1)
            {
                ctx.Response.StatusCode = 429;
                ctx.Response.Headers.RetryAfter = "1";
                return;
            }

            await ctx.Response.WriteAsync("[]");
        });
        var (http, client) = Create();
        using var _ = client;

        var watch = Stopwatch.StartNew();
        var body = await http.GetAsync(new Uri(server.BaseUrl + "/api/daily_papers"), CancellationToken.None);

        Assert.Equal((HttpStatusCode.OK, 2, "[]"), (body.Status, body.Attempts, System.Text.Encoding.UTF8.GetString(body.Body)));
        Assert.True(watch.Elapsed >= TimeSpan.FromSeconds(0.9), $"retried after {watch.Elapsed}");
        Assert.StartsWith("paper-pipeline-ingest/", server.Requests[0].UserAgent);
    }

    [Fact]
    public async Task A_503_that_persists_ends_in_an_error_after_the_allowed_attempts()
    {
        await using var server = await LocalHttpServer.StartAsync(ctx =>
        {
            ctx.Response.StatusCode = 503;
            return Task.CompletedTask;
        });
        var (http, client) = Create();
        using var _ = client;

        var error = await Assert.ThrowsAsync<FetchException>(() => http.GetAsync(new Uri(server.BaseUrl + "/x"), CancellationToken.None));
        Assert.Contains("HTTP 503", error.Message);
        Assert.Contains("after 3 attempts", error.Message);
        Assert.Equal(3, server.Requests.Count);
    }

    [Fact]
    public async Task A_retry_after_longer_than_the_source_waits_ends_the_poll_at_once()
    {
        await using var server = await LocalHttpServer.StartAsync(ctx =>
        {
            ctx.Response.StatusCode = 429;
            ctx.Response.Headers.RetryAfter = "3600";
            return Task.CompletedTask;
        });
        var (http, client) = Create(o => o.MaxRetryDelay = TimeSpan.FromSeconds(10));
        using var _ = client;

        var error = await Assert.ThrowsAsync<FetchException>(() => http.GetAsync(new Uri(server.BaseUrl + "/x"), CancellationToken.None));
        Assert.Contains("retry after 3600 s", error.Message);
        Assert.Single(server.Requests);
    }

    [Fact]
    public async Task A_body_larger_than_the_limit_is_abandoned_while_reading()
    {
        await using var server = await LocalHttpServer.StartAsync(async ctx =>
        {
            // Chunked, no Content-Length: only counting while reading can stop it.
            var chunk = new byte[16 * 1024];
            for (var i = 0; i < 64; i++)
            {
                await ctx.Response.Body.WriteAsync(chunk);
                await ctx.Response.Body.FlushAsync();
            }
        });
        var (http, client) = Create(o => o.MaxResponseBytes = 100_000);
        using var _ = client;

        var error = await Assert.ThrowsAsync<FetchException>(() => http.GetAsync(new Uri(server.BaseUrl + "/big"), CancellationToken.None));
        Assert.Contains("longer than the 100000 bytes", error.Message);
    }

    [Fact]
    public async Task A_declared_length_over_the_limit_is_refused_before_reading()
    {
        await using var server = await LocalHttpServer.StartAsync(async ctx =>
        {
            ctx.Response.ContentLength = 200_000;
            await ctx.Response.Body.WriteAsync(new byte[200_000]);
        });
        var (http, client) = Create(o => o.MaxResponseBytes = 100_000);
        using var _ = client;

        var error = await Assert.ThrowsAsync<FetchException>(() => http.GetAsync(new Uri(server.BaseUrl + "/big"), CancellationToken.None));
        Assert.Contains("declares 200000 bytes", error.Message);
    }

    [Fact]
    public async Task A_server_that_does_not_answer_in_time_is_given_up_on()
    {
        await using var server = await LocalHttpServer.StartAsync(async ctx => await Task.Delay(TimeSpan.FromSeconds(10), ctx.RequestAborted));
        var (http, client) = Create(o => { o.Timeout = TimeSpan.FromMilliseconds(300); o.MaxAttempts = 2; });
        using var _ = client;

        var error = await Assert.ThrowsAsync<FetchException>(() => http.GetAsync(new Uri(server.BaseUrl + "/slow"), CancellationToken.None));
        Assert.Contains("no complete answer within 0.3 s", error.Message);
    }

    [Fact]
    public async Task Requests_to_one_source_are_spaced_by_the_polite_interval()
    {
        await using var server = await LocalHttpServer.StartAsync(ctx => ctx.Response.WriteAsync("ok"));
        var (http, client) = Create(o => o.MinRequestInterval = TimeSpan.FromMilliseconds(400));
        using var _ = client;

        for (var i = 0; i < 3; i++)
        {
            await http.GetAsync(new Uri(server.BaseUrl + "/" + i), CancellationToken.None);
        }

        var gaps = server.Requests.Zip(server.Requests.Skip(1), (a, b) => b.At - a.At).ToList();
        Assert.All(gaps, g => Assert.True(g >= TimeSpan.FromMilliseconds(380), $"gap {g}"));
    }
}
