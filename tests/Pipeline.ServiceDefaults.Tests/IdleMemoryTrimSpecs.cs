using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Logging.Abstractions;

namespace Pipeline.ServiceDefaults.Tests;

[Collection(nameof(CollectorAlone))]
public sealed class IdleMemoryTrimSpecs
{
    private const long Mb = 1_000_000;
    private static readonly DateTimeOffset T0 = new(2026, 11, 28, 12, 0, 0, TimeSpan.Zero);

    /// <summary>Feeds one look a second; each entry is what that second allocated. Returns the seconds at which it said to trim.</summary>
    private static List<int> Run(IdleMemoryTrim trim, params long[] perSecond)
    {
        var trims = new List<int>();
        long allocated = 1_000 * Mb;
        trim.Look(allocated, T0);
        for (var s = 0; s < perSecond.Length; s++)
        {
            allocated += perSecond[s];
            if (trim.Look(allocated, T0.AddSeconds(s + 1)))
            {
                trims.Add(s + 1);
                trim.Trimmed(allocated);
            }
        }

        return trims;
    }

    [Fact]
    public void A_burst_followed_by_quiet_is_trimmed_once_the_quiet_has_lasted()
    {
        var trim = new IdleMemoryTrim(TimeSpan.FromSeconds(5), 64 * Mb);

        // 10 busy seconds of 50 MB, then 10 quiet seconds of health probes.
        var trims = Run(trim, [.. Enumerable.Repeat(50 * Mb, 10), .. Enumerable.Repeat(100_000L, 10)]);

        // Quiet from second 11; five seconds of it end at second 16. Once only.
        Assert.Equal([16], trims);
    }

    [Fact]
    public void Nothing_is_trimmed_while_calls_keep_coming()
    {
        var trim = new IdleMemoryTrim(TimeSpan.FromSeconds(5), 64 * Mb);

        Assert.Empty(Run(trim, [.. Enumerable.Repeat(20 * Mb, 60)]));
    }

    [Fact]
    public void A_pause_shorter_than_the_quiet_period_does_not_trim()
    {
        var trim = new IdleMemoryTrim(TimeSpan.FromSeconds(5), 64 * Mb);

        var seconds = new List<long>();
        for (var round = 0; round < 5; round++)
        {
            seconds.AddRange(Enumerable.Repeat(30 * Mb, 3));
            seconds.AddRange(Enumerable.Repeat(0L, 4));
        }

        Assert.Empty(Run(trim, [.. seconds]));
    }

    [Fact]
    public void Quiet_after_too_small_a_burst_or_a_slow_drip_does_not_trim()
    {
        var small = new IdleMemoryTrim(TimeSpan.FromSeconds(5), 64 * Mb);
        Assert.Empty(Run(small, [.. Enumerable.Repeat(10 * Mb, 3), .. Enumerable.Repeat(0L, 30)]));

        // Half a megabyte a second for ten minutes is 300 MB, but never a burst.
        var drip = new IdleMemoryTrim(TimeSpan.FromSeconds(5), 64 * Mb);
        Assert.Empty(Run(drip, [.. Enumerable.Repeat(Mb / 2, 600)]));
    }

    [Fact]
    public void A_second_burst_is_trimmed_again_after_its_own_quiet()
    {
        var trim = new IdleMemoryTrim(TimeSpan.FromSeconds(5), 64 * Mb);

        var trims = Run(trim, [
            .. Enumerable.Repeat(100 * Mb, 2), .. Enumerable.Repeat(0L, 20),
            .. Enumerable.Repeat(100 * Mb, 2), .. Enumerable.Repeat(0L, 20)]);

        // Quiet from seconds 3 and 25 (the first looks that see it): trims at 8 and 30.
        Assert.Equal([8, 30], trims);
    }

    [Fact]
    public void The_trimmer_collects_the_whole_heap_when_the_policy_says_so()
    {
        var trimmer = new IdleMemoryTrimmer(new IdleMemoryTrim(TimeSpan.FromSeconds(2), 64 * Mb), NullLogger<IdleMemoryTrimmer>.Instance, TimeProvider.System);
        var fullBefore = GC.CollectionCount(GC.MaxGeneration);

        Assert.False(trimmer.LookOnce(0, T0));
        Assert.False(trimmer.LookOnce(200 * Mb, T0.AddSeconds(1)));
        Assert.False(trimmer.LookOnce(200 * Mb, T0.AddSeconds(2)));
        Assert.True(trimmer.LookOnce(200 * Mb, T0.AddSeconds(4)));

        Assert.Equal(1, trimmer.Trims);
        Assert.True(GC.CollectionCount(GC.MaxGeneration) > fullBefore);
        Assert.False(trimmer.LookOnce(200 * Mb, T0.AddSeconds(10)));
    }

    [Fact]
    public void It_is_on_by_default_and_a_zero_quiet_period_turns_it_off()
    {
        var byDefault = IdleMemoryTrimmer.From(new ConfigurationBuilder().Build());
        Assert.NotNull(byDefault);
        Assert.Equal(TimeSpan.FromSeconds(5), byDefault.QuietFor);
        Assert.Equal(64 * Mb, byDefault.AfterBytes);

        var off = IdleMemoryTrimmer.From(new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?> { ["Memory:TrimWhenIdleSeconds"] = "0" }).Build());
        Assert.Null(off);
    }
}
