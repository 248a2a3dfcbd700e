using Pipeline.Notify.Delivery;
using Pipeline.Notify.Templates;

namespace Pipeline.Notify.Tests.Delivery;

/// <summary>
/// A digest's claim is a lease: if composing it outlasts the lease (rank slow to answer), another
/// instance may take the period over and send it. The first one must then not send as well.
/// </summary>
public sealed class When_a_digest_is_composed_past_its_lease : IAsyncLifetime
{
    private NotifyRig _rig = null!;

    public async Task InitializeAsync() => _rig = await NotifyRig.StartAsync();

    public async Task DisposeAsync() => await _rig.DisposeAsync();

    [Fact]
    public async Task A_sender_whose_claim_was_taken_over_meanwhile_sends_nothing()
    {
        var subscriber = await _rig.ActiveSubscriberAsync();
        var delivery = $"notify:delivery:{DigestSender.DeliveryKey(subscriber.Id, DigestSamples.Period.Id)}";
        // While rank is being asked, the lease runs out and another instance claims the period.
        _rig.Papers.WhileRecommending = () => _rig.Redis.Real.StringSetAsync(delivery, "sending:otherinstance:1", TimeSpan.FromMinutes(5));

        var outcome = await _rig.Digests.SendAsync(subscriber, DigestSamples.Period, CancellationToken.None);

        Assert.Equal(DigestOutcomeKind.InProgress, outcome.Kind);
        Assert.Empty(_rig.EmailsWithId(EmailTemplates.DigestMessageId(subscriber.Id, DigestSamples.Period.Id, "pipeline.localhost")));
        // The other instance's claim is left alone.
        Assert.Equal("sending:otherinstance:1", (string?)await _rig.Redis.Real.StringGetAsync(delivery));
    }

    [Fact]
    public async Task A_sender_that_still_holds_its_claim_sends_once()
    {
        var subscriber = await _rig.ActiveSubscriberAsync();
        _rig.Papers.WhileRecommending = () => Task.Delay(200);

        var outcome = await _rig.Digests.SendAsync(subscriber, DigestSamples.Period, CancellationToken.None);

        Assert.Equal(DigestOutcomeKind.Sent, outcome.Kind);
        Assert.Single(_rig.EmailsWithId(EmailTemplates.DigestMessageId(subscriber.Id, DigestSamples.Period.Id, "pipeline.localhost")));
    }
}
