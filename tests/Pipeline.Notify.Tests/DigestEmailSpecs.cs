using MimeKit;
using Pipeline.Notify.Delivery;
using Pipeline.Notify.Templates;

namespace Pipeline.Notify.Tests;

public class DigestEmailSpecs
{
    private static readonly MailboxAddress From = new("Papers", "papers@example.org");

    private static MimeMessage Email(Digest digest) => EmailTemplates.Digest(From, "ada@example.org", digest, DigestSamples.Unsubscribe, DigestSamples.Preferences,
        EmailTemplates.DigestMessageId("sub-1", digest.Period.Id, "example.org"));

    [Fact]
    public void A_digest_has_a_card_per_paper_with_title_authors_categories_links_excerpt_and_reason()
    {
        var message = Email(DigestSamples.Digest(papers: 2, trending: 0));
        var html = message.HtmlBody!;
        Assert.Equal(3, html.Split("class=\"card\"").Length - 1);
        Assert.Contains("Consistency models for fast diffusion sampling, part 1", html);
        Assert.Contains("Ada Lovelace, Alan Turing, Grace Hopper et al.", html);
        Assert.Contains(">cs.LG<", html);
        Assert.Contains("href=\"https://arxiv.org/abs/2411.10001\"", html);
        Assert.Contains("href=\"https://arxiv.org/pdf/2411.10001\"", html);
        Assert.Contains("matches your interest &#x27;diffusion models&#x27;", html);
        Assert.Contains("We distil a diffusion model", html);
        Assert.Contains("PDF: https://arxiv.org/pdf/2411.10001", message.TextBody);
        Assert.Contains("Why: matches your interest 'diffusion models'", message.TextBody);
    }

    [Fact]
    public void Papers_keep_the_order_rank_chose_them_in_and_the_email_says_it_is_most_relevant_first()
    {
        // Rank's Recommend lists the most relevant first (mixed for diversity); the digest must not re-sort it.
        var papers = new[] { DigestSamples.Paper(3), DigestSamples.Paper(1), DigestSamples.Paper(2) };
        var digest = DigestComposer.Compose("sub-1", DigestSamples.Period, "daily", ["diffusion models"], 10, papers, [], new HashSet<string>());
        var text = Email(digest).TextBody!;

        var positions = papers.Select(p => text.IndexOf(p.Title, StringComparison.Ordinal)).ToArray();
        Assert.All(positions, p => Assert.True(p >= 0));
        Assert.Equal(positions.Order(), positions);
        Assert.Contains("the most relevant first", text);
    }

    [Fact]
    public void Markup_from_a_paper_is_escaped_in_the_digest()
    {
        var html = Email(DigestSamples.Digest()).HtmlBody;
        Assert.DoesNotContain("<script>", html);
        Assert.Contains("&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;", html);
    }

    [Fact]
    public void A_link_that_is_not_http_never_reaches_the_email()
    {
        var evil = DigestSamples.Paper(1) with { Id = "custom:evil", Url = "javascript:alert(1)" };
        var digest = DigestComposer.Compose("sub-1", DigestSamples.Period, "daily", ["x"], 10, [evil], [], new HashSet<string>());
        Assert.DoesNotContain("javascript:", Email(digest).HtmlBody);
    }

    [Fact]
    public void The_subject_says_how_many_papers_on_what_and_names_the_top_one()
    {
        Assert.Equal("6 new papers on diffusion models and protein folding: Consistency models for fast diffusion sampling, part 1",
            Email(DigestSamples.Digest()).Subject);
        var one = DigestComposer.Compose("sub-1", DigestSamples.Period, "weekly", ["a", "b", "c", "d"], 10, [DigestSamples.Paper(1)], [], new HashSet<string>());
        Assert.StartsWith("1 new paper on a, b and 2 more: ", one.Subject);
    }

    [Fact]
    public void The_heading_names_an_interest_whole_even_with_a_colon_in_it()
    {
        var digest = DigestComposer.Compose("sub-1", DigestSamples.Period, "daily", ["NLP: machine translation"], 10, [DigestSamples.Paper(1)], [], new HashSet<string>());
        var message = Email(digest);

        Assert.Contains(">1 new paper on NLP: machine translation</h1>", message.HtmlBody);
        Assert.StartsWith("1 new paper on NLP: machine translation\n", message.TextBody!.ReplaceLineEndings("\n"));
    }

    [Fact]
    public void The_trending_section_gives_authors_and_the_pdf_in_both_parts()
    {
        var message = Email(DigestSamples.Digest(papers: 1, trending: 1));
        var text = message.TextBody!;
        var trending = text[text.IndexOf("Trending today:", StringComparison.Ordinal)..];

        Assert.Contains("Ada Lovelace, Alan Turing, Grace Hopper et al.", trending);
        Assert.Contains("PDF: https://arxiv.org/pdf/2411.10100", trending);
        Assert.Contains("href=\"https://arxiv.org/pdf/2411.10100\"", message.HtmlBody);
    }

    [Theory]
    [InlineData(220)]
    [InlineData(80)]
    public void An_excerpt_of_text_without_spaces_is_cut_at_the_limit_not_at_an_early_space(int max)
    {
        // Chinese is written without spaces: the only space is right after the first words.
        var chinese = "本文 " + string.Concat(Enumerable.Repeat("提出了一种基于扩散模型的蛋白质结构预测方法并在多个基准上取得了领先结果", 12));

        var excerpt = DigestComposer.Excerpt(chinese, max);

        Assert.Equal(max, excerpt.Length);
        Assert.EndsWith("…", excerpt);
        Assert.StartsWith(chinese[..(max - 1)], excerpt);
    }

    [Fact]
    public void An_excerpt_never_splits_a_character_outside_the_basic_plane_and_keeps_word_boundaries_in_latin_text()
    {
        var math = string.Concat(Enumerable.Repeat("𝔽", 50)); // each one a surrogate pair
        foreach (var max in new[] { 10, 11 })
        {
            var excerpt = DigestComposer.Excerpt(math, max);
            var kept = excerpt[..^1];
            Assert.True(excerpt.Length <= max);
            Assert.True(kept.Length % 2 == 0 && char.IsLowSurrogate(kept[^1]), $"the cut fell inside a pair: {excerpt}");
        }

        Assert.Equal("We distil a diffusion model into a…", DigestComposer.Excerpt("We distil a diffusion model into a consistency model", 35));
    }

    [Fact]
    public void An_empty_digest_says_there_is_nothing_new()
    {
        var empty = DigestComposer.Compose("sub-1", DigestSamples.Period, "weekly", ["diffusion models"], 10, [], [DigestSamples.Paper(5)], new HashSet<string>());
        Assert.True(empty.IsEmpty);
        Assert.Empty(empty.Trending);
        Assert.Equal("No new papers on diffusion models this week", Email(empty).Subject);
    }

    [Fact]
    public void The_message_id_depends_only_on_subscriber_and_period()
    {
        var first = Email(DigestSamples.Digest(papers: 2)).MessageId;
        var second = Email(DigestSamples.Digest(papers: 4)).MessageId;
        Assert.Equal("digest.sub-1.2026-11-26@example.org", first);
        Assert.Equal(first, second);
        Assert.NotEqual(first, EmailTemplates.DigestMessageId("sub-2", "2026-11-26", "example.org"));
        Assert.NotEqual(first, EmailTemplates.DigestMessageId("sub-1", "2026-11-27", "example.org"));
    }

    [Fact]
    public void A_digest_offers_one_click_unsubscribe_and_a_preferences_link()
    {
        var message = Email(DigestSamples.Digest());
        Assert.Equal($"<{DigestSamples.Unsubscribe}>", message.Headers["List-Unsubscribe"]);
        Assert.Equal("List-Unsubscribe=One-Click", message.Headers["List-Unsubscribe-Post"]);
        Assert.Contains(DigestSamples.Preferences.ToString(), message.TextBody);
        Assert.Contains("href=\"http://127.0.0.1:5204/preferences?token=p\"", message.HtmlBody);
    }

    [Fact]
    public void Papers_sent_before_are_left_out_and_trending_repeats_nothing()
    {
        var digest = DigestComposer.Compose("sub-1", DigestSamples.Period, "daily", ["x"], 2,
            [DigestSamples.Paper(1), DigestSamples.Paper(2), DigestSamples.Paper(3), DigestSamples.Paper(4)],
            [DigestSamples.Paper(2), DigestSamples.Paper(3), DigestSamples.Paper(7)],
            new HashSet<string> { DigestSamples.Paper(1).Id });
        Assert.Equal([DigestSamples.Paper(2).Id, DigestSamples.Paper(3).Id], digest.Papers.Select(p => p.Id));
        Assert.Equal([DigestSamples.Paper(7).Id], digest.Trending.Select(p => p.Id));
    }
}
