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
        _rig = await NotifyRig.StartAsync(new NotifyOptions { SubscribePerAddressLimit = 100, SubscribePerClientLimit = 100, ConfirmationResendSeconds = 3 });

    public async Task DisposeAsync() => await _rig.DisposeAsync();

    private static PreferencesRequest Daily(string interest) => new([interest], "daily", "Europe/Berlin", 7, 10, 0, 1, false, [], [], []);

    private async Task<Subscriber> ActiveAsync(string email)
    {
        await _rig.Subscriptions.SubscribeAsync(email, Daily("diffusion models"), "client", CancellationToken.None);
        var active = await _rig.Subscriptions.ConfirmAsync(ConfirmTokenIn(Assert.Single(EmailsTo(email, "Confirm"))));
        Assert.Equal(SubscriptionStatus.Active, active.Status);
        await Task.Delay(TimeSpan.FromSeconds(3.2)); // past the confirmation's resend window
        return active;
    }

    private IReadOnlyList<MimeKit.MimeMessage> EmailsTo(string email, string subject) =>
        _rig.Smtp.Messages.Where(e => e.EnvelopeTo.Contains(email, StringComparer.OrdinalIgnoreCase) && e.Subject.Contains(subject, StringComparison.Ordinal))
            .Select(e => e.Message).ToArray();

    /// <summary>The token of the confirmation link in <paramref name="email"/>, as its reader would click it.</summary>
    private static string ConfirmTokenIn(MimeKit.MimeMessage email) =>
        Uri.UnescapeDataString(System.Text.RegularExpressions.Regex.Match(email.TextBody ?? "", @"/confirm\?token=([^\s&]+)").Groups[1].Value);

    [Fact]
    public async Task A_pending_request_replaced_by_a_strangers_is_not_confirmed_by_the_link_sent_for_the_first()
    {
        var pending = await _rig.Subscriptions.SubscribeAsync("hedy@example.org", Daily("diffusion models"), "hedy", CancellationToken.None);
        var link = ConfirmTokenIn(Assert.Single(EmailsTo("hedy@example.org", "Confirm")));

        // Within the resend window: the stranger's request is stored, and no new email goes out.
        await _rig.Subscriptions.SubscribeAsync("hedy@example.org", new PreferencesRequest(["Verify your account at evil.example"], "instant", "UTC", 7, 10, 0.01, 1, false, [], [], []),
            "stranger", CancellationToken.None);
        Assert.Single(EmailsTo("hedy@example.org", "Confirm"));

        var refused = await Assert.ThrowsAsync<SubscriptionException>(() => _rig.Subscriptions.ConfirmAsync(link));
        Assert.Contains("earlier request", refused.Message);
        await Assert.ThrowsAsync<SubscriptionException>(() => _rig.Subscriptions.ForConfirmationAsync(link));
        Assert.Equal(SubscriptionStatus.Pending, (await _rig.Store.GetAsync(pending.Id))!.Status);

        // The owner subscribes again past the window: a link for their request as it stands now.
        await Task.Delay(TimeSpan.FromSeconds(3.2));
        await _rig.Subscriptions.SubscribeAsync("hedy@example.org", Daily("diffusion models"), "hedy", CancellationToken.None);
        var newest = ConfirmTokenIn(EmailsTo("hedy@example.org", "Confirm")[^1]);
        Assert.Equal(["diffusion models"], (await _rig.Subscriptions.ForConfirmationAsync(newest)).Interests);
        var confirmed = await _rig.Subscriptions.ConfirmAsync(newest);
        Assert.Equal((SubscriptionStatus.Active, "daily"), (confirmed.Status, confirmed.Cadence));
    }

    [Fact]
    public async Task The_same_request_twice_leaves_the_first_emails_link_working()
    {
        var pending = await _rig.Subscriptions.SubscribeAsync("linus@example.org", Daily("graph neural networks"), "linus", CancellationToken.None);
        var link = ConfirmTokenIn(Assert.Single(EmailsTo("linus@example.org", "Confirm")));

        await _rig.Subscriptions.SubscribeAsync("linus@example.org", Daily("graph neural networks"), "linus", CancellationToken.None);

        Assert.Equal((SubscriptionStatus.Active, pending.Id), ((await _rig.Subscriptions.ConfirmAsync(link)).Status, pending.Id));
    }

    [Fact]
    public async Task A_legacy_pending_record_keeps_its_links_when_the_same_request_comes_again()
    {
        var pending = await _rig.Subscriptions.SubscribeAsync("ada.old@example.org", Daily("diffusion models"), "ada", CancellationToken.None);
        await _rig.Store.UpdateAsync(pending.Id, s => s with { RequestNonce = null });

        await _rig.Subscriptions.SubscribeAsync("ada.old@example.org", Daily("diffusion models"), "ada", CancellationToken.None);

        var confirmed = await _rig.Subscriptions.ConfirmAsync(_rig.Tokens.Issue(TokenPurpose.Confirm, pending.Id, TimeSpan.FromDays(1)));
        Assert.Equal(SubscriptionStatus.Active, confirmed.Status);
    }

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
    public async Task A_bouncing_address_that_subscribes_again_keeps_its_subscription_until_its_owner_confirms()
    {
        var active = await ActiveAsync("grace@example.org");
        await _rig.Store.UpdateAsync(active.Id, s => s with { Status = SubscriptionStatus.Bouncing, BounceReason = "550 mailbox full" });

        // Anyone may call Subscribe: it changes nothing of the subscription, and its owner gets a link.
        var again = await _rig.Subscriptions.SubscribeAsync("grace@example.org", Daily("protein folding"), "someone", CancellationToken.None);

        Assert.Equal((SubscriptionStatus.Bouncing, "550 mailbox full"), (again.Status, again.BounceReason));
        Assert.Equal(["diffusion models"], (await _rig.Store.GetAsync(active.Id))!.Interests);
        var link = EmailsTo("grace@example.org", "Confirm");
        Assert.Equal(2, link.Count);
        // The confirmation repeats none of the caller's text (their "protein folding" included).
        Assert.DoesNotContain("protein folding", link[^1].TextBody);

        // The owner clicks it: mail goes to the address again, with the preferences it had.
        var resumed = await _rig.Subscriptions.ConfirmAsync(_rig.Tokens.Issue(TokenPurpose.Confirm, active.Id, TimeSpan.FromDays(1)));
        Assert.Equal((SubscriptionStatus.Active, null), (resumed.Status, resumed.BounceReason));
        Assert.Equal(["diffusion models"], resumed.Interests);
    }

    [Fact]
    public async Task While_the_smtp_server_is_down_an_active_a_bouncing_and_a_new_address_get_the_same_answer()
    {
        // The status alone must not tell whether an address is subscribed.
        var active = await ActiveAsync("kept@example.org");
        var bouncing = await ActiveAsync("bounced@example.org");
        await _rig.Store.UpdateAsync(bouncing.Id, s => s with { Status = SubscriptionStatus.Bouncing, BounceReason = "550 mailbox full" });
        await _rig.Smtp.StopAsync();

        var answers = new List<(bool Unavailable, string Message)>();
        foreach (var email in new[] { "kept@example.org", "bounced@example.org", "stranger@example.org" })
        {
            var e = await Assert.ThrowsAsync<SubscriptionException>(() => _rig.Subscriptions.SubscribeAsync(email, Daily("protein folding"), "someone", CancellationToken.None));
            answers.Add((e.Unavailable, e.Message));
        }

        Assert.All(answers, a => Assert.Equal(answers[0], a));
        Assert.True(answers[0].Unavailable);
        Assert.Equal(["diffusion models"], (await _rig.Store.GetAsync(active.Id))!.Interests);
    }
}
