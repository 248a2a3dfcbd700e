using MailKit.Net.Smtp;

namespace Pipeline.Notify.Delivery;

/// <summary>
/// The SMTP server could not take the message now (connection refused or cut, timeout, a 4xx
/// reply): nothing was delivered and the send is tried again later.
/// </summary>
public sealed class SmtpUnavailableException(string message, Exception inner) : Exception(message, inner);

/// <summary>
/// The whole message was handed to the server, whose reply to it never came (a timeout, a cut
/// connection): the server may have it, and may deliver it. Sending it again could deliver it
/// twice (RFC 5321, 4.5.3.2.6), so the sender records it as sent.
/// </summary>
public sealed class SmtpOutcomeUnknownException(string message, Exception inner) : Exception(message, inner);

/// <summary>
/// The send's claim was no longer this sender's once a connection was ready (its lease ran out while
/// the send waited for a pooled connection, and another took it over): nothing was sent.
/// </summary>
public sealed class SmtpSendClaimLostException() : Exception("The delivery's claim was lost while the send waited for an SMTP connection; nothing was sent.");

/// <summary>
/// The send's claim could not be checked once a connection was ready (its store failed or timed
/// out, the inner exception): nothing was sent. Not an SMTP failure.
/// </summary>
public sealed class SmtpSendClaimCheckFailedException(Exception inner)
    : Exception($"The delivery's claim could not be checked before the send ({inner.Message}); nothing was sent.", inner);

/// <summary>The server refused the recipient for good (a 5xx reply to RCPT TO): the address bounces.</summary>
public sealed class SmtpRecipientRejectedException(string recipient, int replyCode, string reply, Exception inner)
    : Exception($"{replyCode} {reply}", inner)
{
    public string Recipient { get; } = recipient;
    public int ReplyCode { get; } = replyCode;
}

/// <summary>
/// The server refused this message for good (a 5xx reply to its end of DATA: a content filter, its
/// size): not the address, which keeps its mail, and not the server, which takes other messages.
/// An alert is kept and tried again later, never dropped; the reply is in its record.
/// </summary>
public sealed class SmtpMessageRejectedException(int replyCode, string reply, Exception inner)
    : Exception($"The SMTP server refused the message: {replyCode} {reply}", inner)
{
    public int ReplyCode { get; } = replyCode;
}

public static partial class SmtpFailures
{
    /// <summary>
    /// The text with every email address in it replaced by <c>&lt;address&gt;</c>. SMTP replies
    /// often repeat the recipient ("450 4.2.0 &lt;bob@example.org&gt;: Recipient address rejected:
    /// Greylisted"), and the reply goes into log lines, span statuses and exported telemetry, where
    /// notify names subscribers by id, never by address.
    /// </summary>
    /// <remarks>
    /// A server's reply has no length limit in MailKit; past <see cref="MaxRedactedLength"/>
    /// characters the rest is cut (the pattern's work grows with the square of a run without an
    /// "@"), and a reply the pattern cannot finish in time is withheld whole.
    /// </remarks>
    public static string Redact(string text)
    {
        if (text.Length > MaxRedactedLength)
        {
            text = text[..MaxRedactedLength] + "…";
        }

        try
        {
            return AddressPattern().Replace(text, "<address>");
        }
        catch (System.Text.RegularExpressions.RegexMatchTimeoutException)
        {
            return "<reply withheld>";
        }
    }

    public const int MaxRedactedLength = 2048;

    // A local part plain (o'brien too) or quoted ("bob smith"@...), a domain named or an address
    // literal (@[192.0.2.1]).
    [System.Text.RegularExpressions.GeneratedRegex(@"<?(?:""[^""\r\n]*""|[^\s<>""(),;:@\[\]]+)@(?:\[[^\]\s]*\]|[^\s<>""'(),;:@\[\]]+)>?",
        System.Text.RegularExpressions.RegexOptions.None, matchTimeoutMilliseconds: 200)]
    private static partial System.Text.RegularExpressions.Regex AddressPattern();

    /// <summary>
    /// Sorts a MailKit failure into permanent-for-this-address, permanent-for-this-message,
    /// transient, or (null) neither. A server that refuses notify itself (its login, its TLS, its
    /// sender address) is transient: nothing can be sent until an operator fixes the settings, and
    /// every email waits for that (and the health check says so) rather than being given up.
    /// </summary>
    /// <remarks>The messages it makes carry the server's words with addresses redacted (<see cref="Redact"/>).</remarks>
    public static Exception? Classify(Exception e, CancellationToken cancellationToken) => e switch
    {
        SmtpOutcomeUnknownException => e,
        SmtpCommandException { ErrorCode: SmtpErrorCode.RecipientNotAccepted } c when (int)c.StatusCode >= 500 =>
            new SmtpRecipientRejectedException(c.Mailbox?.Address ?? "", (int)c.StatusCode, Redact(c.Message), c),
        SmtpCommandException c when (int)c.StatusCode is >= 400 and < 500 =>
            new SmtpUnavailableException($"The SMTP server answered {(int)c.StatusCode}: {Redact(c.Message)}", c),
        SmtpCommandException { ErrorCode: SmtpErrorCode.SenderNotAccepted } c =>
            new SmtpUnavailableException($"The SMTP server refused the sender address ({(int)c.StatusCode} {Redact(c.Message)}); check Smtp__From", c),
        SmtpCommandException { ErrorCode: SmtpErrorCode.MessageNotAccepted } c =>
            new SmtpMessageRejectedException((int)c.StatusCode, Redact(c.Message), c),
        MailKit.Security.AuthenticationException or MailKit.ServiceNotAuthenticatedException =>
            new SmtpUnavailableException($"The SMTP server refused notify's login ({Redact(e.Message)}); check Smtp__Username, Smtp__Password and Smtp__Security", e),
        MailKit.Security.SslHandshakeException =>
            new SmtpUnavailableException($"TLS with the SMTP server failed ({Redact(e.Message)}); check its certificate and Smtp__Security", e),
        SmtpProtocolException or MailKit.ServiceNotConnectedException or IOException or System.Net.Sockets.SocketException or TimeoutException =>
            new SmtpUnavailableException($"The SMTP server is unreachable: {Redact(e.Message)}", e),
        // MailKit reports its own timeout as a cancellation that nobody asked for.
        OperationCanceledException when !cancellationToken.IsCancellationRequested =>
            new SmtpUnavailableException($"The SMTP server did not answer in time: {Redact(e.Message)}", e),
        _ => null,
    };
}
