using System.Net;
using Grpc.Core;
using MassTransit;
using MimeKit;
using Pipeline.Contracts.Ingest.V1;
using Pipeline.Contracts.Notify.V1;
using Pipeline.Contracts.Rank.V1;
using Pipeline.IntegrationTests.Infrastructure;
using Pipeline.Testing;

namespace Pipeline.IntegrationTests.Flow;

/// <summary>
/// A test class that talks to the running pipeline (one per test run, on the shared broker), with
/// the steps a user takes: subscribe and click the link, submit papers, wait for rank.
/// </summary>
public abstract class PipelineTestBase(RabbitMqFixture rabbit, PipelineFixture pipeline) : RabbitMqTestBase(rabbit)
{
    protected static readonly TimeSpan Arrival = TimeSpan.FromSeconds(60);

    protected PipelineFixture Pipeline => pipeline;

    public override async Task InitializeAsync()
    {
        await base.InitializeAsync();
        // The pipeline lives on the first class's virtual host; later classes share it.
        await pipeline.EnsureStartedAsync(Broker, VirtualHost);
    }

    protected Task<string> SubscribeAndConfirmAsync(string email, string interest, params string[] authors) =>
        ConfirmedAsync(new SubscribeRequest
        {
            Email = email, Cadence = Cadence.Instant, InstantThreshold = 0.45, Interests = { interest }, Authors = { authors },
        });

    /// <summary>A daily subscriber whose digest hour is 12 hours away: no digest marks papers sent during a test.</summary>
    protected Task<string> SubscribeDailyAndConfirmAsync(string email, string interest) =>
        ConfirmedAsync(new SubscribeRequest
        {
            Email = email, Cadence = Cadence.Daily, Hour = (DateTime.UtcNow.Hour + 12) % 24, Timezone = "UTC", Interests = { interest },
        });

    private async Task<string> ConfirmedAsync(SubscribeRequest request)
    {
        var email = request.Email;
        var subscribed = await pipeline.Notify.SubscribeAsync(request, PipelineFixture.WithApiKey);
        Assert.Equal(SubscriberStatus.Pending, subscribed.Status);

        // The subscriber clicks the link in the confirmation email.
        var confirmation = await pipeline.Smtp.WaitForMessageAsync(m => IsTo(m, email) && (m.Subject ?? "").Contains("Confirm"), Arrival);
        using var http = new HttpClient();
        var page = await PipelineFixture.ConfirmThroughPageAsync(http, PipelineFixture.LinkIn(confirmation.Message, "confirm"));
        Assert.Equal(HttpStatusCode.OK, page.StatusCode);

        var subscriber = await pipeline.Notify.GetSubscriberAsync(new GetSubscriberRequest { SubscriberId = subscribed.SubscriberId }, PipelineFixture.WithApiKey);
        Assert.Equal(SubscriberStatus.Active, subscriber.Status);
        await WaitUntilAsync(async () => await RankStatusAsync(subscribed.SubscriberId) == StatusCode.OK, "rank knows the new subscriber");
        return subscribed.SubscriberId;
    }

    protected async Task<StatusCode> RankStatusAsync(string subscriberId)
    {
        try
        {
            await pipeline.Rank.RecommendAsync(new RecommendRequest { SubscriberId = subscriberId, Limit = 1 }, PipelineFixture.WithApiKey);
            return StatusCode.OK;
        }
        catch (RpcException e)
        {
            return e.StatusCode;
        }
    }

    protected Task<StatusCode> RankStatusAsync(MimeMessage alert) =>
        RankStatusAsync(alert.MessageId!.Split('.')[1]);

    protected async Task<SubmitPapersResponse> SubmitAsync(params Paper[] papers) =>
        await pipeline.Ingest.SubmitPapersAsync(new SubmitPapersRequest { Papers = { papers } }, PipelineFixture.WithApiKey);

    /// <summary>The paper titled <paramref name="title"/> as Search answers it within <paramref name="category"/> among papers that appeared at or after <paramref name="since"/>, or null.</summary>
    protected async Task<RankedPaper?> SearchSinceAsync(string title, string category, DateTimeOffset since) =>
        (await pipeline.Rank.SearchAsync(new SearchRequest { Query = title, Category = category, Since = Google.Protobuf.WellKnownTypes.Timestamp.FromDateTimeOffset(since), Limit = 5 }))
            .Papers.SingleOrDefault(p => p.Title == title);

    /// <summary>Publishes <paramref name="message"/> on the pipeline's broker from a bus of the test's own, as another service would.</summary>
    protected async Task PublishAsync<T>(T message)
        where T : class
    {
        var bus = Bus.Factory.CreateUsingRabbitMq(cfg => cfg.Host(new Uri(pipeline.RabbitMqConnectionString.Replace("amqp://guest:guest@", "rabbitmq://")), h =>
        {
            h.Username("guest");
            h.Password("guest");
        }));
        await bus.StartAsync();
        try
        {
            await bus.PublishBoundedAsync(message);
        }
        finally
        {
            await bus.StopBoundedAsync();
        }
    }

    /// <summary>Whether rank holds the paper <paramref name="paperId"/> (Similar answers NOT_FOUND until it does).</summary>
    protected async Task<bool> RankKnowsAsync(string paperId)
    {
        try
        {
            await pipeline.Rank.SimilarAsync(new SimilarRequest { PaperId = paperId, Limit = 1 });
            return true;
        }
        catch (RpcException e) when (e.StatusCode == StatusCode.NotFound)
        {
            return false;
        }
    }

    protected async Task WaitUntilRankKnowsAsync(string title) =>
        await WaitUntilAsync(async () =>
            (await pipeline.Rank.SearchAsync(new SearchRequest { Query = title, Limit = 3 })).Papers.Any(p => p.Title == title),
            $"rank indexed '{title}'");

    protected static async Task WaitUntilAsync(Func<Task<bool>> condition, string what)
    {
        var deadline = DateTime.UtcNow + Arrival;
        while (!await condition())
        {
            if (DateTime.UtcNow > deadline)
            {
                throw new TimeoutException($"Timed out waiting until {what}.");
            }

            await Task.Delay(200);
        }
    }

    protected static void AssertHop(IReadOnlyList<ReceivedSpan> chain, string service, OtlpSpanKind kind) =>
        Assert.True(chain.Any(s => s.ServiceName == service && s.Kind == kind),
            $"no {kind} span of {service} between SubmitPapers and the SMTP send:\n{string.Join("\n", chain)}");

    protected static bool IsTo(MimeMessage message, string email) =>
        message.To.Mailboxes.Any(m => string.Equals(m.Address, email, StringComparison.OrdinalIgnoreCase));

    protected static bool IsAlertTo(MimeMessage message, string email) =>
        IsTo(message, email) && (message.Subject ?? "").StartsWith("New paper", StringComparison.Ordinal);
}
