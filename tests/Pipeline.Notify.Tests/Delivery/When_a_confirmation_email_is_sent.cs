using Pipeline.Notify.Delivery;
using Pipeline.Notify.Storage;

namespace Pipeline.Notify.Tests.Delivery;

/// <summary>
/// Subscribe sends one confirmation email per address per <c>ConfirmationResendSeconds</c>: not
/// one per concurrent call, and not none after a send that failed.
/// </summary>
public sealed class When_a_confirmation_email_is_sent : IAsyncLifetime
{
    private NotifyRig _rig = null!;

    public async Task InitializeAsync() =>
        _rig = await NotifyRig.StartAsync(new NotifyOptions { SubscribePerAddressLimit = 100, SubscribePerClientLimit = 100 });

    public async Task DisposeAsync() => await _rig.DisposeAsync();

    private static PreferencesRequest Daily(int hour = 7) =>
        new(["diffusion models"], "daily", "Europe/Berlin", hour, 10, 0, 1, false, [], [], []);

    private IReadOnlyList<Pipeline.Testing.ReceivedEmail> ConfirmationsTo(string email) =>
        _rig.Smtp.Messages.Where(e => e.EnvelopeTo.Contains(email, StringComparer.OrdinalIgnoreCase)).ToArray();

    [Fact]
    public async Task A_retry_after_the_smtp_server_was_down_sends_the_confirmation()
    {
        const string email = "retry@example.org";
        await _rig.Smtp.StopAsync();

        var failed = await Assert.ThrowsAsync<SubscriptionException>(() => _rig.Subscriptions.SubscribeAsync(email, Daily(), "client", CancellationToken.None));
        Assert.True(failed.Unavailable, "answered UNAVAILABLE, to be tried again");
        Assert.Contains("try again", failed.Message, StringComparison.Ordinal);

        await _rig.Smtp.StartAsync();
        var subscriber = await _rig.Subscriptions.SubscribeAsync(email, Daily(), "client", CancellationToken.None);

        Assert.Equal(SubscriptionStatus.Pending, subscriber.Status);
        Assert.Single(ConfirmationsTo(email));
    }

    [Fact]
    public async Task An_address_the_server_refuses_for_good_is_answered_as_such_and_can_try_again()
    {
        const string email = "refused@example.org";
        _rig.Smtp.RejectRecipient(email, 550, "no such mailbox");

        var refused = await Assert.ThrowsAsync<SubscriptionException>(() => _rig.Subscriptions.SubscribeAsync(email, Daily(), "client", CancellationToken.None));
        Assert.False(refused.Unavailable || refused.NotFound || refused.RateLimited || refused.NotActive, "a refusal (INVALID_ARGUMENT), not a retryable error");
        Assert.Contains("550", refused.Message, StringComparison.Ordinal);

        _rig.Smtp.ClearRejections();
        await _rig.Subscriptions.SubscribeAsync(email, Daily(), "client", CancellationToken.None);
        Assert.Single(ConfirmationsTo(email));
    }

    [Fact]
    public async Task A_repeat_while_a_slow_server_still_takes_the_first_email_sends_no_second_and_the_window_counts_from_the_send()
    {
        // A one-second resend window, and a server that answers each email after five seconds.
        await using var rig = await NotifyRig.StartAsync(new NotifyOptions { ConfirmationResendSeconds = 1, SubscribePerAddressLimit = 100, SubscribePerClientLimit = 100 }, smtpTimeoutSeconds: 10);
        const string email = "slow@example.org";
        rig.Smtp.DelayAcceptance(TimeSpan.FromSeconds(5));
        int Sent() => rig.Smtp.Messages.Count(e => e.EnvelopeTo.Contains(email, StringComparer.OrdinalIgnoreCase));

        var first = rig.Subscriptions.SubscribeAsync(email, Daily(), "client", CancellationToken.None);
        // The first email handed over and waiting for its answer, past the window.
        await rig.Smtp.WaitForMessagesAsync(m => m.To.Mailboxes.Any(a => a.Address == email), 1, TimeSpan.FromSeconds(10));
        await Task.Delay(1_200);
        // Past the window, but the first email is still being handed over: the gate still holds.
        await rig.Subscriptions.SubscribeAsync(email, Daily(), "client", CancellationToken.None);
        await first;
        rig.Smtp.DelayAcceptance(TimeSpan.Zero);
        Assert.Equal(1, Sent());

        // The window now counts from the send's end: a second later, a repeat sends again.
        await Task.Delay(1_300);
        await rig.Subscriptions.SubscribeAsync(email, Daily(), "client", CancellationToken.None);
        Assert.Equal(2, Sent());
    }

    [Fact]
    public async Task A_gate_that_lapsed_while_the_send_waited_for_a_connection_is_taken_again_and_the_email_goes_out()
    {
        const string email = "lapsed@example.org";
        // Right before the send re-asserts its gate, the gate lapses (a long wait for a pooled connection).
        _rig.Redis.Before(c => c.Method.StartsWith("ScriptEvaluate", StringComparison.Ordinal) && c.Touches("notify:confirmation-gate:"),
            async () => await _rig.Redis.Real.ExecuteAsync("EVAL", "for _, k in ipairs(redis.call('KEYS', 'notify:confirmation-gate:*')) do redis.call('DEL', k) end return 0", 0));

        var subscriber = await _rig.Subscriptions.SubscribeAsync(email, Daily(), "client", CancellationToken.None);

        Assert.Equal(SubscriptionStatus.Pending, subscriber.Status);
        Assert.Single(ConfirmationsTo(email));
    }

    [Fact]
    public async Task Concurrent_subscribes_for_one_pending_address_send_one_confirmation()
    {
        const string email = "eager@example.org";
        // Pending, its last confirmation long ago: a new one is due.
        var longAgo = DateTimeOffset.UtcNow.AddHours(-2);
        var pending = new Subscriber("eager1", email, ["graphs"], "daily", "UTC", 7, 10, 0.5, SubscriptionStatus.Pending, longAgo, longAgo, longAgo);
        Assert.True(await _rig.Store.CreateAsync(pending));

        var calls = Enumerable.Range(0, 8).Select(i => Task.Run(() => _rig.Subscriptions.SubscribeAsync(email, Daily(hour: i), $"client{i}", CancellationToken.None)));
        var answers = await Task.WhenAll(calls);

        Assert.All(answers, a => Assert.Equal((pending.Id, SubscriptionStatus.Pending), (a.Id, a.Status)));
        Assert.Single(ConfirmationsTo(email));
    }
}
