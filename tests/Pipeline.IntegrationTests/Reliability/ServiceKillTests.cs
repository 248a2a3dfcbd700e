using Pipeline.Contracts.Ingest.V1;
using Xunit.Abstractions;

namespace Pipeline.IntegrationTests.Reliability;

/// <summary>
/// One service dies (SIGKILL) while it works and is started again: what it had not acknowledged is
/// delivered again, and idempotency keeps the second delivery from doing anything twice.
/// </summary>
public sealed class ServiceKillTests(ReliabilityFixture fixture, ITestOutputHelper output) : ReliabilityTestBase(fixture, output)
{
    [Theory]
    [InlineData("ingest")]
    [InlineData("embed")]
    [InlineData("rank")]
    [InlineData("notify")]
    public async Task A_service_killed_while_it_works_loses_no_paper_and_sends_no_alert_twice(string service)
    {
        var (email, subscriberId) = await SubscribeAsync($"kill-{service}");
        var category = SyntheticPapers.NewCategory();
        var papers = SyntheticPapers.Mix(category, 160, onTopicEvery: 4);
        var onTopic = SyntheticPapers.OnTopicOf(papers);
        var process = Pipeline.Services[service];
        string atKill;
        bool inFlight;
        var smtpPaused = false;
        try
        {
            Task<int> submitting;
            switch (service)
            {
                case "ingest":
                    // Killed between calls and in the middle of them: the client sends a failed call again.
                    submitting = SubmitAllAsync(papers, batchSize: 10, pause: TimeSpan.FromMilliseconds(250));
                    await Task.Delay(TimeSpan.FromSeconds(1));
                    break;
                case "embed":
                    // Killed holding deliveries: frozen (SIGSTOP) before the papers come, so the broker
                    // hands it a prefetch of them that it never acknowledges, and killed once all are
                    // submitted. (Timing a kill to the middle of its work failed both ways: embed's
                    // cache answers papers it has seen at once, and a loaded machine is slow.)
                    process.Pause();
                    submitting = Task.FromResult(await SubmitAllAsync(papers, batchSize: 160));
                    break;
                case "rank":
                    // Killed while it works: the first papers have reached rank, embed still sends the rest.
                    submitting = SubmitAllAsync(papers, batchSize: 160);
                    await WaitUntilAsync(async () => (await IndexedAsync(category)).Count > 0, "the first papers reach rank");
                    break;
                default:
                    // Killed while alerts go out: some sent, some waiting in the queue, and some in the
                    // middle of their SMTP transaction (the server stops answering just before the
                    // kill, so the deliveries notify holds are claimed and not yet sent).
                    submitting = Task.FromResult(await SubmitAllAsync(papers, batchSize: 160));
                    await WaitUntilAsync(() => Task.FromResult(AlertedPapers(email, subscriberId).Count > 0), "the first alert arrives");
                    Pipeline.Smtp.Pause();
                    smtpPaused = true;
                    await Task.Delay(TimeSpan.FromSeconds(1));
                    break;
            }

            var indexed = (await IndexedAsync(category)).Count;
            var alerted = AlertedPapers(email, subscriberId).Count;
            inFlight = service switch
            {
                "ingest" => !submitting.IsCompleted,
                "notify" => alerted < onTopic.Count,
                _ => indexed < papers.Count,
            };
            atKill = $"{indexed} papers in rank, {alerted} alerts sent, submission {(submitting.IsCompleted ? "done" : "under way")}";
            await process.KillAsync();
            Log($"killed {service} with {atKill}; queues: {await QueuesAsync()}");
            if (smtpPaused)
            {
                // The server drops the transactions it held (none of them was accepted) and answers again.
                await Pipeline.Smtp.StopAsync();
                Pipeline.Smtp.Resume();
                await Pipeline.Smtp.StartAsync();
                smtpPaused = false;
            }

            await Task.Delay(TimeSpan.FromSeconds(2));
            await Pipeline.StartServiceAsync(service);
            Log($"{service} ready again; queues: {await QueuesAsync()}");
            var failedCalls = await submitting;
            Log($"every paper submitted ({failedCalls} calls failed and were sent again)");
        }
        finally
        {
            if (smtpPaused)
            {
                Pipeline.Smtp.Resume();
            }

            if (!Pipeline.Smtp.IsRunning)
            {
                await Pipeline.Smtp.StartAsync();
            }

            if (!process.IsRunning)
            {
                await Pipeline.StartServiceAsync(service);
            }
        }

        Assert.True(inFlight, $"{service} was killed after its work was done ({atKill}): nothing was in flight");
        await AssertAllIndexedAsync(papers, category);
        await AssertEachAlertOnceAsync(email, subscriberId, onTopic);
        if (service == "ingest")
        {
            // Every paper is held once by ingest, published (a resubmission is a plain duplicate).
            var again = await Pipeline.Ingest.SubmitPapersAsync(new SubmitPapersRequest { Papers = { papers.Take(20) } }, Flow.PipelineFixture.WithApiKey);
            Assert.All(again.Results, r => Assert.Equal(SubmitOutcome.Duplicate, r.Outcome));
        }
    }
}
