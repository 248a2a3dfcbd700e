using System.Diagnostics;
using Microsoft.Extensions.Options;
using MimeKit;
using Pipeline.ServiceDefaults;

namespace Pipeline.Notify.Delivery;

/// <summary>
/// Hands a message to the SMTP server over a pooled connection, inside an "smtp send" client span.
/// Failures come out sorted: <see cref="SmtpRecipientRejectedException"/> (the address bounces) or
/// <see cref="SmtpUnavailableException"/> (try again later).
/// </summary>
public sealed class MailSender(IOptions<SmtpOptions> options, SmtpConnectionPool pool, ServiceIdentity identity)
{
    public async Task SendAsync(MimeMessage message, string kind, CancellationToken cancellationToken, IEnumerable<ActivityLink>? links = null)
    {
        var smtp = options.Value;
        using var activity = identity.ActivitySource.StartActivity("smtp send", ActivityKind.Client, parentContext: default, links: links);
        activity?.SetTag("server.address", smtp.Host);
        activity?.SetTag("server.port", smtp.Port);
        activity?.SetTag("email.kind", kind);
        activity?.SetTag("email.message_id", message.MessageId);
        try
        {
            var reply = await pool.SendAsync(message, cancellationToken);
            activity?.SetTag("smtp.reply", reply);
        }
        catch (Exception e)
        {
            activity?.SetStatus(ActivityStatusCode.Error, e.Message);
            activity?.AddException(e);
            if (SmtpFailures.Classify(e, cancellationToken) is { } sorted)
            {
                throw sorted;
            }

            throw;
        }
    }

    public MailboxAddress Sender => new(options.Value.FromName, options.Value.From);
}
