using System.Diagnostics;
using MassTransit;
using Microsoft.Extensions.Options;
using Pipeline.Notify.Storage;
using Pipeline.ServiceDefaults;

namespace Pipeline.Notify.Delivery;

/// <summary>
/// Sends the instant alerts that <see cref="Consumers.PaperMatchedConsumer"/> kept in
/// <see cref="DeferredAlerts"/> because the SMTP server could not take them. Every
/// <c>Notify:AlertRetrySeconds</c> it takes the due alerts one at a time and sends each through
/// <see cref="AlertSender"/> (the same ledger, so an alert still goes out once) inside a span of the
/// paper's trace. The first failure ends the round: while SMTP is down a round costs one attempt,
/// and the rounds back off, doubling up to <c>Notify:AlertRetryMaxSeconds</c>; the first success
/// clears the back-off, and the round goes on until nothing is due. An alert is kept until it goes
/// out or its subscriber is no longer active, except one whose message the server refuses for good
/// (a 5xx to its data): that one backs off alone without ending the round, and after
/// <c>Notify:AlertRefusalsBeforeGivingUp</c> refusals is logged as "refused" and dropped.
/// </summary>
public sealed class DeferredAlertSender : BackgroundService
{
    private readonly DeferredAlerts _store;
    private readonly DeliveryLedger _ledger;
    private readonly AlertSender _alerts;
    private readonly IBus _bus;
    private readonly ServiceIdentity _identity;
    private readonly IOptions<NotifyOptions> _options;
    private readonly TimeProvider _clock;
    private readonly ILogger<DeferredAlertSender> _logger;
    private long _waiting;
    private int _failures;

    public DeferredAlertSender(DeferredAlerts store, DeliveryLedger ledger, AlertSender alerts, IBus bus, ServiceIdentity identity, IOptions<NotifyOptions> options,
        TimeProvider clock, ILogger<DeferredAlertSender> logger)
    {
        (_store, _ledger, _alerts, _bus, _identity, _options, _clock, _logger) = (store, ledger, alerts, bus, identity, options, clock, logger);
        identity.Meter.CreateObservableGauge("pipeline.notify.alerts.deferred", () => Interlocked.Read(ref _waiting), unit: "{alert}",
            description: "Instant alerts kept in notify's Redis until the SMTP server takes them");
    }

    /// <summary>How long after a failed attempt an alert is due again, and the round interval while nothing fails.</summary>
    private TimeSpan RetryInterval => _options.Value.AlertRetryInterval;

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        while (!stoppingToken.IsCancellationRequested)
        {
            TimeSpan wait;
            try
            {
                wait = await RunDueAsync(stoppingToken);
            }
            catch (Exception e) when (!stoppingToken.IsCancellationRequested)
            {
                // Redis down, say: what is kept stays kept; the next round tries again.
                _logger.LogWarning(e, "The round of deferred alerts failed");
                wait = RetryInterval;
            }

            try
            {
                await Task.Delay(wait, _clock, stoppingToken);
            }
            catch (OperationCanceledException)
            {
                return;
            }
        }
    }

    /// <summary>Tries the due alerts until one fails or none is left; answers how long to wait before the next round.</summary>
    private async Task<TimeSpan> RunDueAsync(CancellationToken cancellationToken)
    {
        try
        {
            while (await _store.TakeDueAsync(_clock.GetUtcNow(), AlertSender.SendLease) is { } due)
            {
                if (!await TryAsync(due, cancellationToken))
                {
                    return Backoff.Doubling(RetryInterval, _options.Value.AlertRetryMaxInterval, _failures);
                }
            }

            return RetryInterval;
        }
        finally
        {
            Interlocked.Exchange(ref _waiting, await _store.CountAsync());
        }
    }

    private async Task<bool> TryAsync(DueAlert due, CancellationToken cancellationToken)
    {
        var alert = due.Alert;
        ActivityContext.TryParse(alert.TraceParent, null, isRemote: true, out var paperTrace);
        using var activity = _identity.ActivitySource.StartActivity("send deferred alert", ActivityKind.Internal, paperTrace);
        activity?.SetTag("notify.subscriber_id", alert.Match.SubscriberId);
        activity?.SetTag("paper.id", alert.Match.Paper.Id);
        activity?.SetTag("notify.attempt", alert.Attempts + 1);
        try
        {
            var outcome = await _alerts.SendAsync(alert.Match, _bus, cancellationToken);
            activity?.SetTag("notify.outcome", outcome.ToString());
            await _store.RemoveAsync(due.DeliveryKey);
            _failures = 0;
            _logger.LogInformation("Deferred alert {Delivery}: {Outcome} at attempt {Attempt}, {Waited:0} s after it was deferred",
                due.DeliveryKey, outcome, alert.Attempts + 1, (_clock.GetUtcNow() - alert.DeferredAt).TotalSeconds);
            return true;
        }
        catch (DeliveryInProgressException)
        {
            // Another consumer is sending it (a redelivery of its message): taken for the lease, so
            // it comes back here only if that send fails, and then the ledger knows what went out.
            return true;
        }
        catch (SmtpMessageRejectedException e)
        {
            // This message refused (a content filter): the server is answering, so the round goes
            // on with the others, and this alert backs off alone, then is given up.
            activity?.SetStatus(ActivityStatusCode.Error, e.Message);
            var attempts = alert.Attempts + 1;
            var refusals = alert.Refusals + 1;
            if (refusals >= Math.Max(2, _options.Value.AlertRefusalsBeforeGivingUp))
            {
                await _ledger.RecordRefusedAsync(new DeliveryRecord(due.DeliveryKey, alert.Match.SubscriberId, "instant", [], _clock.GetUtcNow(), "")
                {
                    Status = "refused", Period = "instant", Subject = e.Message,
                });
                await _store.RemoveAsync(due.DeliveryKey);
                _logger.LogWarning("Deferred alert {Delivery} given up after {Refusals} refusals of its message: {Error}", due.DeliveryKey, refusals, e.Message);
                return true;
            }

            await _store.DeferAsync(due.DeliveryKey, alert with { Attempts = attempts, Refusals = refusals, LastError = e.Message },
                _clock.GetUtcNow() + Backoff.Doubling(RetryInterval, _options.Value.AlertRetryMaxInterval, refusals));
            _logger.LogWarning("Deferred alert {Delivery}: its message was refused (attempt {Attempt}): {Error}", due.DeliveryKey, attempts, e.Message);
            return true;
        }
        catch (Exception e) when (!cancellationToken.IsCancellationRequested)
        {
            _failures++;
            // An SMTP failure MailSender could not sort carries the server's words, which may hold
            // the recipient's address: redacted, and logged without the exception's inner messages.
            var said = SmtpFailures.Redact(e.Message);
            activity?.SetStatus(ActivityStatusCode.Error, said);
            await _store.DeferAsync(due.DeliveryKey, alert with { Attempts = alert.Attempts + 1, LastError = said }, _clock.GetUtcNow() + RetryInterval);
            if (e is SmtpUnavailableException)
            {
                _logger.LogWarning("Deferred alert {Delivery} still waits for the SMTP server (attempt {Attempt}): {Error}", due.DeliveryKey, alert.Attempts + 1, said);
            }
            else if (e.GetType().Namespace?.StartsWith("MailKit", StringComparison.Ordinal) == true)
            {
                _logger.LogWarning("Deferred alert {Delivery} failed at attempt {Attempt} ({Type}: {Error}); kept for the next round", due.DeliveryKey, alert.Attempts + 1, e.GetType().Name, said);
            }
            else
            {
                _logger.LogWarning(e, "Deferred alert {Delivery} failed at attempt {Attempt}; kept for the next round", due.DeliveryKey, alert.Attempts + 1);
            }

            return false;
        }
    }
}
