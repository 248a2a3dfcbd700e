using Pipeline.Contracts.Messages;
using Pipeline.Notify.Delivery;
using Pipeline.Notify.Templates;

namespace Pipeline.Notify.Tests.Delivery;

/// <summary>
/// Once the SMTP server has taken an email, nothing that fails afterwards (Redis timing out while
/// the send is recorded) may lead to it being sent again: the scheduler's retry, a repeated
/// SendDigestNow or a redelivered PaperMatched must find the email sent, or at worst still claimed.
/// </summary>
public sealed class When_redis_fails_after_an_email_is_sent : IAsyncLifetime
{
    private NotifyRig _rig = null!;

    public async Task InitializeAsync() => _rig = await NotifyRig.StartAsync();

    public async Task DisposeAsync() => await _rig.DisposeAsync();

    private static string DigestId(string subscriber) =>
        EmailTemplates.DigestMessageId(subscriber, DigestSamples.Period.Id, "pipeline.localhost");

    [Fact]
    public async Task A_timeout_while_the_subscriber_is_marked_does_not_send_the_digest_again()
    {
        var subscriber = await _rig.ActiveSubscriberAsync();
        _rig.Redis.Fail(c => c.Touches("notify:subscriber:"));

        await SendIgnoringFailureAsync(subscriber);
        Assert.True(_rig.Redis.Failed > 0, "the fault never hit");
        _rig.Redis.Heal();

        // The scheduler tries again after DigestRetrySeconds.
        var again = await _rig.Digests.SendAsync(subscriber, DigestSamples.Period, CancellationToken.None);

        Assert.Equal(DigestOutcomeKind.AlreadySent, again.Kind);
        Assert.Single(_rig.EmailsWithId(DigestId(subscriber.Id)));
    }

    [Fact]
    public async Task A_sent_digest_whose_record_takes_a_few_tries_is_recorded_once_and_not_sent_again()
    {
        var subscriber = await _rig.ActiveSubscriberAsync();
        _rig.Redis.Fail(c => c.Touches("notify:delivery-record:"), times: 2);

        var first = await SendIgnoringFailureAsync(subscriber);
        var again = await _rig.Digests.SendAsync(subscriber, DigestSamples.Period, CancellationToken.None);

        Assert.Equal(DigestOutcomeKind.Sent, first?.Kind);
        Assert.Equal(DigestOutcomeKind.AlreadySent, again.Kind);
        Assert.Single(_rig.EmailsWithId(DigestId(subscriber.Id)));
        Assert.Single(await _rig.Ledger.ListAsync(subscriber.Id, 10));
        Assert.True(_rig.Redis.Failed > 0, "the fault never hit");
    }

    [Fact]
    public async Task A_sent_digest_that_cannot_be_recorded_is_not_sent_again_even_after_its_claim_is_gone()
    {
        var subscriber = await _rig.ActiveSubscriberAsync();
        var key = Pipeline.Notify.Delivery.DigestSender.DeliveryKey(subscriber.Id, DigestSamples.Period.Id);
        _rig.Digests.RecordPatience = TimeSpan.FromSeconds(1);
        // Recording "sent" fails for longer than the sender waits; reading still works.
        _rig.Redis.Fail(c => c.Method.StartsWith("ScriptEvaluate", StringComparison.Ordinal) && c.Touches("notify:delivery-record:"));

        var first = await SendIgnoringFailureAsync(subscriber);
        Assert.Equal(DigestOutcomeKind.Sent, first?.Kind);
        Assert.Contains(_rig.Logs.Entries, e => e.Level == Microsoft.Extensions.Logging.LogLevel.Error && e.Message.Contains("second time", StringComparison.Ordinal));
        Assert.Equal(1, _rig.Ledger.UnrecordedCount);
        // Rank is told what went out all the same (it needs only the broker).
        Assert.Equal(DigestSamples.Period.Id, Assert.Single(_rig.Announced, a => a.SubscriberId == subscriber.Id).Period);

        // The claim's lease ends while Redis still refuses the record: the scheduler's retry, or
        // SendDigestNow, finds the period sent all the same.
        await _rig.Redis.Real.KeyDeleteAsync($"notify:delivery:{key}");
        var afterLease = await _rig.Digests.SendAsync(subscriber, DigestSamples.Period, CancellationToken.None);
        Assert.Equal(DigestOutcomeKind.AlreadySent, afterLease.Kind);
        Assert.Single(_rig.EmailsWithId(DigestId(subscriber.Id)));

        // Once Redis takes writes again the kept record is written, and Redis alone says "sent".
        _rig.Redis.Heal();
        var deadline = DateTime.UtcNow.AddSeconds(20);
        while (_rig.Ledger.UnrecordedCount > 0 && DateTime.UtcNow < deadline)
        {
            await Task.Delay(100);
        }

        Assert.Equal(0, _rig.Ledger.UnrecordedCount);
        Assert.Equal("sent", (string?)await _rig.Redis.Real.StringGetAsync($"notify:delivery:{key}"));
        Assert.Equal(DigestId(subscriber.Id), (await _rig.Ledger.GetAsync(key))?.MessageId);
        var later = await _rig.Digests.SendAsync(subscriber, DigestSamples.Period, CancellationToken.None);
        Assert.Equal(DigestOutcomeKind.AlreadySent, later.Kind);
        Assert.Single(_rig.EmailsWithId(DigestId(subscriber.Id)));
    }

    [Fact]
    public async Task A_sent_alert_whose_record_takes_a_few_tries_is_not_sent_again_on_redelivery()
    {
        var subscriber = await _rig.ActiveSubscriberAsync("instant1", cadence: "instant");
        var match = Match(subscriber.Id, "2611.00042");
        _rig.Redis.Fail(c => c.Touches("notify:delivery-record:"), times: 2);

        var first = await AlertIgnoringFailureAsync(match);
        var redelivered = await AlertIgnoringFailureAsync(match);

        Assert.Equal(AlertOutcome.Sent, first);
        Assert.Equal(AlertOutcome.AlreadySent, redelivered);
        Assert.Single(_rig.Smtp.Messages, e => e.Message.MessageId == $"alert.{subscriber.Id}.2611.00042@pipeline.localhost");
        Assert.True(_rig.Redis.Failed > 0, "the fault never hit");
    }

    [Fact]
    public async Task A_sent_alert_that_cannot_be_recorded_is_acknowledged_and_a_redelivery_sends_nothing()
    {
        var subscriber = await _rig.ActiveSubscriberAsync("instant2", cadence: "instant");
        var match = Match(subscriber.Id, "2611.00043");
        _rig.Alerts.RecordPatience = TimeSpan.FromSeconds(1);
        // Recording "sent" fails for longer than the sender waits; reading still works.
        _rig.Redis.Fail(c => c.Method.StartsWith("ScriptEvaluate", StringComparison.Ordinal) && c.Touches("notify:delivery-record:"));

        var first = await _rig.Alerts.SendAsync(match, _rig.Bus, CancellationToken.None);
        // Even with the claim gone (its lease over) while Redis still refuses the record.
        await _rig.Redis.Real.KeyDeleteAsync($"notify:delivery:alert:{subscriber.Id}:2611.00043");
        var redelivered = await _rig.Alerts.SendAsync(match, _rig.Bus, CancellationToken.None);
        _rig.Redis.Heal();

        Assert.Equal(AlertOutcome.Sent, first);
        Assert.Equal(AlertOutcome.AlreadySent, redelivered);
        // Rank is told the paper went out, by the send itself (and again by the redelivery).
        Assert.All(_rig.Announced, a => Assert.Equal(["2611.00043"], a.PaperIds));
        Assert.Equal(2, _rig.Announced.Count);
        Assert.Single(_rig.Smtp.Messages, e => e.Message.MessageId == $"alert.{subscriber.Id}.2611.00043@pipeline.localhost");
    }

    private static PaperMatched Match(string subscriberId, string paperId) =>
        new(subscriberId, new PaperSummary(paperId, 1, "Coral bleaching", "Reefs bleach in heatwaves.", ["Ada Lovelace"], ["q-bio.PE"],
            DateTimeOffset.UtcNow.AddDays(-1), $"https://arxiv.org/abs/{paperId}", "arxiv-api", 3), 0.71, "coral reefs", "matches your interest 'coral reefs'",
            DateTimeOffset.UtcNow);

    private async Task<AlertOutcome?> AlertIgnoringFailureAsync(PaperMatched match)
    {
        try
        {
            return await _rig.Alerts.SendAsync(match, _rig.Bus, CancellationToken.None);
        }
        catch (Exception e) when (e is StackExchange.Redis.RedisException or TimeoutException or DeliveryInProgressException)
        {
            return null;
        }
    }

    private async Task<DigestOutcome?> SendIgnoringFailureAsync(Pipeline.Notify.Storage.Subscriber subscriber)
    {
        try
        {
            return await _rig.Digests.SendAsync(subscriber, DigestSamples.Period, CancellationToken.None);
        }
        catch (Exception e) when (e is StackExchange.Redis.RedisException or TimeoutException)
        {
            return null;
        }
    }

    [Fact]
    public async Task An_alert_whose_failed_claim_redis_could_not_release_is_sent_by_the_next_attempt_not_held_for_its_lease()
    {
        // SMTP down: the send fails and its claim is given back, but Redis times out on that one
        // command. The claim used to stay for its 2-minute lease, the redelivery finding it "in
        // progress" until its retries ran out and the alert went to the error queue.
        var subscriber = await _rig.ActiveSubscriberAsync("instant7", cadence: "instant");
        var match = new PaperMatched(subscriber.Id, new PaperSummary("2611.00071", 1, "Coral bleaching", "Reefs bleach in heatwaves.", ["Ada Lovelace"], ["q-bio.PE"],
            DateTimeOffset.UtcNow.AddDays(-1), "https://arxiv.org/abs/2611.00071", "arxiv-api", 3), 0.71, "coral reefs", "matches your interest 'coral reefs'", DateTimeOffset.UtcNow);
        await _rig.Smtp.StopAsync();
        var oneKeyCalls = 0;
        // The claim's release is the first call on the delivery alone (its claim and renewal also
        // touch the instance's heartbeat).
        _rig.Redis.Fail(c => c.Keys.Count == 1 && c.Keys[0] == "notify:delivery:alert:instant7:2611.00071" && Interlocked.Increment(ref oneKeyCalls) == 1, times: 1);

        await Assert.ThrowsAnyAsync<Exception>(() => _rig.Alerts.SendAsync(match, _rig.Bus, CancellationToken.None));
        Assert.Equal(1, _rig.Redis.Failed);
        _rig.Redis.Heal();
        await _rig.Smtp.StartAsync();

        Assert.Equal(AlertOutcome.Sent, await _rig.Alerts.SendAsync(match, _rig.Bus, CancellationToken.None));
        Assert.Single(_rig.EmailsWithId($"alert.{subscriber.Id}.2611.00071@pipeline.localhost"));
    }
}
