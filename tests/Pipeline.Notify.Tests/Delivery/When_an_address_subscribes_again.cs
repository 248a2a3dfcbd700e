using Pipeline.Notify.Delivery;
using Pipeline.Notify.Storage;

namespace Pipeline.Notify.Tests.Delivery;

/// <summary>
/// Subscribe is open. For an address already subscribed it changes nothing, and its owner (not the
/// caller) gets the links to change or end the subscription; a bouncing address that subscribes
/// again goes back through double opt-in, which shows its mailbox takes mail again.
/// </summary>
public sealed class When_an_address_subscribes_again : IAsyncLifetime
{
    private NotifyRig _rig = null!;

    public async Task InitializeAsync() =>
        _rig = await NotifyRig.StartAsync(new NotifyOptions { SubscribePerAddressLimit = 100, SubscribePerClientLimit = 100, ConfirmationResendSeconds = 1 });

    public async Task DisposeAsync() => await _rig.DisposeAsync();

    private static PreferencesRequest Daily(string interest) => new([interest], "daily", "Europe/Berlin", 7, 10, 0, 1, false, [], [], []);

    private async Task<Subscriber> ActiveAsync(string email)
    {
        var pending = await _rig.Subscriptions.SubscribeAsync(email, Daily("diffusion models"), "client", CancellationToken.None);
        var active = await _rig.Subscriptions.ConfirmAsync(_rig.Tokens.Issue(TokenPurpose.Confirm, pending.Id, TimeSpan.FromDays(1)));
        Assert.Equal(SubscriptionStatus.Active, active.Status);
        await Task.Delay(TimeSpan.FromSeconds(1.2)); // past the confirmation's resend window
        return active;
    }

    private IReadOnlyList<MimeKit.MimeMessage> EmailsTo(string email, string subject) =>
        _rig.Smtp.Messages.Where(e => e.EnvelopeTo.Contains(email, StringComparer.OrdinalIgnoreCase) && e.Subject.Contains(subject, StringComparison.Ordinal))
            .Select(e => e.Message).ToArray();

    [Fact]
    public async Task An_active_subscription_is_not_changed_and_its_owner_is_sent_the_preferences_link_once()
    {
        var active = await ActiveAsync("ada@example.org");

        var first = await _rig.Subscriptions.SubscribeAsync("ada@example.org", Daily("cryptocurrency trading"), "someone else", CancellationToken.None);
        var second = await _rig.Subscriptions.SubscribeAsync("ada@example.org", Daily("cryptocurrency trading"), "someone else", CancellationToken.None);

        Assert.Equal((SubscriptionStatus.Active, SubscriptionStatus.Active), (first.Status, second.Status));
        Assert.Equal(["diffusion models"], (await _rig.Store.GetAsync(active.Id))!.Interests);
        var told = Assert.Single(EmailsTo("ada@example.org", "already subscribed"));
        Assert.Contains("diffusion models", told.TextBody);
        Assert.Contains("/preferences?token=", told.TextBody);
        Assert.Contains("/unsubscribe?token=", told.TextBody);
        Assert.DoesNotContain("cryptocurrency", told.TextBody);
    }

    [Fact]
    public async Task A_bouncing_address_that_subscribes_again_is_asked_to_confirm_again()
    {
        var active = await ActiveAsync("grace@example.org");
        await _rig.Store.UpdateAsync(active.Id, s => s with { Status = SubscriptionStatus.Bouncing, BounceReason = "550 mailbox full" });

        // An old confirmation link says why nothing comes, instead of "confirmed".
        var old = await Assert.ThrowsAsync<SubscriptionException>(() => _rig.Subscriptions.ConfirmAsync(_rig.Tokens.Issue(TokenPurpose.Confirm, active.Id, TimeSpan.FromDays(1))));
        Assert.Contains("550 mailbox full", old.Message);

        var again = await _rig.Subscriptions.SubscribeAsync("grace@example.org", Daily("protein folding"), "client", CancellationToken.None);

        Assert.Equal((active.Id, SubscriptionStatus.Pending, null), (again.Id, again.Status, again.BounceReason));
        Assert.Equal(["protein folding"], again.Interests);
        Assert.Equal(2, EmailsTo("grace@example.org", "Confirm").Count);
        var confirmed = await _rig.Subscriptions.ConfirmAsync(_rig.Tokens.Issue(TokenPurpose.Confirm, active.Id, TimeSpan.FromDays(1)));
        Assert.Equal(SubscriptionStatus.Active, confirmed.Status);
    }
}
