using Pipeline.Contracts.Messages;
using Pipeline.Embed.Consumers;

namespace Pipeline.Embed.Tests;

/// <summary>
/// A PaperIngested that names no paper is refused as malformed (ArgumentException, which the bus
/// sends to the error queue without retries), not as a NullReferenceException retried five times.
/// </summary>
public sealed class When_a_paper_message_is_malformed
{
    private static PaperSummary Paper(string id) =>
        new(id, 1, "A title", "An abstract.", ["Ada Lovelace"], ["cs.LG"], DateTimeOffset.UtcNow, "https://arxiv.org/abs/2611.00001", "arxiv", 0);

    [Fact]
    public void A_message_without_a_paper_is_refused_as_malformed()
    {
        var e = Assert.Throws<ArgumentException>(() => PaperIngestedConsumer.Validate(new PaperIngested(null!, "hash", false, DateTimeOffset.UtcNow)));
        Assert.Contains("without a paper", e.Message);
    }

    [Theory]
    [InlineData("")]
    [InlineData("  ")]
    public void A_paper_without_an_id_is_refused_as_malformed(string id)
    {
        Assert.Throws<ArgumentException>(() => PaperIngestedConsumer.Validate(new PaperIngested(Paper(id), "hash", false, DateTimeOffset.UtcNow)));
    }

    [Fact]
    public void A_whole_paper_passes()
    {
        PaperIngestedConsumer.Validate(new PaperIngested(Paper("2611.00001"), "hash", false, DateTimeOffset.UtcNow));
    }
}
