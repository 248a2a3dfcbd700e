using System.Diagnostics;
using System.Net;
using Grpc.Core;
using MimeKit;
using Pipeline.Contracts.Ingest.V1;
using Pipeline.Contracts.Notify.V1;
using Pipeline.Contracts.Rank.V1;
using Pipeline.IntegrationTests.Flow;
using Pipeline.Testing;
using Xunit.Abstractions;

namespace Pipeline.IntegrationTests.Reliability;

/// <summary>
/// A broker of its own (killing it disturbs no other test) and the whole pipeline on it, started
/// once for every reliability test. The daily alert cap is raised so that every due alert is sent.
/// </summary>
public sealed class ReliabilityFixture : IAsyncLifetime
{
    public const string VirtualHost = "reliability";

    public RabbitMqBroker Broker { get; private set; } = null!;

    public PipelineFixture Pipeline { get; } = new()
    {
        EnvironmentOverrides =
        {
            // Hundreds of on-topic papers per test: the cap must not decide which alerts are due.
            ["Ranking__MaxInstantAlertsPerDay"] = "100000",
            // Connection losses, endpoint restarts and every delivery in the services' logs (under the
            // run's folder in /tmp/pipeline-tests), to diagnose a consumer that stays silent; not every HTTP call.
            ["Logging__LogLevel__MassTransit"] = "Debug",
            ["Logging__LogLevel__System.Net.Http.HttpClient"] = "Warning",
            // A confirmation page waits this long for the broker's confirmation of SubscriberChanged
            // before it answers 503 (10 s by default); short here so a frozen broker is frozen briefly.
            ["Notify__PublishTimeoutSeconds"] = "3",
            // Every other publish (consumers, ingest, a digest's DigestSent) waits this long (15 s by default).
            ["Bus__PublishTimeoutSeconds"] = "5",
        },
    };

    public async Task InitializeAsync()
    {
        Broker = await RabbitMqBroker.StartNewAsync();
        await Broker.CreateVirtualHostAsync(VirtualHost);
        await Pipeline.EnsureStartedAsync(Broker, VirtualHost);
    }

    public async Task DisposeAsync()
    {
        await Pipeline.DisposeAsync();
        if (Broker is not null)
        {
            await Broker.DisposeAsync();
        }
    }
}

/// <summary>
/// The reliability tests kill the broker and the services, so they run alone, one after another,
/// after the collections that run in parallel.
/// </summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class ReliabilityCollection : ICollectionFixture<ReliabilityFixture>
{
    public const string Name = "Reliability";
}

/// <summary>What a user checks after a fault: every paper findable in rank, every due alert in the inbox once.</summary>
[Collection(ReliabilityCollection.Name)]
public abstract class ReliabilityTestBase(ReliabilityFixture fixture, ITestOutputHelper output) : IAsyncLifetime
{
    /// <summary>Every test of this collection is bounded to this, faults and recovery included.</summary>
    protected static readonly TimeSpan TestBudget = TimeSpan.FromMinutes(2);

    /// <summary>The interest of every test's subscriber; <see cref="SyntheticPapers.OnTopic"/> papers match it.</summary>
    protected const string Interest = "protein structure prediction";

    private readonly Stopwatch _clock = Stopwatch.StartNew();

    protected ReliabilityFixture Fixture => fixture;

    protected PipelineFixture Pipeline => fixture.Pipeline;

    protected RabbitMqBroker Broker => fixture.Broker;

    /// <summary>Cancelled when the test's two minutes are up.</summary>
    protected CancellationTokenSource Budget { get; } = new(TestBudget);

    public virtual async Task InitializeAsync()
    {
        // A test that failed half-way may have left something down: bring it back first.
        if (!Broker.IsRunning)
        {
            await Broker.StartAsync();
        }

        foreach (var name in PipelineFixture.ServiceNames)
        {
            if (!Pipeline.Services[name].IsRunning)
            {
                await Pipeline.StartServiceAsync(name);
            }
        }

        _clock.Restart();
    }

    public virtual Task DisposeAsync()
    {
        Budget.Dispose();
        return Task.CompletedTask;
    }

    protected void Log(string line) => output.WriteLine($"{_clock.Elapsed.TotalSeconds,6:F1} s  {line}");

    protected TimeSpan Remaining => TestBudget - _clock.Elapsed;

    /// <summary>Subscribes for instant alerts on <see cref="Interest"/>, clicks the link, and waits until rank knows the profile.</summary>
    protected async Task<(string Email, string SubscriberId)> SubscribeAsync(string name, Cadence cadence = Cadence.Instant)
    {
        var (email, subscriberId, link) = await RequestSubscriptionAsync(name, cadence);
        using var http = new HttpClient();
        var page = await PipelineFixture.ConfirmThroughPageAsync(http, link, Budget.Token);
        // 503: saved, but the broker did not confirm the change in time (after a restart a publish
        // can wait on a channel that never confirms); a person presses the button again, and so does this.
        while (page.StatusCode == HttpStatusCode.ServiceUnavailable)
        {
            Log("the confirmation page answered 503; confirming again");
            await Task.Delay(TimeSpan.FromSeconds(2), Budget.Token);
            page = await PipelineFixture.ConfirmThroughPageAsync(http, link, Budget.Token);
        }

        Assert.Equal(HttpStatusCode.OK, page.StatusCode);
        await WaitUntilRankKnowsAsync(subscriberId);
        return (email, subscriberId);
    }

    /// <summary>Subscribes to <see cref="Interest"/> (instant alerts unless told) and returns the confirmation link of the email that arrives.</summary>
    protected async Task<(string Email, string SubscriberId, Uri ConfirmLink)> RequestSubscriptionAsync(string name, Cadence cadence = Cadence.Instant)
    {
        var email = $"{name}-{Guid.NewGuid():N}@example.org";
        var subscribed = await Pipeline.Notify.SubscribeAsync(new SubscribeRequest
        {
            Email = email, Cadence = cadence, InstantThreshold = 0.45, Interests = { Interest },
        }, PipelineFixture.WithApiKey, cancellationToken: Budget.Token);
        var confirmation = await Pipeline.Smtp.WaitForMessageAsync(m => IsTo(m, email) && (m.Subject ?? "").Contains("Confirm"), TimeSpan.FromSeconds(60));
        return (email, subscribed.SubscriberId, PipelineFixture.LinkIn(confirmation.Message, "confirm"));
    }

    /// <summary>Waits until rank answers Recommend for the subscriber (it has consumed the SubscriberChanged).</summary>
    protected Task WaitUntilRankKnowsAsync(string subscriberId) =>
        WaitUntilAsync(async () =>
        {
            try
            {
                await Pipeline.Rank.RecommendAsync(new RecommendRequest { SubscriberId = subscriberId, Limit = 1 }, PipelineFixture.WithApiKey);
                return true;
            }
            catch (RpcException)
            {
                return false;
            }
        }, "rank knows the new subscriber");

    /// <summary>
    /// Submits <paramref name="papers"/> in calls of <paramref name="batchSize"/>, as a careful client
    /// does: a call that fails (ingest or the broker down, a deadline) is sent again until it is
    /// answered. A paper stored but not yet published when the call failed is published by the resend.
    /// </summary>
    protected async Task<int> SubmitAllAsync(IReadOnlyList<Paper> papers, int batchSize = 50, TimeSpan? pause = null)
    {
        var failures = 0;
        foreach (var batch in papers.Chunk(batchSize))
        {
            while (true)
            {
                Budget.Token.ThrowIfCancellationRequested();
                try
                {
                    var response = await Pipeline.Ingest.SubmitPapersAsync(new SubmitPapersRequest { Papers = { batch } }, PipelineFixture.WithApiKey,
                        deadline: DateTime.UtcNow.AddSeconds(15), cancellationToken: Budget.Token);
                    Assert.All(response.Results, r => Assert.NotEqual(SubmitOutcome.Rejected, r.Outcome));
                    break;
                }
                catch (RpcException e) when (e.StatusCode != StatusCode.Cancelled || !Budget.IsCancellationRequested)
                {
                    failures++;
                    Log($"SubmitPapers failed ({e.StatusCode}: {e.Status.Detail}); sending the batch again");
                    await Task.Delay(500, Budget.Token);
                }
            }

            if (pause is { } p)
            {
                await Task.Delay(p, Budget.Token);
            }
        }

        return failures;
    }

    /// <summary>The ids rank lists in the test's own category (Trending's category filter): what a user can find.</summary>
    protected async Task<IReadOnlySet<string>> IndexedAsync(string category)
    {
        try
        {
            var answer = await Pipeline.Rank.TrendingAsync(new TrendingRequest { Window = TrendingWindow.Day, Category = category, Limit = 1000 },
                deadline: DateTime.UtcNow.AddSeconds(10), cancellationToken: Budget.Token);
            return answer.Papers.Select(p => p.Id).ToHashSet(StringComparer.Ordinal);
        }
        catch (RpcException e) when (e.StatusCode != StatusCode.Cancelled || !Budget.IsCancellationRequested)
        {
            return new HashSet<string>();
        }
    }

    /// <summary>Waits until rank lists every one of <paramref name="papers"/> (no more, no fewer) and each is findable by Similar.</summary>
    protected async Task AssertAllIndexedAsync(IReadOnlyList<Paper> papers, string category)
    {
        var expected = papers.Select(p => p.Id).ToHashSet(StringComparer.Ordinal);
        IReadOnlySet<string> indexed = new HashSet<string>();
        var deadline = Remaining - TimeSpan.FromSeconds(5);
        var waited = Stopwatch.StartNew();
        while (waited.Elapsed < deadline)
        {
            indexed = await IndexedAsync(category);
            if (indexed.SetEquals(expected))
            {
                break;
            }

            await Task.Delay(500);
        }

        var missing = expected.Except(indexed).ToArray();
        Assert.True(missing.Length == 0,
            $"{missing.Length} of {expected.Count} papers never reached rank, e.g. {string.Join(", ", missing.Take(10))}; queues: {await QueuesAsync()}");
        Assert.Empty(indexed.Except(expected));
        Log($"all {expected.Count} papers are indexed in rank");

        // Spot check with another question a user asks: Similar knows a few of them by id.
        foreach (var paper in papers.Where((_, i) => i % 97 == 0))
        {
            await Pipeline.Rank.SimilarAsync(new SimilarRequest { PaperId = paper.Id, Limit = 1 });
        }
    }

    /// <summary>
    /// Waits until <paramref name="email"/> has one alert for each of <paramref name="due"/>, then
    /// checks that no alert came twice and none came for a paper off the topic.
    /// </summary>
    protected async Task AssertEachAlertOnceAsync(string email, string subscriberId, IReadOnlyCollection<Paper> due)
    {
        var expected = due.Select(p => p.Id).ToHashSet(StringComparer.Ordinal);
        var waited = Stopwatch.StartNew();
        var deadline = Remaining - TimeSpan.FromSeconds(8);
        while (waited.Elapsed < deadline && !AlertedPapers(email, subscriberId).Keys.ToHashSet().IsSupersetOf(expected))
        {
            await Task.Delay(250);
        }

        // Late duplicates (a redelivery after a lease) would come now.
        await Task.Delay(TimeSpan.FromSeconds(Math.Clamp((Remaining - TimeSpan.FromSeconds(2)).TotalSeconds, 0, 4)));
        var alerts = AlertedPapers(email, subscriberId);
        var missing = expected.Except(alerts.Keys).ToArray();
        Assert.True(missing.Length == 0,
            $"{missing.Length} of {expected.Count} due alerts never arrived, e.g. {string.Join(", ", missing.Take(10))}; queues: {await QueuesAsync()}");
        var twice = alerts.Where(a => a.Value > 1).Select(a => $"{a.Key} ×{a.Value}").ToArray();
        Assert.True(twice.Length == 0, $"alerts sent more than once: {string.Join(", ", twice)}");
        Assert.Empty(alerts.Keys.Except(expected));
        Log($"{expected.Count} alerts, each once");
    }

    /// <summary>Paper id → how many alerts <paramref name="email"/> got for it (the Message-Id is alert.{subscriber}.{paper}@...).</summary>
    protected IReadOnlyDictionary<string, int> AlertedPapers(string email, string subscriberId)
    {
        var prefix = $"alert.{subscriberId}.";
        return Pipeline.Smtp.Messages
            .Where(e => IsTo(e.Message, email) && (e.Message.MessageId ?? "").StartsWith(prefix, StringComparison.Ordinal))
            .Select(e => e.Message.MessageId!)
            .Select(id => Uri.UnescapeDataString(id[prefix.Length..id.LastIndexOf('@')]))
            .GroupBy(id => id, StringComparer.Ordinal)
            .ToDictionary(g => g.Key, g => g.Count(), StringComparer.Ordinal);
    }

    /// <summary>Depths of the virtual host's queues, for failure messages.</summary>
    protected async Task<string> QueuesAsync()
    {
        try
        {
            var queues = await Broker.ListQueuesAsync(ReliabilityFixture.VirtualHost);
            return string.Join(", ", queues.OrderBy(q => q.Key).Select(q => $"{q.Key}={q.Value}"));
        }
        catch (Exception e)
        {
            return $"(rabbitmqctl failed: {e.Message})";
        }
    }

    protected async Task WaitUntilAsync(Func<Task<bool>> condition, string what, TimeSpan? timeout = null)
    {
        var waited = Stopwatch.StartNew();
        var limit = timeout ?? Remaining;
        while (!await condition())
        {
            if (waited.Elapsed > limit)
            {
                throw new TimeoutException($"Timed out after {waited.Elapsed.TotalSeconds:F0} s waiting until {what}; queues: {await QueuesAsync()}");
            }

            await Task.Delay(200);
        }
    }

    protected static bool IsTo(MimeMessage message, string email) =>
        message.To.Mailboxes.Any(m => string.Equals(m.Address, email, StringComparison.OrdinalIgnoreCase));
}

/// <summary>
/// Small papers for the fault tests, each with a new id and the test's own category (so rank's
/// Trending lists exactly one test's papers). Off-topic papers have short texts of their own (each
/// is really embedded); on-topic ones share the protein-folding text, which matches
/// <see cref="ReliabilityTestBase.Interest"/> well above the threshold.
/// </summary>
public static class SyntheticPapers
{
    private static readonly string[] Towns = ["Siena", "Lucca", "Pisa", "Pistoia", "Arezzo", "Volterra", "Prato", "Cortona"];

    public static string NewCategory() => $"reliability.{Guid.NewGuid():N}"[..24];

    public static Paper OnTopic(string category)
    {
        var paper = Papers.ProteinFolding();
        paper.Categories.Add(category);
        return paper;
    }

    public static Paper OffTopic(string category, int n)
    {
        var town = Towns[n % Towns.Length];
        var paper = new Paper
        {
            Id = Papers.NewArxivId(),
            Version = 1,
            Title = $"Tax register {n} of {town}, a medieval Italian town",
            Abstract = $"We transcribe register {n} of the {town} tax office and compare what merchants, landowners and artisans paid in year {1250 + n % 150}.",
            Source = "integration-test",
        };
        paper.Authors.Add("Barbara Tuchman");
        paper.Categories.Add(category);
        return paper;
    }

    /// <summary><paramref name="count"/> papers, one in every <paramref name="onTopicEvery"/> on the topic.</summary>
    public static IReadOnlyList<Paper> Mix(string category, int count, int onTopicEvery) =>
        Enumerable.Range(0, count).Select(i => i % onTopicEvery == onTopicEvery / 2 ? OnTopic(category) : OffTopic(category, i)).ToArray();

    public static IReadOnlyList<Paper> OnTopicOf(IEnumerable<Paper> papers) =>
        papers.Where(p => p.Title == Papers.ProteinFolding().Title).ToArray();
}
