using System.Security.Cryptography;
using System.Text;
using StackExchange.Redis;

namespace Pipeline.Notify.Delivery;

/// <summary>
/// The HMAC key for links: <c>Tokens__SigningKey</c> when configured (at least 32 characters), else
/// a random key made once and kept in notify's Redis, so no secret lives in the repository and links
/// keep working across restarts.
/// </summary>
public static class TokenKey
{
    public static byte[] Resolve(IConfiguration configuration, IDatabase redis)
    {
        if (configuration["Tokens:SigningKey"] is { Length: > 0 } configured)
        {
            return configured.Length >= 32
                ? Encoding.UTF8.GetBytes(configured)
                : throw new InvalidOperationException("Tokens:SigningKey must be at least 32 characters.");
        }

        redis.StringSet("notify:token-key", Convert.ToBase64String(RandomNumberGenerator.GetBytes(32)), when: When.NotExists);
        return Convert.FromBase64String(redis.StringGet("notify:token-key")!);
    }

    /// <summary>
    /// Keys signed with before a rotation (<c>Tokens:PreviousSigningKeys:0</c>, <c>:1</c>, ...): links
    /// they signed are still accepted, new links are signed with <c>Tokens:SigningKey</c>. Drop one
    /// once the mail it signed no longer matters (unsubscribe links never expire).
    /// </summary>
    public static IReadOnlyList<byte[]> Previous(IConfiguration configuration, IDatabase? redis = null)
    {
        var keys = configuration.GetSection("Tokens:PreviousSigningKeys").GetChildren()
            .Where(c => !string.IsNullOrEmpty(c.Value))
            .Select(c => c.Value!.Length >= 32
                ? Encoding.UTF8.GetBytes(c.Value)
                : throw new InvalidOperationException($"Tokens:PreviousSigningKeys:{c.Key} must be at least 32 characters."))
            .ToList();

        // A deployment that ran on the key notify generated and now sets one: the generated key
        // (still in notify's Redis) stays accepted, so the links it signed keep working. Delete
        // notify:token-key to stop accepting them.
        if (redis is not null && configuration["Tokens:SigningKey"] is { Length: > 0 } && redis.StringGet("notify:token-key") is { IsNullOrEmpty: false } generated)
        {
            keys.Add(Convert.FromBase64String(generated!));
        }

        return keys;
    }
}
