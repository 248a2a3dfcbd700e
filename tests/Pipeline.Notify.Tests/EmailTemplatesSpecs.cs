using MimeKit;
using Pipeline.Contracts.Messages;
using Pipeline.Notify.Templates;

namespace Pipeline.Notify.Tests;

public class EmailTemplatesSpecs
{
    private static readonly PaperSummary Paper = new(
        "2410.17243", 1, "<script>alert('x')</script> & diffusion", "An abstract with <b>markup</b>.",
        ["Ada Lovelace", "Alan Turing", "Grace Hopper", "Edsger Dijkstra"], ["cs.LG"], null, "https://arxiv.org/abs/2410.17243", "api", 0);

    private static MimeMessage Alert() => EmailTemplates.InstantAlert(
        new MailboxAddress("Papers", "papers@example.org"), "ada@example.org", Paper, "matches your interest 'diffusion' (similarity 0.71)",
        new Uri("http://127.0.0.1:5204/unsubscribe?token=abc"), new Uri("http://127.0.0.1:5204/preferences?token=def"), "alert.s1.2410.17243@example.org");

    [Fact]
    public void An_alert_has_a_plain_text_and_an_html_part()
    {
        var message = Alert();
        Assert.Contains("2410.17243", message.TextBody);
        Assert.Contains("https://arxiv.org/abs/2410.17243", message.HtmlBody);
        Assert.Contains("matches your interest 'diffusion'", message.TextBody);
    }

    [Fact]
    public void Markup_from_a_paper_is_escaped_in_the_html_part()
    {
        var html = Alert().HtmlBody;
        Assert.DoesNotContain("<script>", html);
        Assert.DoesNotContain("<b>markup</b>", html);
        Assert.Contains("&lt;script&gt;", html);
    }

    [Fact]
    public void An_alert_links_to_the_subscribers_preferences_in_both_parts()
    {
        // An instant subscriber gets no digest: the alert is where they find how to change what they get.
        var message = Alert();

        Assert.Contains("Change what you get: http://127.0.0.1:5204/preferences?token=def", message.TextBody);
        Assert.Contains("href=\"http://127.0.0.1:5204/preferences?token=def\"", message.HtmlBody);
    }

    [Fact]
    public void Both_parts_of_an_alert_link_the_abstract_and_the_pdf()
    {
        var message = Alert();

        Assert.Contains("href=\"https://arxiv.org/pdf/2410.17243\"", message.HtmlBody);
        Assert.Contains("Abstract: https://arxiv.org/abs/2410.17243", message.TextBody);
        Assert.Contains("PDF: https://arxiv.org/pdf/2410.17243", message.TextBody);
    }

    [Fact]
    public void An_alert_offers_one_click_unsubscribe()
    {
        var message = Alert();
        Assert.Equal("<http://127.0.0.1:5204/unsubscribe?token=abc>", message.Headers["List-Unsubscribe"]);
        Assert.Equal("List-Unsubscribe=One-Click", message.Headers["List-Unsubscribe-Post"]);
    }

    [Fact]
    public void The_message_id_is_the_one_given_so_a_resend_is_the_same_message()
    {
        Assert.Equal("alert.s1.2410.17243@example.org", Alert().MessageId);
    }

    [Fact]
    public void Long_author_lists_are_shortened()
    {
        Assert.Equal("Ada Lovelace, Alan Turing, Grace Hopper et al.", EmailTemplates.ShortAuthors(Paper.Authors));
    }
}
