namespace Pipeline.Notify.Delivery;

/// <summary>
/// Whether the SMTP server is failing, as this process's last attempts saw it: <see cref="MailSender"/>
/// reports every attempt that ended in <see cref="SmtpUnavailableException"/> and every one the server
/// answered. While an outage is ongoing, <see cref="Consumers.PaperMatchedConsumer"/> keeps new alerts
/// without trying them, so a server that takes connections and never answers costs one timeout per
/// round of <see cref="DeferredAlertSender"/>, not one per alert in a handler. The sender's rounds
/// are the probes: the first one the server answers ends the outage. (Should nothing try the
/// server after a failure, the next alert is kept and sent by the next round, seconds later.)
/// </summary>
public sealed class SmtpOutage(TimeProvider clock)
{
    private readonly Lock _gate = new();
    private DateTimeOffset? _since;
    private string _error = "";

    public void Failed(string error)
    {
        lock (_gate)
        {
            _since ??= clock.GetUtcNow();
            _error = error;
        }
    }

    public void Answered()
    {
        lock (_gate)
        {
            _since = null;
        }
    }

    /// <summary>The outage, if the last attempt failed: when the failures began and the last error.</summary>
    public (DateTimeOffset Since, string Error)? Ongoing()
    {
        lock (_gate)
        {
            return _since is { } since ? (since, _error) : null;
        }
    }
}
