using Pipeline.Notify.Delivery;
using Pipeline.Notify.Storage;

namespace Pipeline.Notify.Tests.Delivery;

/// <summary>
/// A digest ends with a few trending papers. The trending page holds papers of any age that a
/// daily-papers site featured lately, so one the subscriber already had, even as an instant alert
/// long ago, must not come back as news.
/// </summary>
public sealed class When_a_digest_shows_what_is_trending : IAsyncLifetime
{
    private NotifyRig _rig = null!;

    public async Task InitializeAsync() => _rig = await NotifyRig.StartAsync();

    public async Task DisposeAsync() => await _rig.DisposeAsync();

    [Fact]
    public async Task A_paper_the_subscriber_had_as_an_instant_alert_long_ago_or_in_an_older_digest_is_left_out()
    {
        var subscriber = await _rig.ActiveSubscriberAsync();
        var longAgo = DateTimeOffset.UtcNow.AddDays(-20);
        var inDigest = DigestSamples.Paper(102).Id;
        await _rig.Ledger.CompleteAsync($"digest:{subscriber.Id}:old",
            new DeliveryRecord($"digest:{subscriber.Id}:old", subscriber.Id, "digest", [inDigest], longAgo.AddDays(-1), "<d-old@pipeline.localhost>"));
        var alerted = DigestSamples.Paper(101).Id;
        await _rig.Ledger.CompleteAsync(AlertSender.DeliveryKey(subscriber.Id, alerted),
            new DeliveryRecord($"alert:{subscriber.Id}:{alerted}", subscriber.Id, "instant", [alerted], longAgo, "<a101@pipeline.localhost>"));
        // Forty alerts since: the old ones are far down the delivery log.
        for (var i = 0; i < 40; i++)
        {
            var paper = $"2411.{30000 + i}";
            await _rig.Ledger.CompleteAsync(AlertSender.DeliveryKey(subscriber.Id, paper),
                new DeliveryRecord($"alert:{subscriber.Id}:{paper}", subscriber.Id, "instant", [paper], longAgo.AddDays(1), $"<a{i}@pipeline.localhost>"));
        }

        var outcome = await _rig.Digests.SendAsync(subscriber, DigestSamples.Period, CancellationToken.None);

        Assert.Equal(DigestOutcomeKind.Sent, outcome.Kind);
        var trending = outcome.Delivery!.PaperIds.Where(id => string.CompareOrdinal(id, DigestSamples.Paper(100).Id) >= 0).ToArray();
        Assert.Equal([DigestSamples.Paper(100).Id, DigestSamples.Paper(103).Id, DigestSamples.Paper(104).Id], trending);
    }
}
