using Microsoft.Extensions.Logging.Abstractions;
using Pipeline.Notify.Delivery;
using Pipeline.Notify.Storage;

namespace Pipeline.Notify.Tests.Delivery;

/// <summary>
/// Every change to a stored subscriber reads the record and writes it back. Another request's write
/// landing between the two (an unsubscribe, mostly) must survive: an unsubscribed reader must not
/// become active again, nor be put back on the digest schedule. <see cref="FlakyRedis.Before"/>
/// lands the unsubscribe right before the other change's write.
/// </summary>
public sealed class When_a_subscriber_is_changed_by_two_requests_at_once : IAsyncLifetime
{
    private NotifyRig _rig = null!;

    public async Task InitializeAsync() => _rig = await NotifyRig.StartAsync();

    public async Task DisposeAsync() => await _rig.DisposeAsync();

    /// <summary>The reader clicks the unsubscribe link right before the next write of their record.</summary>
    private void UnsubscribeBeforeTheNextWriteOf(string subscriberId) =>
        _rig.Redis.Before(c => c.Method is "StringSetAsync" or "Transaction" && c.Touches($"notify:subscriber:{subscriberId}"),
            () => _rig.Subscriptions.UnsubscribeAsync(_rig.Tokens.Issue(TokenPurpose.Unsubscribe, subscriberId, lifetime: null)));

    [Fact]
    public async Task An_unsubscribe_while_a_digest_is_recorded_stays_and_the_scheduler_drops_the_reader()
    {
        var subscriber = await _rig.ActiveSubscriberAsync();
        await _rig.Schedule.SetAsync(subscriber.Id, DateTimeOffset.UtcNow.AddMinutes(-1));
        var scheduler = new DigestScheduler(_rig.Schedule, _rig.Store, _rig.Digests, _rig.Subscriptions, Microsoft.Extensions.Options.Options.Create(_rig.Options),
            TimeProvider.System, NullLogger<DigestScheduler>.Instance);
        UnsubscribeBeforeTheNextWriteOf(subscriber.Id);

        await scheduler.RunDueAsync(CancellationToken.None);

        var stored = await _rig.Store.GetAsync(subscriber.Id);
        Assert.Equal(SubscriptionStatus.Unsubscribed, stored?.Status);
        Assert.Null(await _rig.Schedule.GetAsync(subscriber.Id));
        // The digest the scheduler had begun went out, and is recorded on the unsubscribed record.
        Assert.NotNull(stored?.LastDigestPeriod);
    }

    [Fact]
    public async Task An_unsubscribe_while_preferences_are_saved_stays_and_the_change_is_refused()
    {
        var subscriber = await _rig.ActiveSubscriberAsync();
        await _rig.Subscriptions.ScheduleAsync(subscriber);
        UnsubscribeBeforeTheNextWriteOf(subscriber.Id);

        var refused = await Assert.ThrowsAsync<SubscriptionException>(() => _rig.Subscriptions.UpdatePreferencesAsync(
            _rig.Tokens.Issue(TokenPurpose.Preferences, subscriber.Id, TimeSpan.FromDays(1)),
            new PreferencesRequest(["protein folding"], "weekly", "UTC", 9, 10, 0.5, 3)));

        Assert.True(refused.NotActive);
        Assert.Equal(SubscriptionStatus.Unsubscribed, (await _rig.Store.GetAsync(subscriber.Id))?.Status);
        Assert.Null(await _rig.Schedule.GetAsync(subscriber.Id));
    }

    [Fact]
    public async Task An_unsubscribe_while_the_confirmation_link_is_opened_stays()
    {
        var now = DateTimeOffset.UtcNow;
        var pending = new Subscriber("pending1", "pending1@example.org", ["graphs"], "daily", "UTC", 7, 10, 0.5, SubscriptionStatus.Pending, now, now, now);
        await _rig.Store.SaveAsync(pending);
        UnsubscribeBeforeTheNextWriteOf(pending.Id);

        await Assert.ThrowsAsync<SubscriptionException>(() => _rig.Subscriptions.ConfirmAsync(_rig.Tokens.Issue(TokenPurpose.Confirm, pending.Id, TimeSpan.FromDays(1))));

        Assert.Equal(SubscriptionStatus.Unsubscribed, (await _rig.Store.GetAsync(pending.Id))?.Status);
        Assert.Null(await _rig.Schedule.GetAsync(pending.Id));
    }

    [Fact]
    public async Task A_change_is_applied_to_the_record_as_it_is_when_written()
    {
        var subscriber = await _rig.ActiveSubscriberAsync();
        var calls = 0;

        var updated = await _rig.Store.UpdateAsync(subscriber.Id, current =>
        {
            if (++calls == 1)
            {
                // Another request saves a bounce between this read and this write.
                _rig.Redis.Real.StringSet($"notify:subscriber:{subscriber.Id}",
                    System.Text.Json.JsonSerializer.Serialize(current with { Status = SubscriptionStatus.Bouncing, BounceReason = "550 gone" }, SubscriberStore.Json));
            }

            return current with { LastDigestPeriod = "2026-11-26" };
        });

        var stored = await _rig.Store.GetAsync(subscriber.Id);
        Assert.Equal((SubscriptionStatus.Bouncing, "550 gone", "2026-11-26"), (stored?.Status, stored?.BounceReason, stored?.LastDigestPeriod));
        Assert.Equal((stored?.Status, stored?.LastDigestPeriod), (updated?.Status, updated?.LastDigestPeriod));
        Assert.Equal(2, calls);
    }
}
