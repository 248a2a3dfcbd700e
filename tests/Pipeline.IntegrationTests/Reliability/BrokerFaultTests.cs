using System.Diagnostics;
using System.Net;
using Grpc.Core;
using Pipeline.Contracts.Notify.V1;
using Pipeline.IntegrationTests.Flow;
using Xunit.Abstractions;

namespace Pipeline.IntegrationTests.Reliability;

/// <summary>
/// The broker dies (SIGKILL) or restarts while papers flow: every service reconnects by itself,
/// nothing confirmed to the broker is lost, and consumption resumes for papers sent afterwards.
/// </summary>
public sealed class BrokerFaultTests(ReliabilityFixture fixture, ITestOutputHelper output) : ReliabilityTestBase(fixture, output)
{
    [Fact]
    public async Task Killing_the_broker_while_500_papers_flow_loses_none_and_sends_each_due_alert_once()
    {
        var (email, subscriberId) = await SubscribeAsync("broker-kill");
        var category = SyntheticPapers.NewCategory();
        var papers = SyntheticPapers.Mix(category, 500, onTopicEvery: 25);
        int indexedAtKill;
        try
        {
            await SubmitAllAsync(papers.Take(250).ToArray());
            await WaitUntilAsync(async () => (await IndexedAsync(category)).Count > 0, "the first papers reach rank");
            indexedAtKill = (await IndexedAsync(category)).Count;
            Log($"killing the broker with {indexedAtKill} of 500 papers in rank; queues: {await QueuesAsync()}");
            await Broker.KillAsync();

            // The client goes on submitting: its calls fail while the broker is down and are sent again.
            var rest = SubmitAllAsync(papers.Skip(250).ToArray(), batchSize: 25);
            await Task.Delay(TimeSpan.FromSeconds(10));
            Log("starting the broker again");
            await Broker.StartAsync(Budget.Token);
            Log($"broker up; queues: {await QueuesAsync()}");
            var failedCalls = await rest;
            Log($"every paper submitted ({failedCalls} calls failed and were sent again)");
        }
        finally
        {
            if (!Broker.IsRunning)
            {
                await Broker.StartAsync();
            }
        }

        Assert.True(indexedAtKill < papers.Count, "the broker died after the flow had finished: nothing was in flight");
        await AssertAllIndexedAsync(papers, category);
        await AssertEachAlertOnceAsync(email, subscriberId, SyntheticPapers.OnTopicOf(papers));
    }

    [Fact]
    public async Task After_a_broker_restart_in_the_middle_of_a_batch_the_consumers_resume_and_later_papers_arrive()
    {
        var (email, subscriberId) = await SubscribeAsync("broker-restart");
        var category = SyntheticPapers.NewCategory();
        var first = SyntheticPapers.Mix(category, 300, onTopicEvery: 30);
        var later = SyntheticPapers.Mix(category, 40, onTopicEvery: 4);
        try
        {
            // Embed and rank are busy with deliveries (prefetched, some mid-acknowledgement) when the
            // broker shuts down and closes every connection: their acknowledgements fail.
            await SubmitAllAsync(first, batchSize: 100);
            await WaitUntilAsync(async () => (await IndexedAsync(category)).Count > 0, "the first papers reach rank");
            Log($"restarting the broker with {(await IndexedAsync(category)).Count} of {first.Count} papers in rank");
            await Broker.RestartAsync(Budget.Token);
            Log($"broker up again; queues: {await QueuesAsync()}");
        }
        finally
        {
            if (!Broker.IsRunning)
            {
                await Broker.StartAsync();
            }
        }

        // Papers submitted only now must travel the whole way too: the consumers did not go silent.
        await SubmitAllAsync(later, batchSize: 10);
        Log("later papers submitted");
        await AssertAllIndexedAsync([.. first, .. later], category);
        await AssertEachAlertOnceAsync(email, subscriberId, SyntheticPapers.OnTopicOf([.. first, .. later]));

        // The quieter queues work too: a new subscriber reaches rank (rank-subscriber-changed), and the
        // DigestSent of every alert is taken off rank-digest-sent.
        await SubscribeAsync("after-restart");
        await WaitUntilAsync(async () => await Broker.QueueDepthAsync(ReliabilityFixture.VirtualHost, "rank-digest-sent") == 0,
            $"rank consumes rank-digest-sent (consumers: {await ConsumersAsync()})", TimeSpan.FromSeconds(30));
    }

    /// <summary>Consumers per queue as rabbitmqctl list_queues shows them, for failure messages.</summary>
    private async Task<string> ConsumersAsync()
    {
        var result = await Broker.RabbitMqCtlAsync(["list_queues", "-q", "--no-table-headers", "-p", ReliabilityFixture.VirtualHost, "name", "consumers"]);
        return result.Output.Replace('\t', '=').Replace('\n', ' ').Trim();
    }

    [Fact]
    public async Task A_confirmation_the_broker_cannot_confirm_answers_503_at_once_and_works_when_opened_again()
    {
        var (_, subscriberId, link) = await RequestSubscriptionAsync("frozen");
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(60) };

        // Frozen (SIGSTOP), the broker keeps its connections open and confirms nothing: a publish
        // waits, as it does on a channel that lost its confirmations.
        Broker.Pause();
        HttpResponseMessage page;
        RpcException refused;
        var waited = System.Diagnostics.Stopwatch.StartNew();
        try
        {
            page = await PipelineFixture.ConfirmThroughPageAsync(http, link, Budget.Token);
            // The same confirmation through gRPC: UNAVAILABLE, which clients retry.
            var token = System.Web.HttpUtility.ParseQueryString(link.Query)["token"];
            refused = await Assert.ThrowsAsync<RpcException>(async () =>
                await Pipeline.Notify.ConfirmAsync(new ConfirmRequest { Token = token }, cancellationToken: Budget.Token));
        }
        finally
        {
            Broker.Resume();
        }

        Assert.Equal(StatusCode.Unavailable, refused.StatusCode);
        Assert.Contains("saved", refused.Status.Detail);

        Log($"frozen broker: the page answered {(int)page.StatusCode} after {waited.Elapsed.TotalSeconds:F1} s");
        Assert.Equal(HttpStatusCode.ServiceUnavailable, page.StatusCode);
        Assert.Contains("open the link again", await page.Content.ReadAsStringAsync(Budget.Token));
        Assert.InRange(waited.Elapsed, TimeSpan.FromSeconds(4), TimeSpan.FromSeconds(30));

        // The broker back, the same link confirms, and rank learns the subscriber.
        var again = await PipelineFixture.ConfirmThroughPageAsync(http, link, Budget.Token);
        Assert.Equal(HttpStatusCode.OK, again.StatusCode);
        await WaitUntilRankKnowsAsync(subscriberId);
    }

    /// <summary>
    /// A digest goes out while the broker confirms nothing: SMTP took it and the ledger holds it, so
    /// the call answers "sent" once its DigestSent has waited its deadline, and asking again for the
    /// period answers "already sent" with no second email. (Before: the publish waited with no end,
    /// and a publish that failed freed the period's claim, so a repeat mailed the digest again.)
    /// </summary>
    [Fact]
    public async Task A_digest_sent_while_the_broker_confirms_nothing_is_answered_as_sent_and_never_sent_twice()
    {
        var (email, subscriberId) = await SubscribeAsync("digest-frozen", Cadence.Daily);
        var category = SyntheticPapers.NewCategory();
        var papers = SyntheticPapers.Mix(category, 12, onTopicEvery: 2);
        await SubmitAllAsync(papers);
        await AssertAllIndexedAsync(papers, category);

        Broker.Pause();
        SendDigestNowResponse first;
        var waited = Stopwatch.StartNew();
        try
        {
            first = await Pipeline.Notify.SendDigestNowAsync(new SendDigestNowRequest { SubscriberId = subscriberId }, PipelineFixture.WithApiKey,
                deadline: DateTime.UtcNow.AddSeconds(45), cancellationToken: Budget.Token);
        }
        finally
        {
            Broker.Resume();
        }

        Log($"frozen broker: SendDigestNow answered {first.Outcome} after {waited.Elapsed.TotalSeconds:F1} s");
        Assert.Equal("sent", first.Outcome);
        Assert.NotEmpty(first.Delivery.PaperIds);
        await Pipeline.Smtp.WaitForMessageAsync(m => IsDigestTo(m, email), TimeSpan.FromSeconds(30));

        var second = await Pipeline.Notify.SendDigestNowAsync(new SendDigestNowRequest { SubscriberId = subscriberId }, PipelineFixture.WithApiKey,
            deadline: DateTime.UtcNow.AddSeconds(45), cancellationToken: Budget.Token);
        Assert.Equal("already_sent", second.Outcome);
        Assert.Equal(first.Delivery.Id, second.Delivery.Id);
        await Task.Delay(TimeSpan.FromSeconds(3), Budget.Token);
        Assert.Single(Pipeline.Smtp.Messages, e => IsDigestTo(e.Message, email));
    }

    /// <summary>
    /// SubmitPapers while the broker confirms nothing: the call answers UNAVAILABLE once the events
    /// have waited their deadline (not when the client's own deadline runs out), and the same call
    /// again, the broker back, carries every paper to rank.
    /// </summary>
    [Fact]
    public async Task SubmitPapers_the_broker_cannot_confirm_answers_unavailable_and_the_same_call_again_delivers_the_papers()
    {
        var category = SyntheticPapers.NewCategory();
        var papers = SyntheticPapers.Mix(category, 10, onTopicEvery: 5);
        var request = new Pipeline.Contracts.Ingest.V1.SubmitPapersRequest { Papers = { papers } };

        Broker.Pause();
        RpcException refused;
        var waited = Stopwatch.StartNew();
        try
        {
            refused = await Assert.ThrowsAsync<RpcException>(async () =>
                await Pipeline.Ingest.SubmitPapersAsync(request, PipelineFixture.WithApiKey, deadline: DateTime.UtcNow.AddSeconds(45), cancellationToken: Budget.Token));
        }
        finally
        {
            Broker.Resume();
        }

        Log($"frozen broker: SubmitPapers answered {refused.StatusCode} after {waited.Elapsed.TotalSeconds:F1} s");
        Assert.Equal(StatusCode.Unavailable, refused.StatusCode);
        Assert.Contains("Send the same call again", refused.Status.Detail);
        Assert.True(waited.Elapsed < TimeSpan.FromSeconds(30), $"answered after {waited.Elapsed}");

        await SubmitAllAsync(papers);
        await AssertAllIndexedAsync(papers, category);
    }

    private static bool IsDigestTo(MimeKit.MimeMessage message, string email) =>
        IsTo(message, email) && (message.MessageId ?? "").StartsWith("digest.", StringComparison.Ordinal);
}
