using System.Diagnostics;
using Microsoft.Extensions.Options;
using MimeKit;
using Pipeline.ServiceDefaults;

namespace Pipeline.Notify.Delivery;

/// <summary>
/// Hands a message to the SMTP server over a pooled connection, inside an "smtp send" client span.
/// Failures come out sorted: <see cref="SmtpRecipientRejectedException"/> (the address bounces) or
/// <see cref="SmtpUnavailableException"/> (try again later). Every attempt is counted in
/// <c>pipeline.notify.emails{kind, outcome}</c>: sent, rejected (a 5xx for the address: it bounces),
/// unavailable (the server is down, answered 4xx or refused notify's login, TLS or sender: retried),
/// refused (a 5xx to this message's data: <see cref="SmtpMessageRejectedException"/>) or failed
/// (anything else). Each
/// unavailable and each answered attempt is reported to <see cref="SmtpOutage"/>.
/// </summary>
public sealed class MailSender(IOptions<SmtpOptions> options, SmtpConnectionPool pool, ServiceIdentity identity, SmtpOutage? outage = null)
{
    private readonly System.Diagnostics.Metrics.Counter<long> _emails = identity.Meter.CreateCounter<long>(
        "pipeline.notify.emails", unit: "{email}", description: "SMTP send attempts by kind (confirmation, already-subscribed, instant-alert, digest) and outcome");

    /// <param name="beforeTransaction">See <see cref="SmtpConnectionPool.SendAsync"/>: re-asserts a delivery's claim once a connection is ready.</param>
    public async Task SendAsync(MimeMessage message, string kind, CancellationToken cancellationToken, IEnumerable<ActivityLink>? links = null, Func<Task<bool>>? beforeTransaction = null)
    {
        var smtp = options.Value;
        using var activity = identity.ActivitySource.StartActivity("smtp send", ActivityKind.Client, parentContext: default, links: links);
        activity?.SetTag("server.address", smtp.Host);
        activity?.SetTag("server.port", smtp.Port);
        activity?.SetTag("email.kind", kind);
        activity?.SetTag("email.message_id", message.MessageId);
        try
        {
            var reply = await pool.SendAsync(message, cancellationToken, beforeTransaction);
            activity?.SetTag("smtp.reply", SmtpFailures.Redact(reply));
            outage?.Answered();
            Count(kind, "sent");
        }
        catch (Exception e) when (e is SmtpSendClaimLostException or SmtpSendClaimCheckFailedException)
        {
            // Not the server's doing: nothing was sent (another sender has the email, or the claim's
            // store is out of reach), and the SMTP server is not reported as failing.
            activity?.SetStatus(ActivityStatusCode.Error, e.Message);
            Count(kind, e is SmtpSendClaimLostException ? "claim-lost" : "claim-unchecked");
            throw;
        }
        catch (Exception e)
        {
            var sorted = SmtpFailures.Classify(e, cancellationToken);
            // The server's words without addresses, and no stack trace (whose inner messages would
            // carry them): spans are exported.
            var said = sorted?.Message ?? SmtpFailures.Redact(e.Message);
            activity?.SetStatus(ActivityStatusCode.Error, said);
            activity?.AddEvent(new ActivityEvent("exception", tags: new ActivityTagsCollection
            {
                ["exception.type"] = e.GetType().FullName,
                ["exception.message"] = said,
            }));
            if (sorted is SmtpUnavailableException or SmtpOutcomeUnknownException)
            {
                outage?.Failed(sorted.Message);
            }
            else if (sorted is SmtpRecipientRejectedException or SmtpMessageRejectedException)
            {
                outage?.Answered();
            }

            Count(kind, sorted switch
            {
                SmtpRecipientRejectedException => "rejected",
                SmtpMessageRejectedException => "refused",
                SmtpUnavailableException => "unavailable",
                SmtpOutcomeUnknownException => "unanswered",
                _ => "failed",
            });
            if (sorted is not null)
            {
                throw sorted;
            }

            throw;
        }
    }

    private void Count(string kind, string outcome) =>
        _emails.Add(1, new KeyValuePair<string, object?>("kind", kind), new KeyValuePair<string, object?>("outcome", outcome));

    public MailboxAddress Sender => new(options.Value.FromName, options.Value.From);

    /// <summary>
    /// The longest one send may take: the wait for each step of connecting, TLS, login and the
    /// transaction (<see cref="SmtpOptions.TimeoutSeconds"/> each, six of them).
    /// </summary>
    public TimeSpan LongestSend => TimeSpan.FromSeconds(6 * Math.Max(1, options.Value.TimeoutSeconds));
}
