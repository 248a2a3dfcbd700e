using MimeKit;

namespace Pipeline.Notify.Delivery;

/// <summary>
/// Accepts a bare RFC 5322 addr-spec (local@domain) and nothing else: no display name, no CR or LF
/// (header injection), no invisible formatting characters (bidi overrides), no groups, bounded lengths (RFC 5321: 64 for the local part, 254 in all).
/// </summary>
public static class EmailAddressRules
{
    public const int MaxLength = 254;

    private static readonly ParserOptions Strict = new()
    {
        AddressParserComplianceMode = RfcComplianceMode.Strict,
        AllowAddressesWithoutDomain = false,
        AllowUnquotedCommasInAddresses = false,
        Rfc2047ComplianceMode = RfcComplianceMode.Strict,
    };

    /// <summary>The address normalised (domain lower-cased), or why it is refused.</summary>
    public static (string? Address, string? Error) Check(string? input)
    {
        if (string.IsNullOrWhiteSpace(input))
        {
            return (null, "email is required");
        }

        // Invisible formatting characters (bidi overrides, zero-width ones) make an address read as another.
        if (input.Any(c => c is '\r' or '\n' || char.IsControl(c) || char.GetUnicodeCategory(c) == System.Globalization.UnicodeCategory.Format))
        {
            return (null, "email must not contain line breaks, control characters or invisible formatting characters");
        }

        var text = input.Trim();
        if (text.Length > MaxLength)
        {
            return (null, $"email is longer than {MaxLength} characters");
        }

        if (text.Contains('<') || text.Contains(',') || text.Contains(';') || text.Contains(' '))
        {
            return (null, "email must be a bare address such as ada@example.org");
        }

        if (!MailboxAddress.TryParse(Strict, text, out var mailbox) || mailbox.Address != text)
        {
            return (null, $"'{text}' is not a valid email address");
        }

        var at = mailbox.Address.LastIndexOf('@');
        if (at <= 0 || at > 64 || at == mailbox.Address.Length - 1)
        {
            return (null, $"'{text}' is not a valid email address");
        }

        var domain = mailbox.Address[(at + 1)..];
        if (!domain.Contains('.') || domain.StartsWith('.') || domain.EndsWith('.') || domain.Contains(".."))
        {
            return (null, $"'{text}' has no valid domain");
        }

        return (mailbox.Address[..at] + "@" + domain.ToLowerInvariant(), null);
    }
}
