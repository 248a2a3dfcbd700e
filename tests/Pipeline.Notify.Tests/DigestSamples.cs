using Pipeline.Notify.Delivery;

namespace Pipeline.Notify.Tests;

/// <summary>Digests as rank would fill them, including the awkward papers: markup in titles, long words, many authors.</summary>
internal static class DigestSamples
{
    public static readonly Uri Unsubscribe = new("http://127.0.0.1:5204/unsubscribe?token=u");
    public static readonly Uri Preferences = new("http://127.0.0.1:5204/preferences?token=p");
    public static readonly DigestPeriod Period = new("2026-11-26", new DateTimeOffset(2026, 11, 26, 7, 0, 0, TimeSpan.Zero), TimeSpan.FromDays(1));

    public static DigestPaper Paper(int i, string? title = null) => new(
        $"2411.{10000 + i}",
        title ?? $"Consistency models for fast diffusion sampling, part {i}",
        ["Ada Lovelace", "Alan Turing", "Grace Hopper", "Edsger Dijkstra", "Barbara Liskov"],
        ["cs.LG", "cs.CV", "stat.ML"],
        $"https://arxiv.org/abs/2411.{10000 + i}",
        "We distil a diffusion model into a consistency model that samples in one to four steps while keeping most of the quality. " +
        "Experiments on ImageNet 64 and LSUN show competitive FID at a fraction of the cost, and we analyse when distillation fails.",
        "matches your interest 'diffusion models' (similarity 0.71)",
        new DateTimeOffset(2026, 11, 25, 0, 0, 0, TimeSpan.Zero));

    public static Digest Digest(int papers = 5, int trending = 3) => DigestComposer.Compose(
        "sub-1", Period, "daily", ["diffusion models", "protein folding"], 10,
        Enumerable.Range(1, papers).Select(i => Paper(i)).Append(Paper(99,
            "<script>alert('x')</script> Pneumonoultramicroscopicsilicovolcanoconiosis-and-other-extraordinarily-long-unbroken-hyphenated-terms-in-titles")),
        Enumerable.Range(100, trending).Select(i => Paper(i, $"Trending paper {i} on scaling laws")),
        new HashSet<string>());
}
