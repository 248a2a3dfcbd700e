using MailKit.Security;
using Microsoft.Extensions.Options;

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

    /// <summary>
    /// Logging in to a server other than this machine over a connection without TLS sends the
    /// password in clear: refused at start unless this is true.
    /// </summary>
    public bool AllowPlaintextLogin { get; set; }

    /// <summary>A login may go over a connection without TLS: allowed, or to this machine.</summary>
    public bool PlaintextLoginAllowed => AllowPlaintextLogin || IsLoopback(Host);

    /// <summary>What is wrong with these settings, or null: checked when notify starts.</summary>
    public string? Problem()
    {
        if (string.IsNullOrEmpty(Username) || Security != SecureSocketOptions.None || PlaintextLoginAllowed)
        {
            return null;
        }

        return $"Smtp__Username is set and Smtp__Security is None: logging in to {Host} would send the password in clear. " +
            "Set Smtp__Security=StartTls (port 587) or SslOnConnect (port 465), or Smtp__AllowPlaintextLogin=true if the link is otherwise protected.";
    }

    private static bool IsLoopback(string host) =>
        host.Equals("localhost", StringComparison.OrdinalIgnoreCase)
        || (System.Net.IPAddress.TryParse(host, out var address) && System.Net.IPAddress.IsLoopback(address));
}

/// <summary>Refuses to start with SMTP settings that would send a password in clear (<see cref="SmtpOptions.Problem"/>).</summary>
public sealed class SmtpOptionsValidator : IValidateOptions<SmtpOptions>
{
    public ValidateOptionsResult Validate(string? name, SmtpOptions options) =>
        options.Problem() is { } problem ? ValidateOptionsResult.Fail(problem) : ValidateOptionsResult.Success;
}
