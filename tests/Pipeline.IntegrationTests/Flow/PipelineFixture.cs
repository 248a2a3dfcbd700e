using System.Text.RegularExpressions;
using Grpc.Core;
using Grpc.Net.Client;
using Pipeline.Contracts.Embed.V1;
using Pipeline.Contracts.Ingest.V1;
using Pipeline.Contracts.Notify.V1;
using Pipeline.Contracts.Rank.V1;
using Pipeline.Testing;

namespace Pipeline.IntegrationTests.Flow;

/// <summary>
/// The whole pipeline as a user runs it: the four services as processes from their build output,
/// each with its own Redis, on a virtual host of the shared broker, sending mail to an SMTP sink and
/// traces to an OTLP sink. Started once per test class by the first test that needs it.
/// </summary>
public sealed partial class PipelineFixture : IAsyncLifetime
{
    public const string ApiKey = "integration-test-api-key";

    public const int MaxInstantAlertsPerDay = 3;

    /// <summary>In the order they start: a service's consumers' queues exist before anyone publishes to them.</summary>
    public static IReadOnlyList<string> ServiceNames => PipelineProcesses.ServiceNames;

    private readonly SemaphoreSlim _start = new(1, 1);
    private PipelineProcesses? _processes;
    private bool _started;

    public SmtpSink Smtp { get; private set; } = null!;
    public OtlpTraceSink Traces { get; private set; } = null!;
    public string RabbitMqConnectionString { get; private set; } = "";

    /// <summary>The broker's virtual host the services run on.</summary>
    public string VirtualHost { get; private set; } = "";

    public IngestService.IngestServiceClient Ingest => new(Channel("ingest"));
    public EmbedService.EmbedServiceClient Embed => new(Channel("embed"));
    public RankingService.RankingServiceClient Rank => new(Channel("rank"));
    public SubscriptionService.SubscriptionServiceClient Notify => new(Channel("notify"));

    public static Metadata WithApiKey => new() { { "x-api-key", ApiKey } };

    public IReadOnlyDictionary<string, ServiceProcess> Services => Processes.Services;

    public IReadOnlyDictionary<string, RedisServer> Redis => Processes.Redis;

    private PipelineProcesses Processes => _processes ?? throw new InvalidOperationException("The pipeline has not been started.");

    /// <summary>
    /// Settings given to every service on top of (and winning over) the defaults below, for a fixture
    /// that runs the pipeline differently (the reliability tests raise the daily alert cap). Set before
    /// <see cref="EnsureStartedAsync"/>.
    /// </summary>
    public Dictionary<string, string?> EnvironmentOverrides { get; } = [];

    /// <summary>Starts a service that was stopped or killed (same ports, Redis and settings) and waits until it is ready.</summary>
    public async Task StartServiceAsync(string name, TimeSpan? timeout = null) =>
        await Services[name].StartAndWaitUntilReadyAsync(new Uri(HttpBase(name), "/health/ready"), timeout ?? TimeSpan.FromSeconds(90));

    public Uri HttpBase(string service) => Processes.HttpBase(service);

    /// <summary>Calls to a service, each bounded by a deadline when the test gives none (<see cref="PipelineProcesses.Calls"/>).</summary>
    public CallInvoker Channel(string service) => Processes.Calls(service);

    public async Task EnsureStartedAsync(RabbitMqBroker broker, string virtualHost)
    {
        await _start.WaitAsync();
        try
        {
            if (_started)
            {
                return;
            }

            RabbitMqConnectionString = broker.ConnectionString(virtualHost);
            VirtualHost = virtualHost;
            Smtp = await SmtpSink.StartNewAsync();
            Traces = await OtlpTraceSink.StartNewAsync();
            _processes = new PipelineProcesses(RabbitMqConnectionString, Smtp, ApiKey);
            await _processes.StartAsync(EnvironmentFor);
            _started = true;
        }
        finally
        {
            _start.Release();
        }
    }

    /// <summary>What the tests' pipeline adds to the base settings of <see cref="PipelineProcesses"/>.</summary>
    private Dictionary<string, string?> EnvironmentFor(string name)
    {
        var environment = new Dictionary<string, string?>(Traces.ExporterEnvironment(name))
        {
            ["Logging__LogLevel__Default"] = "Information",
            // Low enough for a test to reach it.
            ["Ranking__MaxInstantAlertsPerDay"] = MaxInstantAlertsPerDay.ToString(System.Globalization.CultureInfo.InvariantCulture),
            // Every dense scan through the sign-code prefilter, which the service uses from 20,000
            // papers up: with the few papers of a test every row is a candidate, so the answers the
            // tests expect are the exact ones, and the prefilter's path runs behind real gRPC calls.
            ["Ranking__PrefilterFrom"] = "0",
            // Digests: a scheduler that looks every second and retries soon; every test subscribes from 127.0.0.1.
            ["Notify__SchedulerTickSeconds"] = "1",
            ["Notify__DigestRetrySeconds"] = "2",
            ["Notify__AlertRetrySeconds"] = "1",
            ["Notify__AlertRetryMaxSeconds"] = "4",
            ["Notify__SubscribePerClientLimit"] = "10000",
            ["Notify__SubscribeGlobalLimit"] = "100000",
        };
        foreach (var (key, value) in EnvironmentOverrides)
        {
            environment[key] = value;
        }

        return environment;
    }

    /// <summary>The link with the given path (confirm, unsubscribe) in an email's plain-text part.</summary>
    public static Uri LinkIn(MimeKit.MimeMessage message, string path)
    {
        var match = LinkPattern().Matches(message.TextBody ?? "").FirstOrDefault(m => new Uri(m.Value).AbsolutePath == "/" + path)
            ?? throw new InvalidOperationException($"No /{path} link in:\n{message.TextBody}");
        return new Uri(match.Value);
    }

    /// <summary>
    /// What a person does with the confirmation link: opens it (a page with a button, which confirms
    /// nothing by itself), then presses the button (a POST to the form's action). The answer to the POST.
    /// </summary>
    public static async Task<HttpResponseMessage> ConfirmThroughPageAsync(HttpClient http, Uri link, CancellationToken cancellationToken = default)
    {
        using var opened = await http.GetAsync(link, cancellationToken);
        var page = await opened.Content.ReadAsStringAsync(cancellationToken);
        Assert.True(opened.StatusCode == System.Net.HttpStatusCode.OK, $"the confirmation link answered {(int)opened.StatusCode}:\n{page}");
        var action = Regex.Match(page, "<form method=\"post\" action=\"([^\"]+)\"");
        Assert.True(action.Success, $"no confirmation form in:\n{page}");
        return await http.PostAsync(new Uri(link, System.Net.WebUtility.HtmlDecode(action.Groups[1].Value)), content: null, cancellationToken);
    }

    public static string TokenOf(Uri link) =>
        Uri.UnescapeDataString(Regex.Match(link.Query, "token=([^&]+)").Groups[1].Value);

    [GeneratedRegex(@"https?://\S+")]
    private static partial Regex LinkPattern();

    public Task InitializeAsync() => Task.CompletedTask;

    public async Task DisposeAsync()
    {
        if (_processes is not null)
        {
            await _processes.DisposeAsync();
        }

        if (Smtp is not null)
        {
            await Smtp.DisposeAsync();
        }

        if (Traces is not null)
        {
            await Traces.DisposeAsync();
        }
    }
}
