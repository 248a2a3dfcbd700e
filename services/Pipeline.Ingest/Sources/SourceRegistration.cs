using System.Net;
using Microsoft.Extensions.Options;
using Pipeline.Ingest.Sources.Fetching;
using Pipeline.Ingest.Storage;

namespace Pipeline.Ingest.Sources;

public static class SourceRegistration
{
    /// <summary>
    /// The sources of <c>Sources</c> in configuration, each with its own HttpClient (one connection
    /// per server, decompression, no client-wide timeout: <see cref="SourceHttp"/> times each
    /// request), the runner, and the scheduler.
    /// </summary>
    public static WebApplicationBuilder AddPaperSources(this WebApplicationBuilder builder)
    {
        // A setting the sources cannot work with stops ingest at start, naming it, rather than failing every poll.
        builder.Services.AddOptions<SourcesOptions>()
            .Bind(builder.Configuration.GetSection("Sources"))
            .ValidateOnStart();
        builder.Services.AddSingleton<IValidateOptions<SourcesOptions>, SourcesOptionsValidator>();
        foreach (var name in new[] { ArxivApiSource.SourceName, ArxivRssSource.SourceName, HuggingFaceSource.SourceName })
        {
            builder.Services.AddHttpClient(name, (sp, client) =>
                {
                    client.Timeout = Timeout.InfiniteTimeSpan;
                    client.DefaultRequestHeaders.TryAddWithoutValidation("User-Agent", sp.GetRequiredService<IOptions<SourcesOptions>>().Value.UserAgent);
                })
                .ConfigurePrimaryHttpMessageHandler(() => new SocketsHttpHandler
                {
                    // arXiv asks for one connection; the others get the same courtesy.
                    MaxConnectionsPerServer = 1,
                    AutomaticDecompression = DecompressionMethods.All,
                    ConnectTimeout = TimeSpan.FromSeconds(30),
                    PooledConnectionLifetime = TimeSpan.FromMinutes(10),
                    MaxAutomaticRedirections = 3,
                    MaxResponseHeadersLength = 64,
                });
        }

        builder.Services.AddSingleton<IPaperSource>(sp =>
        {
            var o = sp.GetRequiredService<IOptions<SourcesOptions>>().Value.ArxivApi;
            return new ArxivApiSource(o, Http(sp, ArxivApiSource.SourceName, o), sp.GetRequiredService<TimeProvider>());
        });
        builder.Services.AddSingleton<IPaperSource>(sp =>
        {
            var o = sp.GetRequiredService<IOptions<SourcesOptions>>().Value.ArxivRss;
            return new ArxivRssSource(o, Http(sp, ArxivRssSource.SourceName, o));
        });
        builder.Services.AddSingleton<IPaperSource>(sp =>
        {
            var o = sp.GetRequiredService<IOptions<SourcesOptions>>().Value.HuggingFace;
            return new HuggingFaceSource(o, Http(sp, HuggingFaceSource.SourceName, o), sp.GetRequiredService<TimeProvider>());
        });
        builder.Services.AddSingleton<IPaperSource>(sp => new JsonLinesFileSource(sp.GetRequiredService<IOptions<SourcesOptions>>().Value.JsonLines));

        builder.Services.AddSingleton<SourceStateStore>();
        builder.Services.AddSingleton<SourceRunner>();
        builder.Services.AddHostedService<SourceScheduler>();
        return builder;
    }

    private static SourceHttp Http(IServiceProvider sp, string name, HttpSourceOptions options)
    {
        var clock = sp.GetRequiredService<TimeProvider>();
        return new SourceHttp(
            sp.GetRequiredService<IHttpClientFactory>().CreateClient(name),
            options,
            new PoliteGate(options.MinRequestInterval, clock),
            clock,
            sp.GetRequiredService<ILoggerFactory>().CreateLogger("Pipeline.Ingest.Sources." + name));
    }
}
