using MailKit.Security;
using Pipeline.Notify.Delivery;

namespace Pipeline.Notify.Tests;

/// <summary>Notify refuses to start with SMTP settings that would send the relay's password in clear.</summary>
public sealed class SmtpOptionsSpecs
{
    private static readonly SmtpOptionsValidator Validator = new();

    [Fact]
    public void A_login_to_a_remote_relay_without_tls_is_refused_naming_the_settings_to_change()
    {
        var result = Validator.Validate(null, new SmtpOptions { Host = "smtp.example.org", Port = 25, Username = "pipeline", Password = "secret" });

        Assert.True(result.Failed);
        Assert.Contains("in clear", result.FailureMessage);
        Assert.Contains("Smtp__Security=StartTls", result.FailureMessage);
    }

    [Theory]
    [InlineData("smtp.example.org", SecureSocketOptions.StartTls, "pipeline", false)]
    [InlineData("smtp.example.org", SecureSocketOptions.SslOnConnect, "pipeline", false)]
    [InlineData("smtp.example.org", SecureSocketOptions.None, null, false)]
    [InlineData("smtp.example.org", SecureSocketOptions.None, "pipeline", true)]
    [InlineData("127.0.0.1", SecureSocketOptions.None, "pipeline", false)]
    [InlineData("localhost", SecureSocketOptions.None, "pipeline", false)]
    [InlineData("::1", SecureSocketOptions.None, "pipeline", false)]
    public void Tls_no_login_an_explicit_allowance_or_this_machine_is_accepted(string host, SecureSocketOptions security, string? username, bool allow)
    {
        var result = Validator.Validate(null, new SmtpOptions { Host = host, Security = security, Username = username, AllowPlaintextLogin = allow });

        Assert.True(result.Succeeded, result.FailureMessage);
    }

    [Theory]
    [InlineData(SecureSocketOptions.Auto)]
    [InlineData(SecureSocketOptions.StartTlsWhenAvailable)]
    public void A_relay_that_offers_no_tls_under_an_opportunistic_setting_gets_no_password(SecureSocketOptions security)
    {
        // Auto and StartTlsWhenAvailable go on in clear when STARTTLS is missing or stripped.
        var remote = new SmtpOptions { Host = "smtp.example.org", Security = security, Username = "pipeline", Password = "secret" };

        Assert.Contains("password was not sent", SmtpConnectionPool.RefuseLogin(remote, connectionIsSecure: false));
        Assert.Null(SmtpConnectionPool.RefuseLogin(remote, connectionIsSecure: true));
        Assert.Null(SmtpConnectionPool.RefuseLogin(new SmtpOptions { Host = "127.0.0.1", Security = security, Username = "pipeline" }, connectionIsSecure: false));
        Assert.Null(SmtpConnectionPool.RefuseLogin(new SmtpOptions { Host = "smtp.example.org", Security = security, Username = "pipeline", AllowPlaintextLogin = true }, connectionIsSecure: false));
    }
}
