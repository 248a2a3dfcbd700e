using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Pipeline.Contracts.Messages;
using Pipeline.Notify.Delivery;
using Pipeline.Notify.Storage;

namespace Pipeline.Notify.Tests.Delivery;

/// <summary>
/// A content filter that refuses one alert's message for good (554 to its data) used to have it
/// tried every round, for ever, each failure ending the round for the alerts behind it. It now
/// backs off alone and is given up, logged as refused; the others go out.
/// </summary>
public sealed class When_the_server_refuses_a_kept_alerts_message : IAsyncLifetime
{
    private NotifyRig _rig = null!;

    public async Task InitializeAsync() => _rig = await NotifyRig.StartAsync();

    public async Task DisposeAsync() => await _rig.DisposeAsync();

    private static PaperMatched Match(string subscriber, string paper, string title) =>
        new(subscriber, new PaperSummary(paper, 1, title, "Reefs bleach in heatwaves.", ["Ada Lovelace"], ["q-bio.PE"],
            DateTimeOffset.UtcNow.AddDays(-1), $"https://arxiv.org/abs/{paper}", "arxiv-api", 3), 0.71, "coral reefs", "matches your interest 'coral reefs'", DateTimeOffset.UtcNow);

    [Fact]
    public async Task It_is_given_up_after_its_refusals_and_logged_while_the_alert_behind_it_goes_out()
    {
        var subscriber = await _rig.ActiveSubscriberAsync("instant9", cadence: "instant");
        var refused = Match(subscriber.Id, "2611.00091", "A title the filter refuses");
        var fine = Match(subscriber.Id, "2611.00092", "Coral bleaching in heatwaves");
        _rig.Smtp.RejectMessages(554, m => m.TextBody?.Contains("the filter refuses", StringComparison.Ordinal) == true, "5.7.1 Message refused by content filter");
        var kept = new DeferredAlerts(_rig.Redis.Real);
        var now = DateTimeOffset.UtcNow;
        // Kept through a long outage first (20 attempts): only refusals count towards giving up.
        await kept.DeferAsync(AlertSender.DeliveryKey(refused), new DeferredAlert(refused, null, now, 20, "unreachable"), now.AddSeconds(-2));
        await kept.DeferAsync(AlertSender.DeliveryKey(fine), new DeferredAlert(fine, null, now, 1, "unreachable"), now.AddSeconds(-1));
        var options = Options.Create(new NotifyOptions { AlertRetrySeconds = 0.1, AlertRetryMaxSeconds = 0.4, AlertRefusalsBeforeGivingUp = 3 });
        using var sender = new DeferredAlertSender(kept, _rig.Ledger, _rig.Alerts, _rig.Bus, _rig.Identity, options, TimeProvider.System, NullLogger<DeferredAlertSender>.Instance);

        await sender.StartAsync(CancellationToken.None);
        try
        {
            var until = DateTime.UtcNow.AddSeconds(20);
            while (await kept.CountAsync() > 0 && DateTime.UtcNow < until)
            {
                await Task.Delay(50);
            }
        }
        finally
        {
            await sender.StopAsync(CancellationToken.None);
        }

        Assert.Equal(0, await kept.CountAsync());
        Assert.Single(_rig.EmailsWithId($"alert.{subscriber.Id}.2611.00092@pipeline.localhost"));
        Assert.Empty(_rig.EmailsWithId($"alert.{subscriber.Id}.2611.00091@pipeline.localhost"));
        var log = await _rig.Ledger.ListAsync(subscriber.Id, 10);
        var givenUp = Assert.Single(log, r => r.Status == "refused");
        Assert.Equal(AlertSender.DeliveryKey(refused), givenUp.Id);
        Assert.Contains("content filter", givenUp.Subject);
        Assert.Equal(3, _rig.Smtp.Rejected.Snapshot().Count(r => r.Recipient == subscriber.Email));
        // The address keeps its mail.
        Assert.Equal(SubscriptionStatus.Active, (await _rig.Store.GetAsync(subscriber.Id))!.Status);
    }
}
