using System.Collections.Concurrent;
using Microsoft.Extensions.Options;

namespace Pipeline.Notify.Delivery;

/// <summary>
/// Subscribe is open to anyone, so it is rate-limited three ways: per address (one inbox cannot be
/// targeted with many calls), per client (one caller, or one IPv6 /64, cannot try many addresses)
/// and for everyone together (a crowd of clients cannot send unbounded confirmations). Fixed windows
/// counted in memory: each notify instance limits what reaches it, which bounds abuse without a
/// Redis round trip; the confirmation email itself is limited per address in Redis
/// (<see cref="NotifyOptions.ConfirmationResendSeconds"/>).
/// </summary>
public sealed class SubscribeRateLimits(IOptions<NotifyOptions> options, TimeProvider clock)
{
    private readonly ConcurrentDictionary<string, Window> _windows = new();
    private long _calls;

    /// <summary>Counts one Subscribe call; null when allowed, else why it is refused.</summary>
    public string? TryAcquire(string address, string client)
    {
        var now = clock.GetUtcNow();
        var o = options.Value;
        if (Interlocked.Increment(ref _calls) % 1024 == 0)
        {
            Prune(now);
        }

        // The address first: calls hammering one inbox are refused before they count against
        // the client (or anything shared).
        if (!Take("address:" + address.ToLowerInvariant(), o.SubscribePerAddressLimit, TimeSpan.FromSeconds(o.SubscribePerAddressWindowSeconds), now))
        {
            return "Too many subscription requests for this address; try again later.";
        }

        return Take("client:" + ClientKey(client), o.SubscribePerClientLimit, TimeSpan.FromSeconds(o.SubscribePerClientWindowSeconds), now)
            ? null
            : "Too many subscription requests from this client; try again later.";
    }

    /// <summary>
    /// Counts one confirmation (or "already subscribed") email an open Subscribe is about to send,
    /// for all callers together; null when allowed. Only calls that would send count, so refused,
    /// invalid or repeated calls cannot use up the budget of everyone else.
    /// </summary>
    public string? TryTakeEmail()
    {
        var o = options.Value;
        return Take("all-emails", o.SubscribeGlobalLimit, TimeSpan.FromSeconds(o.SubscribeGlobalWindowSeconds), clock.GetUtcNow())
            ? null
            : "Too many subscription requests right now; try again later.";
    }

    /// <summary>
    /// Whom a client's calls count against: its IPv4 address, or the /64 network of an IPv6 one
    /// (one host is given a whole /64, and would otherwise have 2^64 addresses to rotate through).
    /// </summary>
    public static string ClientKey(string client)
    {
        if (!System.Net.IPAddress.TryParse(client, out var address))
        {
            return client;
        }

        if (address.IsIPv4MappedToIPv6)
        {
            return address.MapToIPv4().ToString();
        }

        if (address.AddressFamily != System.Net.Sockets.AddressFamily.InterNetworkV6)
        {
            return address.ToString();
        }

        var bytes = address.GetAddressBytes();
        Array.Clear(bytes, 8, 8);
        return new System.Net.IPAddress(bytes) + "/64";
    }

    private bool Take(string key, int limit, TimeSpan length, DateTimeOffset now)
    {
        var window = _windows.AddOrUpdate(key,
            _ => new Window(now, 1),
            (_, w) => now - w.Start >= length ? new Window(now, 1) : w with { Count = w.Count + 1 });
        return window.Count <= limit;
    }

    private void Prune(DateTimeOffset now)
    {
        var longest = TimeSpan.FromSeconds(Math.Max(options.Value.SubscribeGlobalWindowSeconds, Math.Max(options.Value.SubscribePerClientWindowSeconds, options.Value.SubscribePerAddressWindowSeconds)));
        foreach (var (key, window) in _windows)
        {
            if (now - window.Start >= longest)
            {
                _windows.TryRemove(key, out _);
            }
        }
    }

    private sealed record Window(DateTimeOffset Start, int Count);
}
