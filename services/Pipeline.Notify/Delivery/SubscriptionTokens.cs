using System.Globalization;
using System.Security.Cryptography;
using System.Text;

namespace Pipeline.Notify.Delivery;

/// <summary>What a link in an email lets its holder do.</summary>
public enum TokenPurpose
{
    Confirm,
    Unsubscribe,
    Preferences,
}

/// <summary>
/// Signed tokens for the links in emails: <c>base64url(purpose|subscriber|expiry[|version])</c> + "." +
/// <c>base64url(HMAC-SHA256)</c>. A token names one subscriber and one purpose, so it reveals and
/// unlocks nothing about anyone else; the key never leaves the service. Tokens are signed with the
/// current key and accepted under it or any of <paramref name="previousKeys"/> (<c>Tokens:PreviousSigningKeys</c>),
/// so a key can be rotated without breaking the unsubscribe links in mail already sent.
/// </summary>
public sealed class SubscriptionTokens(byte[] key, TimeProvider clock, IReadOnlyList<byte[]>? previousKeys = null)
{
    private readonly byte[][] _accepted = [key, .. previousKeys ?? []];

    public const int MaxTokenLength = 512;

    /// <summary>
    /// A token for <paramref name="purpose"/> on <paramref name="subscriberId"/>, valid for
    /// <paramref name="lifetime"/> (null: for ever). <paramref name="version"/>, when given, is signed
    /// with it and given back by <see cref="Verify"/>: a confirmation link names the request it was
    /// sent for (<see cref="Storage.Subscriber.RequestNonce"/>).
    /// </summary>
    public string Issue(TokenPurpose purpose, string subscriberId, TimeSpan? lifetime, string? version = null)
    {
        if (version is not null && (version.Length == 0 || version.Contains('|', StringComparison.Ordinal)))
        {
            throw new ArgumentException("A token's version is a non-empty word without '|'.", nameof(version));
        }

        var expires = lifetime is { } l ? clock.GetUtcNow().Add(l).ToUnixTimeSeconds() : 0;
        var text = string.Create(CultureInfo.InvariantCulture, $"{purpose}|{subscriberId}|{expires}");
        var payload = Encoding.UTF8.GetBytes(version is null ? text : $"{text}|{version}");
        return Base64Url(payload) + "." + Base64Url(HMACSHA256.HashData(key, payload));
    }

    /// <summary>The subscriber id, or why the token is refused.</summary>
    public TokenCheck Verify(string? token, TokenPurpose purpose)
    {
        if (string.IsNullOrEmpty(token) || token.Length > MaxTokenLength)
        {
            return TokenCheck.Invalid("The link is incomplete or not one we sent.");
        }

        var dot = token.IndexOf('.');
        if (dot <= 0 || !TryFromBase64Url(token[..dot], out var payload) || !TryFromBase64Url(token[(dot + 1)..], out var signature))
        {
            return TokenCheck.Invalid("The link is incomplete or not one we sent.");
        }

        if (!_accepted.Any(k => CryptographicOperations.FixedTimeEquals(signature, HMACSHA256.HashData(k, payload))))
        {
            return TokenCheck.Invalid("The link is not one we sent.");
        }

        var parts = Encoding.UTF8.GetString(payload).Split('|');
        if (parts.Length is not (3 or 4) || parts[0] != purpose.ToString() || !long.TryParse(parts[2], NumberStyles.None, CultureInfo.InvariantCulture, out var expires))
        {
            return TokenCheck.Invalid("The link is not meant for this.");
        }

        if (expires != 0 && clock.GetUtcNow().ToUnixTimeSeconds() > expires)
        {
            return TokenCheck.Invalid("The link has expired.", expired: true);
        }

        return new TokenCheck(parts[1], null, false) { Version = parts.Length == 4 ? parts[3] : null };
    }

    private static string Base64Url(byte[] bytes) => Convert.ToBase64String(bytes).TrimEnd('=').Replace('+', '-').Replace('/', '_');

    private static bool TryFromBase64Url(string text, out byte[] bytes)
    {
        var s = text.Replace('-', '+').Replace('_', '/');
        s += (s.Length % 4) switch { 2 => "==", 3 => "=", _ => "" };
        bytes = new byte[s.Length];
        return Convert.TryFromBase64String(s, bytes, out var written) && (bytes = bytes[..written]).Length > 0;
    }
}

public sealed record TokenCheck(string? SubscriberId, string? Error, bool Expired)
{
    public bool Valid => SubscriberId is not null;

    /// <summary>The version the token was issued with, if any (<see cref="SubscriptionTokens.Issue"/>).</summary>
    public string? Version { get; init; }

    public static TokenCheck Invalid(string error, bool expired = false) => new(null, error, expired);
}
