using Microsoft.Extensions.Options;
using Pipeline.Notify.Delivery;

namespace Pipeline.Notify.Tests;

public class SubscribeRateLimitsSpecs
{
    private readonly ManualClock _clock = new(new DateTimeOffset(2026, 11, 26, 12, 0, 0, TimeSpan.Zero));

    private SubscribeRateLimits Limits() => new(Options.Create(new NotifyOptions
    {
        SubscribePerAddressLimit = 3, SubscribePerAddressWindowSeconds = 3600, SubscribePerClientLimit = 5, SubscribePerClientWindowSeconds = 600,
        SubscribeGlobalLimit = 12, SubscribeGlobalWindowSeconds = 3600,
    }), _clock);

    [Fact]
    public void One_address_is_refused_after_its_limit_and_accepted_again_in_the_next_window()
    {
        var limits = Limits();
        Assert.All(Enumerable.Range(0, 3), i => Assert.Null(limits.TryAcquire("ada@example.org", $"10.0.0.{i}")));
        Assert.Contains("this address", limits.TryAcquire("ADA@example.org", "10.0.0.9"));
        _clock.Now = _clock.Now.AddHours(1);
        Assert.Null(limits.TryAcquire("ada@example.org", "10.0.0.10"));
    }

    [Fact]
    public void One_client_is_refused_after_its_limit_whatever_addresses_it_tries()
    {
        var limits = Limits();
        Assert.All(Enumerable.Range(0, 5), i => Assert.Null(limits.TryAcquire($"user{i}@example.org", "10.0.0.1")));
        Assert.Contains("this client", limits.TryAcquire("someone@example.org", "10.0.0.1"));
        Assert.Null(limits.TryAcquire("someone@example.org", "10.0.0.2"));
    }

    [Fact]
    public void One_ipv6_network_counts_as_one_client_whichever_of_its_addresses_it_calls_from()
    {
        var limits = Limits();
        Assert.All(Enumerable.Range(1, 5), i => Assert.Null(limits.TryAcquire($"user{i}@example.org", $"2001:db8:0:1::{i:x}")));

        Assert.Contains("this client", limits.TryAcquire("someone@example.org", "2001:db8:0:1:ffff:ffff:ffff:ffff"));
        Assert.Null(limits.TryAcquire("someone@example.org", "2001:db8:0:2::1"));
        Assert.Equal("10.0.0.7", SubscribeRateLimits.ClientKey("::ffff:10.0.0.7"));
    }

    [Fact]
    public void Emails_for_all_callers_together_are_refused_past_the_instance_wide_limit_and_taken_again_in_the_next_window()
    {
        var limits = Limits();
        Assert.All(Enumerable.Range(0, 12), _ => Assert.Null(limits.TryTakeEmail()));

        Assert.Contains("right now", limits.TryTakeEmail());
        _clock.Now = _clock.Now.AddHours(1);
        Assert.Null(limits.TryTakeEmail());
    }

    [Fact]
    public void Calls_hammering_one_address_from_many_networks_do_not_use_up_the_shared_budget()
    {
        // Refused for the address, they count against nothing shared: everyone else can still subscribe.
        var limits = Limits();
        var refused = Enumerable.Range(1, 200).Count(i => limits.TryAcquire("victim@example.org", $"2001:db8:{i:x}::1") is not null);

        Assert.Equal(197, refused);
        Assert.Null(limits.TryAcquire("newcomer@example.org", "10.0.0.1"));
        Assert.Null(limits.TryTakeEmail());
    }
}
