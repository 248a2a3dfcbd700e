using Pipeline.Notify.Delivery;

namespace Pipeline.Notify.Tests.Delivery;

/// <summary>
/// A digest asks rank for the papers since the last one. Rank counts a paper from when it arrived
/// there; one that arrived while the last digest was being composed and sent (its Recommend was
/// already answered) must be in the next one, so the window reaches back before the last send.
/// </summary>
public sealed class When_the_next_digest_asks_for_new_papers : IAsyncLifetime
{
    private NotifyRig _rig = null!;

    public async Task InitializeAsync() => _rig = await NotifyRig.StartAsync();

    public async Task DisposeAsync() => await _rig.DisposeAsync();

    [Fact]
    public async Task Its_window_starts_before_the_last_digest_was_composed()
    {
        var subscriber = await _rig.ActiveSubscriberAsync();
        var composing = DateTimeOffset.UtcNow;
        // Composing and sending the first digest takes a while (a slow rank, a slow SMTP server).
        _rig.Papers.WhileRecommending = () => Task.Delay(TimeSpan.FromSeconds(2));
        Assert.Equal(DigestOutcomeKind.Sent, (await _rig.Digests.SendAsync(subscriber, DigestSamples.Period, CancellationToken.None)).Kind);
        _rig.Papers.WhileRecommending = null;
        var afterFirst = (await _rig.Store.GetAsync(subscriber.Id))!;
        Assert.True(afterFirst.LastDigestAt > composing.AddSeconds(2), "the first digest went out after its Recommend was answered");

        var next = DigestSamples.Period with { Id = "2026-11-27", Start = DigestSamples.Period.Start.AddDays(1) };
        Assert.Equal(DigestOutcomeKind.Sent, (await _rig.Digests.SendAsync(afterFirst, next, CancellationToken.None)).Kind);

        var asked = _rig.Papers.AskedSince.ToArray();
        Assert.Equal(2, asked.Length);
        Assert.True(asked[1] < composing, $"the second digest asks from {asked[1]:O}, after the first began composing at {composing:O}");
        Assert.Equal(afterFirst.LastDigestAt!.Value - DigestSender.WindowOverlap, asked[1]);
    }
}
