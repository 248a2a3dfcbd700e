using System.Diagnostics;
using MailKit.Net.Smtp;
using Microsoft.Extensions.Options;
using MimeKit;
using Pipeline.ServiceDefaults;

namespace Pipeline.Notify.Delivery;

/// <summary>Hands a message to the SMTP server with MailKit, inside an "smtp send" client span.</summary>
public sealed class MailSender(IOptions<SmtpOptions> options, ServiceIdentity identity)
{
    public async Task SendAsync(MimeMessage message, string kind, CancellationToken cancellationToken)
    {
        var smtp = options.Value;
        using var activity = identity.ActivitySource.StartActivity("smtp send", ActivityKind.Client);
        activity?.SetTag("server.address", smtp.Host);
        activity?.SetTag("server.port", smtp.Port);
        activity?.SetTag("email.kind", kind);
        activity?.SetTag("email.message_id", message.MessageId);
        try
        {
            using var client = new SmtpClient { Timeout = smtp.TimeoutSeconds * 1000 };
            await client.ConnectAsync(smtp.Host, smtp.Port, smtp.Security, cancellationToken);
            if (!string.IsNullOrEmpty(smtp.Username))
            {
                await client.AuthenticateAsync(smtp.Username, smtp.Password ?? "", cancellationToken);
            }

            var reply = await client.SendAsync(message, cancellationToken);
            activity?.SetTag("smtp.reply", reply);
            await client.DisconnectAsync(quit: true, cancellationToken);
        }
        catch (Exception e)
        {
            activity?.SetStatus(ActivityStatusCode.Error, e.Message);
            activity?.AddException(e);
            throw;
        }
    }

    public MailboxAddress Sender => new(options.Value.FromName, options.Value.From);
}
