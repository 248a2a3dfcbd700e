using Pipeline.Contracts.Messages;
using Pipeline.Notify.Delivery;

namespace Pipeline.Notify.Tests.Delivery;

/// <summary>
/// A slow server (a content filter under load) keeps the message and answers its 250 after the
/// client's timeout. Treated as "nothing went out", the email was sent again, and the reader got
/// it twice (RFC 5321, 4.5.3.2.6 warns of exactly this). Once the whole message is handed over, a
/// missing reply counts as sent.
/// </summary>
public sealed class When_the_smtp_server_takes_a_message_and_does_not_answer : IAsyncLifetime
{
    private NotifyRig _rig = null!;

    public async Task InitializeAsync() => _rig = await NotifyRig.StartAsync(smtpTimeoutSeconds: 3);

    public async Task DisposeAsync() => await _rig.DisposeAsync();

    [Fact]
    public async Task An_alert_is_recorded_as_sent_and_a_redelivery_sends_nothing()
    {
        var subscriber = await _rig.ActiveSubscriberAsync("instant1", cadence: "instant");
        var match = new PaperMatched(subscriber.Id, new PaperSummary("2611.00051", 1, "Coral bleaching", "Reefs bleach in heatwaves.", ["Ada Lovelace"], ["q-bio.PE"],
            DateTimeOffset.UtcNow.AddDays(-1), "https://arxiv.org/abs/2611.00051", "arxiv-api", 3), 0.71, "coral reefs", "matches your interest 'coral reefs'", DateTimeOffset.UtcNow);
        _rig.Smtp.DelayAcceptance(TimeSpan.FromSeconds(8));

        var first = await _rig.Alerts.SendAsync(match, _rig.Bus, CancellationToken.None);
        _rig.Smtp.DelayAcceptance(TimeSpan.Zero);
        var redelivered = await _rig.Alerts.SendAsync(match, _rig.Bus, CancellationToken.None);

        Assert.Equal((AlertOutcome.Sent, AlertOutcome.AlreadySent), (first, redelivered));
        Assert.Single(_rig.Smtp.Messages, e => e.Message.MessageId == $"alert.{subscriber.Id}.2611.00051@pipeline.localhost");
        Assert.Contains(_rig.Logs.Entries, e => e.Message.Contains("did not answer", StringComparison.Ordinal));
    }

    [Fact]
    public async Task A_digest_is_recorded_as_sent_and_asking_again_sends_nothing()
    {
        var subscriber = await _rig.ActiveSubscriberAsync();
        _rig.Smtp.DelayAcceptance(TimeSpan.FromSeconds(8));

        var first = await _rig.Digests.SendAsync(subscriber, DigestSamples.Period, CancellationToken.None);
        _rig.Smtp.DelayAcceptance(TimeSpan.Zero);
        var again = await _rig.Digests.SendAsync(subscriber, DigestSamples.Period, CancellationToken.None);

        Assert.Equal((DigestOutcomeKind.Sent, DigestOutcomeKind.AlreadySent), (first.Kind, again.Kind));
        Assert.Single(_rig.Smtp.Messages);
        Assert.Equal(first.Delivery!.PaperIds, again.Delivery!.PaperIds);
    }

    [Fact]
    public async Task A_server_that_does_not_answer_before_the_message_is_handed_over_gets_it_again_later()
    {
        // Held at MAIL FROM: nothing was handed over, so the alert is tried again and arrives once.
        var subscriber = await _rig.ActiveSubscriberAsync("instant2", cadence: "instant");
        var match = new PaperMatched(subscriber.Id, new PaperSummary("2611.00052", 1, "Coral bleaching", "Reefs bleach in heatwaves.", ["Ada Lovelace"], ["q-bio.PE"],
            DateTimeOffset.UtcNow.AddDays(-1), "https://arxiv.org/abs/2611.00052", "arxiv-api", 3), 0.71, "coral reefs", "matches your interest 'coral reefs'", DateTimeOffset.UtcNow);
        _rig.Smtp.Pause();

        await Assert.ThrowsAsync<SmtpUnavailableException>(() => _rig.Alerts.SendAsync(match, _rig.Bus, CancellationToken.None));
        _rig.Smtp.Resume();
        var retried = await _rig.Alerts.SendAsync(match, _rig.Bus, CancellationToken.None);

        Assert.Equal(AlertOutcome.Sent, retried);
        Assert.Single(_rig.Smtp.Messages, e => e.Message.MessageId == $"alert.{subscriber.Id}.2611.00052@pipeline.localhost");
    }
}
