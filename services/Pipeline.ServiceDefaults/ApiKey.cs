using System.Security.Cryptography;
using System.Text;
using Grpc.Core;
using Microsoft.Extensions.Configuration;

namespace Pipeline.ServiceDefaults;

/// <summary>
/// Guards mutating gRPC calls: the caller sends the key in the <c>x-api-key</c> metadata header.
/// Keys come from configuration (<c>Security__ApiKeys__0</c>, ...); with none configured every
/// mutating call is refused, so a deployment that forgot to set one is closed, not open.
/// </summary>
public sealed class ApiKeyValidator(IConfiguration configuration)
{
    public const string HeaderName = "x-api-key";

    /// <summary>The shortest key accepted: a guessable key guards nothing.</summary>
    public const int MinimumLength = 16;

    /// <summary>
    /// Throws at start when a configured key is shorter than <see cref="MinimumLength"/>, naming
    /// it by position (never by value).
    /// </summary>
    public static void CheckConfigured(IConfiguration configuration)
    {
        foreach (var entry in configuration.GetSection("Security:ApiKeys").GetChildren())
        {
            if (!string.IsNullOrWhiteSpace(entry.Value) && entry.Value.Length < MinimumLength)
            {
                throw new InvalidOperationException(
                    $"Security:ApiKeys:{entry.Key} is {entry.Value.Length} characters long; an API key needs at least {MinimumLength} (for one: openssl rand -hex 24).");
            }
        }
    }

    private readonly byte[][] _keys = configuration.GetSection("Security:ApiKeys").GetChildren()
        .Select(c => c.Value)
        .Where(v => !string.IsNullOrWhiteSpace(v))
        .Select(v => Encoding.UTF8.GetBytes(v!))
        .ToArray();

    /// <summary>
    /// For calls open to anyone that tell a key holder more: false when the call carries no key,
    /// true when it carries a valid one, UNAUTHENTICATED when it carries a wrong one.
    /// </summary>
    public bool Presented(ServerCallContext context)
    {
        if (string.IsNullOrEmpty(context.RequestHeaders.GetValue(HeaderName)))
        {
            return false;
        }

        Require(context);
        return true;
    }

    /// <summary>Throws UNAUTHENTICATED unless the call carries a configured key.</summary>
    public void Require(ServerCallContext context)
    {
        var presented = context.RequestHeaders.GetValue(HeaderName);
        if (string.IsNullOrEmpty(presented))
        {
            throw new RpcException(new Status(StatusCode.Unauthenticated, $"This call needs an API key in the '{HeaderName}' header."));
        }

        var bytes = Encoding.UTF8.GetBytes(presented);
        if (!_keys.Any(k => CryptographicOperations.FixedTimeEquals(k, bytes)))
        {
            throw new RpcException(new Status(StatusCode.Unauthenticated, "The API key is not valid."));
        }
    }
}
