using Pipeline.Contracts.Messages;
using Pipeline.Ingest.Papers;
using Pipeline.Ingest.Storage;

namespace Pipeline.Ingest.Tests;

public class IntakeDecisionSpecs
{
    private static readonly PaperSummary Paper = new("2410.17243", 1, "A title", "An abstract", ["Ada"], ["cs.LG"], null, "https://arxiv.org/abs/2410.17243", "api", 3);

    private static StoredPaper Stored(PaperSummary paper, bool published) =>
        new(paper, PaperFingerprint.Content(paper), PaperFingerprint.Record(paper), DateTimeOffset.UnixEpoch, published);

    [Fact]
    public void An_unknown_paper_is_accepted_and_published()
    {
        Assert.Equal((IntakeOutcome.Accepted, true), IntakeDecision.Decide(null, PaperFingerprint.Record(Paper)));
    }

    [Fact]
    public void The_same_content_again_is_a_duplicate_and_publishes_nothing()
    {
        Assert.Equal((IntakeOutcome.Duplicate, false), IntakeDecision.Decide(Stored(Paper, published: true), PaperFingerprint.Record(Paper)));
    }

    [Fact]
    public void Changed_content_is_an_update_and_is_published()
    {
        var revised = Paper with { Version = 2, Abstract = "A revised abstract" };
        Assert.Equal((IntakeOutcome.Updated, true), IntakeDecision.Decide(Stored(Paper, published: true), PaperFingerprint.Record(revised)));
    }

    [Fact]
    public void A_paper_whose_event_never_went_out_is_published_again()
    {
        Assert.Equal((IntakeOutcome.Accepted, true), IntakeDecision.Decide(Stored(Paper, published: false), PaperFingerprint.Record(Paper)));
    }

    [Fact]
    public void More_upvotes_change_the_record_but_not_the_embedded_content()
    {
        var upvoted = Paper with { Upvotes = 40 };
        Assert.NotEqual(PaperFingerprint.Record(Paper), PaperFingerprint.Record(upvoted));
        Assert.Equal(PaperFingerprint.Content(Paper), PaperFingerprint.Content(upvoted));
    }

    [Fact]
    public void Moving_text_between_title_and_abstract_changes_the_content_hash()
    {
        var a = Paper with { Title = "ab", Abstract = "c" };
        var b = Paper with { Title = "a", Abstract = "bc" };
        Assert.NotEqual(PaperFingerprint.Content(a), PaperFingerprint.Content(b));
    }
}
