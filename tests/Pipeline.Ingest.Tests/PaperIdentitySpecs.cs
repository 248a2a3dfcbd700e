using Pipeline.Contracts.Messages;
using Pipeline.Ingest.Papers;
using Pipeline.Ingest.Storage;

namespace Pipeline.Ingest.Tests;

/// <summary>One paper, one identity: across sources, versions and resubmissions.</summary>
public class PaperIdentitySpecs
{
    private static readonly DateTimeOffset Published = new(2024, 10, 22, 17, 59, 59, TimeSpan.Zero);

    private static readonly PaperSummary FromArxiv = new("2410.17243", 1, "Breaking the Memory Barrier", "The arXiv abstract.", ["Ada Lovelace"], ["cs.CV"], Published, "https://arxiv.org/abs/2410.17243", "arxiv-api", 0)
    {
        Metadata = new PaperMetadata(PrimaryCategory: "cs.CV", Doi: "10.1/x", JournalRef: "J. Test 1"),
    };

    private static readonly PaperSummary FromHuggingFace = new("2410.17243", 0, "Breaking the Memory Barrier (HF copy)", "HF's abstract.", ["A. Lovelace"], [], Published.AddHours(7), "https://arxiv.org/abs/2410.17243", "huggingface", 88)
    {
        Metadata = new PaperMetadata(Comments: 4, GithubRepo: "https://github.com/example/inf-cl", GithubStars: 123, FeaturedOn: new DateOnly(2024, 10, 23), FeaturedAt: new DateTimeOffset(2024, 10, 23, 1, 2, 3, TimeSpan.Zero)),
    };

    private static StoredPaper Stored(PaperSummary paper) =>
        new(paper, PaperFingerprint.Content(paper), PaperFingerprint.Record(paper), DateTimeOffset.UnixEpoch, Published: true);

    [Fact]
    public void Hugging_face_after_arxiv_keeps_arxiv_metadata_and_adds_the_upvotes()
    {
        var merged = PaperMerge.Merge(FromArxiv, FromHuggingFace);

        Assert.Equal((FromArxiv.Title, FromArxiv.Abstract, "arxiv-api", 1), (merged.Title, merged.Abstract, merged.Source, merged.Version));
        Assert.Equal(FromArxiv.Authors, merged.Authors);
        Assert.Equal(88, merged.Upvotes);
        Assert.Equal(("https://github.com/example/inf-cl", 123, 4), (merged.Metadata!.GithubRepo, merged.Metadata.GithubStars, merged.Metadata.Comments));
        Assert.Equal(new DateOnly(2024, 10, 23), merged.Metadata.FeaturedOn);
        Assert.Equal(new DateTimeOffset(2024, 10, 23, 1, 2, 3, TimeSpan.Zero), merged.Metadata.FeaturedAt);
        Assert.Equal("10.1/x", merged.Metadata.Doi);
        Assert.Equal(Published, merged.PublishedAt);
    }

    [Fact]
    public void Arxiv_after_hugging_face_takes_arxiv_metadata_and_keeps_the_upvotes()
    {
        var merged = PaperMerge.Merge(FromHuggingFace, FromArxiv);

        Assert.Equal((FromArxiv.Title, FromArxiv.Abstract, "arxiv-api"), (merged.Title, merged.Abstract, merged.Source));
        Assert.Equal(88, merged.Upvotes);
        Assert.Equal(123, merged.Metadata!.GithubStars);
        Assert.Equal(FromHuggingFace.Metadata!.FeaturedAt, merged.Metadata.FeaturedAt);
    }

    [Fact]
    public void A_later_poll_of_the_same_day_without_the_featuring_time_keeps_it()
    {
        var held = PaperMerge.Merge(FromArxiv, FromHuggingFace);
        var repoll = FromHuggingFace with { Upvotes = 95, Metadata = FromHuggingFace.Metadata! with { FeaturedAt = null } };

        var merged = PaperMerge.Merge(held, repoll);

        Assert.Equal((95, FromHuggingFace.Metadata!.FeaturedAt), (merged.Upvotes, merged.Metadata!.FeaturedAt));
        // A featuring on another day without a time is that day's.
        var otherDay = PaperMerge.Merge(held, repoll with { Metadata = repoll.Metadata with { FeaturedOn = new DateOnly(2024, 10, 30) } });
        Assert.Equal((new DateOnly(2024, 10, 30), (DateTimeOffset?)null), (otherDay.Metadata!.FeaturedOn, otherDay.Metadata.FeaturedAt));
    }

    [Fact]
    public void A_paper_only_hugging_face_knows_keeps_its_featuring_time_through_a_re_poll_without_it()
    {
        var hfOnly = FromHuggingFace with { Id = "hf:only-on-hf", Version = 1 };
        var repoll = hfOnly with { Upvotes = 95, Metadata = hfOnly.Metadata! with { FeaturedAt = null } };

        var merged = PaperMerge.Merge(hfOnly, repoll);

        Assert.Equal((95, hfOnly.Metadata.FeaturedAt), (merged.Upvotes, merged.Metadata!.FeaturedAt));
    }

    [Fact]
    public void An_arxiv_update_keeps_a_featuring_known_by_its_time_alone()
    {
        var featured = FromArxiv with { Metadata = FromArxiv.Metadata! with { FeaturedAt = new DateTimeOffset(2024, 10, 23, 1, 2, 3, TimeSpan.Zero) } };

        var merged = PaperMerge.Merge(featured, FromArxiv with { Version = 2, Title = "Breaking the Memory Barrier, revised" });

        Assert.Equal(new DateTimeOffset(2024, 10, 23, 1, 2, 3, TimeSpan.Zero), merged.Metadata!.FeaturedAt);
    }

    [Fact]
    public void The_same_hugging_face_numbers_again_change_nothing()
    {
        var held = PaperMerge.Merge(FromArxiv, FromHuggingFace);
        var again = PaperMerge.Merge(held, FromHuggingFace);

        Assert.Equal((IntakeOutcome.Duplicate, false, (string?)null), IntakeDecision.Decide(Stored(held), again, PaperFingerprint.Record(again)));
    }

    [Fact]
    public void More_upvotes_on_hugging_face_update_the_paper_without_changing_its_embedded_text()
    {
        var held = PaperMerge.Merge(FromArxiv, FromHuggingFace);
        var more = PaperMerge.Merge(held, FromHuggingFace with { Upvotes = 120 });

        Assert.Equal(IntakeOutcome.Updated, IntakeDecision.Decide(Stored(held), more, PaperFingerprint.Record(more)).Outcome);
        Assert.Equal(PaperFingerprint.Content(held), PaperFingerprint.Content(more));
    }

    [Fact]
    public void A_new_version_updates_the_paper_and_keeps_its_first_publication_date()
    {
        var v2 = FromArxiv with { Version = 2, Abstract = "Revised.", PublishedAt = Published.AddDays(30) };
        var merged = PaperMerge.Merge(FromArxiv, v2);

        Assert.Equal((2, "Revised.", Published), (merged.Version, merged.Abstract, merged.PublishedAt));
        Assert.Equal((IntakeOutcome.Updated, true, (string?)null), IntakeDecision.Decide(Stored(FromArxiv), merged, PaperFingerprint.Record(merged)));
    }

    [Fact]
    public void An_older_version_arriving_after_a_newer_one_does_not_overwrite_it()
    {
        var v3 = FromArxiv with { Version = 3, Abstract = "Third version." };
        var v2 = PaperMerge.Merge(v3, FromArxiv with { Version = 2, Abstract = "Second version." });

        var (outcome, publish, reason) = IntakeDecision.Decide(Stored(v3), v2, PaperFingerprint.Record(v2));

        Assert.Equal((IntakeOutcome.Duplicate, false), (outcome, publish));
        Assert.Contains("older than the stored version 3", reason);
    }

    [Fact]
    public void The_same_version_from_the_thinner_listing_fills_gaps_instead_of_erasing_them()
    {
        var fromListing = FromArxiv with { Source = "arxiv-rss", Metadata = null, PublishedAt = Published.AddDays(1) };
        var merged = PaperMerge.Merge(FromArxiv, fromListing);

        Assert.Equal(FromArxiv.Metadata, merged.Metadata);
        Assert.Equal(Published, merged.PublishedAt);
    }

    [Fact]
    public void A_replacement_of_a_paper_never_held_is_skipped_and_never_announced_as_new()
    {
        var (outcome, publish, _) = IntakeDecision.Decide(null, FromArxiv, PaperFingerprint.Record(FromArxiv), onlyIfKnown: true);
        Assert.Equal((IntakeOutcome.Skipped, false), (outcome, publish));
    }

    [Fact]
    public void A_replacement_of_a_paper_held_is_an_update()
    {
        var v2 = FromArxiv with { Version = 2, Abstract = "Revised." };
        Assert.Equal(IntakeOutcome.Updated, IntakeDecision.Decide(Stored(FromArxiv), v2, PaperFingerprint.Record(v2), onlyIfKnown: true).Outcome);
    }
}

/// <summary>
/// A record's fingerprint decides whether a paper seen again is news: it must not change when the
/// record's type gains a field, or every paper held would be announced again after an upgrade.
/// </summary>
public class PaperFingerprintStability
{
    [Fact]
    public void Records_held_before_the_featured_time_existed_keep_their_fingerprints()
    {
        var arxiv = new PaperSummary("2410.17243", 1, "Breaking the Memory Barrier", "The arXiv abstract.", ["Ada Lovelace"], ["cs.CV"], new DateTimeOffset(2024, 10, 22, 17, 59, 59, TimeSpan.Zero), "https://arxiv.org/abs/2410.17243", "arxiv-api", 0)
        {
            Metadata = new PaperMetadata(PrimaryCategory: "cs.CV", Doi: "10.1/x"),
        };
        var featured = arxiv with { Upvotes = 88, Metadata = new PaperMetadata(Comments: 4, GithubStars: 123, FeaturedOn: new DateOnly(2024, 10, 23)) };

        // The values ingest computed for these records before PaperMetadata.FeaturedAt was added (29 Nov 2026).
        Assert.Equal("c968380945125b732e9aa1c8195fd560f0185ca62e9043dac1ae1e0688308c0f", PaperFingerprint.Record(arxiv));
        Assert.Equal("97c2c68b35981157e8ac72340a36cd4ed9a5e5a4aefd7bbcec9739dd417eeee8", PaperFingerprint.Record(featured));
    }
}
