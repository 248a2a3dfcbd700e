using Pipeline.Notify.Delivery;

namespace Pipeline.Notify.Tests.Delivery;

/// <summary>
/// The open Subscribe's emails (confirmations and "already subscribed") share one budget per
/// instance: past it a call is refused with nothing sent, and only emails actually sent count.
/// </summary>
public sealed class When_the_shared_email_budget_is_spent : IAsyncLifetime
{
    private NotifyRig _rig = null!;

    public async Task InitializeAsync() =>
        _rig = await NotifyRig.StartAsync(new NotifyOptions { SubscribeGlobalLimit = 2, SubscribePerClientLimit = 100, SubscribePerAddressLimit = 100 });

    public async Task DisposeAsync() => await _rig.DisposeAsync();

    private static PreferencesRequest Daily(params string[] interests) => new(interests, "daily", "UTC", 7, 10, 0, 1, false, [], [], []);

    [Fact]
    public async Task A_call_past_it_is_refused_and_sends_nothing_while_invalid_calls_do_not_use_it_up()
    {
        // Invalid calls (no interest) and repeats within the resend window send nothing, so count nothing.
        for (var i = 0; i < 5; i++)
        {
            await Assert.ThrowsAsync<SubscriptionException>(() => _rig.Subscriptions.SubscribeAsync($"invalid{i}@example.org", Daily(), "client", CancellationToken.None));
        }

        await _rig.Subscriptions.SubscribeAsync("first@example.org", Daily("lichens"), "client", CancellationToken.None);
        await _rig.Subscriptions.SubscribeAsync("first@example.org", Daily("lichens"), "client", CancellationToken.None);
        await _rig.Subscriptions.SubscribeAsync("second@example.org", Daily("mosses"), "client", CancellationToken.None);

        var refused = await Assert.ThrowsAsync<SubscriptionException>(() => _rig.Subscriptions.SubscribeAsync("third@example.org", Daily("ferns"), "client", CancellationToken.None));

        Assert.True(refused.RateLimited, refused.Message);
        await Task.Delay(500);
        Assert.Equal(["first@example.org", "second@example.org"], _rig.Smtp.Messages.SelectMany(m => m.EnvelopeTo).Order(StringComparer.Ordinal));
    }
}
