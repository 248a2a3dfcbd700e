using MailKit.Net.Smtp;
using Pipeline.Notify.Delivery;

namespace Pipeline.Notify.Tests;

/// <summary>
/// How a failed send is sorted decides what happens to the email: a refusal of notify itself (its
/// login, TLS or sender) is an outage every email waits out, not an unknown failure that sent
/// alerts through the bus's retries into the error queue.
/// </summary>
public sealed class SmtpFailuresSpecs
{
    [Fact]
    public void Addresses_a_server_repeats_in_its_reply_are_kept_out_of_what_is_logged_and_traced()
    {
        var greylisted = SmtpFailures.Classify(new SmtpCommandException(SmtpErrorCode.RecipientNotAccepted, SmtpStatusCode.MailboxBusy,
            new MimeKit.MailboxAddress("", "bob.smith+papers@example.org"), "4.2.0 <bob.smith+papers@example.org>: Recipient address rejected: Greylisted"), CancellationToken.None);
        var bounced = SmtpFailures.Classify(new SmtpCommandException(SmtpErrorCode.RecipientNotAccepted, SmtpStatusCode.MailboxUnavailable,
            new MimeKit.MailboxAddress("", "gone@example.org"), "5.1.1 gone@example.org: no such user here"), CancellationToken.None);

        Assert.Equal("The SMTP server answered 450: 4.2.0 <address>: Recipient address rejected: Greylisted", Assert.IsType<SmtpUnavailableException>(greylisted).Message);
        var rejected = Assert.IsType<SmtpRecipientRejectedException>(bounced);
        Assert.Equal("550 5.1.1 <address>: no such user here", rejected.Message);
        Assert.Equal("gone@example.org", rejected.Recipient);
        Assert.Equal("4.7.1 Try again later (queue full)", SmtpFailures.Redact("4.7.1 Try again later (queue full)"));
        Assert.Equal("550 5.1.1 <address> and <address> unknown; Message-ID kept",
            SmtpFailures.Redact("550 5.1.1 \"bob smith\"@example.org and ada@[192.0.2.1] unknown; Message-ID kept"));
        Assert.Equal("550 <address> unknown", SmtpFailures.Redact("550 <o'brien@example.org> unknown"));
        // A reply of any length (MailKit sets none) costs a bounded time and keeps its start.
        var endless = "451 " + new string('x', 200_000) + " bob@example.org";
        var redacted = SmtpFailures.Redact(endless);
        Assert.Equal(SmtpFailures.MaxRedactedLength + 1, redacted.Length);
        Assert.StartsWith("451 xxx", redacted);
    }

    [Fact]
    public void A_refused_login_is_an_outage_that_names_the_settings_to_check()
    {
        var sorted = SmtpFailures.Classify(new MailKit.Security.AuthenticationException("535: 5.7.8 Authentication credentials invalid"), CancellationToken.None);

        var unavailable = Assert.IsType<SmtpUnavailableException>(sorted);
        Assert.Contains("Smtp__Password", unavailable.Message);
    }

    [Fact]
    public void A_failed_tls_handshake_and_a_refused_sender_are_outages()
    {
        Assert.IsType<SmtpUnavailableException>(SmtpFailures.Classify(new MailKit.Security.SslHandshakeException("certificate expired"), CancellationToken.None));
        var sender = SmtpFailures.Classify(new SmtpCommandException(SmtpErrorCode.SenderNotAccepted, SmtpStatusCode.MailboxUnavailable, "5.7.1 Sender not allowed"), CancellationToken.None);
        Assert.Contains("Smtp__From", Assert.IsType<SmtpUnavailableException>(sender).Message);
    }

    [Fact]
    public void A_message_refused_at_its_data_is_neither_the_address_bouncing_nor_an_outage()
    {
        var sorted = SmtpFailures.Classify(new SmtpCommandException(SmtpErrorCode.MessageNotAccepted, SmtpStatusCode.TransactionFailed, "5.7.1 Message refused by content filter"), CancellationToken.None);

        var refused = Assert.IsType<SmtpMessageRejectedException>(sorted);
        Assert.Equal(554, refused.ReplyCode);
        // A 5xx to the recipient is still the address refused for good.
        Assert.IsType<SmtpRecipientRejectedException>(SmtpFailures.Classify(
            new SmtpCommandException(SmtpErrorCode.RecipientNotAccepted, SmtpStatusCode.MailboxUnavailable, new MimeKit.MailboxAddress("", "gone@example.org"), "5.1.1 No such user"), CancellationToken.None));
    }
}
