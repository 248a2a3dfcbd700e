using System.Collections.Concurrent;
using Microsoft.Extensions.Options;

namespace Pipeline.Notify.Delivery;

/// <summary>
/// Subscribe is open to anyone, so it is rate-limited twice: per address (one inbox cannot be
/// targeted with many calls) and per client (one caller cannot try many addresses). Fixed windows
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

        if (!Take("client:" + client, o.SubscribePerClientLimit, TimeSpan.FromSeconds(o.SubscribePerClientWindowSeconds), now))
        {
            return "Too many subscription requests from this client; try again later.";
        }

        return Take("address:" + address.ToLowerInvariant(), o.SubscribePerAddressLimit, TimeSpan.FromSeconds(o.SubscribePerAddressWindowSeconds), now)
            ? null
            : "Too many subscription requests for this address; try again later.";
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
        var longest = TimeSpan.FromSeconds(Math.Max(options.Value.SubscribePerClientWindowSeconds, options.Value.SubscribePerAddressWindowSeconds));
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
