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
}
