using Pipeline.ServiceDefaults.Messaging;

namespace Pipeline.ServiceDefaults.Tests;

public sealed class InFlightReceivesSpecs
{
    private static readonly DateTimeOffset T0 = new(2026, 11, 27, 4, 0, 0, TimeSpan.Zero);

    [Fact]
    public void The_longest_is_the_oldest_message_still_in_its_handler()
    {
        var receives = new InFlightReceives();
        object a = new(), b = new(), c = new();
        receives.Started(a, "rank-paper-embedded", T0);
        receives.Started(b, "rank-digest-sent", T0.AddSeconds(5));
        receives.Started(c, "rank-paper-embedded", T0.AddSeconds(9));

        Assert.Equal(("rank-paper-embedded", TimeSpan.FromSeconds(60)), receives.Longest(T0.AddSeconds(60)));
        receives.Ended(a);
        Assert.Equal(("rank-digest-sent", TimeSpan.FromSeconds(55)), receives.Longest(T0.AddSeconds(60)));
        Assert.Equal(2, receives.Count);
    }

    [Fact]
    public void Nothing_in_flight_has_no_longest_and_an_end_told_twice_is_nothing()
    {
        var receives = new InFlightReceives();
        Assert.Null(receives.Longest(T0));

        var a = new object();
        receives.Started(a, "embed-paper-ingested", T0);
        receives.Ended(a);
        receives.Ended(a);

        Assert.Equal(0, receives.Count);
        Assert.Null(receives.Longest(T0.AddHours(1)));
    }

    [Fact]
    public void Messages_are_told_apart_by_identity_not_by_equality()
    {
        var receives = new InFlightReceives();
        var first = new SameEverywhere();
        var second = new SameEverywhere();
        receives.Started(first, "notify-paper-matched", T0);
        receives.Started(second, "notify-paper-matched", T0.AddSeconds(1));

        receives.Ended(second);

        Assert.Equal(1, receives.Count);
        Assert.Equal(TimeSpan.FromSeconds(10), receives.Longest(T0.AddSeconds(10))?.For);
    }

    /// <summary>Equal to every other instance, as a record of the same values is.</summary>
    private sealed class SameEverywhere
    {
        public override bool Equals(object? obj) => obj is SameEverywhere;

        public override int GetHashCode() => 1;
    }
}
