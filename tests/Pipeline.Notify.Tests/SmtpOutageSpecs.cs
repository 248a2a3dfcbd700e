using Pipeline.Notify.Delivery;

namespace Pipeline.Notify.Tests;

public class SmtpOutageSpecs
{
    private static readonly DateTimeOffset Start = new(2026, 11, 27, 6, 0, 0, TimeSpan.Zero);

    [Fact]
    public void A_failed_attempt_begins_an_outage_that_an_answer_ends()
    {
        var clock = new ManualClock(Start);
        var outage = new SmtpOutage(clock);
        Assert.Null(outage.Ongoing());

        outage.Failed("The SMTP server is unreachable: Connection refused");
        clock.Now += TimeSpan.FromSeconds(10);
        outage.Failed("The SMTP server did not answer in time");
        Assert.Equal((Start, "The SMTP server did not answer in time"), outage.Ongoing());

        outage.Answered();
        Assert.Null(outage.Ongoing());
        clock.Now += TimeSpan.FromSeconds(5);
        outage.Failed("421 try again later");
        Assert.Equal((Start.AddSeconds(15), "421 try again later"), outage.Ongoing());
    }
}
