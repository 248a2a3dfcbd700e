using MailKit.Security;

namespace Pipeline.Notify.Delivery;

/// <summary>Where mail goes: the <c>Smtp</c> configuration section (Smtp__Host, Smtp__Port, ...).</summary>
public sealed class SmtpOptions
{
    public string Host { get; set; } = "127.0.0.1";
    public int Port { get; set; } = 1025;

    /// <summary>None, StartTls, StartTlsWhenAvailable, SslOnConnect or Auto.</summary>
    public SecureSocketOptions Security { get; set; } = SecureSocketOptions.None;
    public string? Username { get; set; }
    public string? Password { get; set; }
    public string From { get; set; } = "papers@pipeline.localhost";
    public string FromName { get; set; } = "Paper pipeline";
    public int TimeoutSeconds { get; set; } = 30;

    /// <summary>Connected SMTP sessions kept open and reused; 0 opens a new connection per email.</summary>
    public int MaxConnections { get; set; } = 16;

    /// <summary>An idle pooled connection older than this is closed instead of reused (servers drop idle sessions).</summary>
    public int IdleSeconds { get; set; } = 20;
}
