using System.Xml;
using System.Xml.Linq;
using MimeKit;
using Pipeline.Contracts.Messages;
using Pipeline.Notify.Delivery;
using Pipeline.Notify.Templates;

namespace Pipeline.Notify.Tests;

/// <summary>
/// Inline TeX math in titles and abstracts is written in Unicode in emails, where no renderer runs;
/// what is not surely math, or not understood, stays exactly as written.
/// </summary>
public sealed class When_a_title_or_abstract_holds_tex_math
{
    [Theory]
    [InlineData(@"A bound of $\tilde{O}(\varepsilon^{-3})$ queries", "A bound of O\u0303(ε⁻³) queries")]
    [InlineData(@"for all $0 \le \alpha, \beta \le 1/4$", "for all 0 ≤ α, β ≤ 1/4")]
    [InlineData(@"maps $g\colon\mathbb R^d\to\mathbb R$ and $\mathbb{N}$", "maps g: ℝᵈ → ℝ and ℕ")]
    [InlineData(@"the $\ell_1$ and $\ell_\infty$ norms", "the ℓ₁ and ℓ_∞ norms")]
    [InlineData(@"in $O(m\log(1/\delta))$ time", "in O(m log(1/δ)) time")]
    [InlineData(@"with $Y \sim \mathcal{N}(\mathbf{\mu}, \Sigma)$", "with Y ∼ N(μ, Σ)")]
    [InlineData(@"labels $\{1, \dots, m\}$", "labels {1, …, m}")]
    [InlineData(@"error $\sqrt{\log n}$ and $\frac{1}{2}$ and $\frac{a+b}{c}$", "error √(log n) and 1/2 and (a+b)/c")]
    [InlineData(@"a $\hat{y}$ and $\bar x$", "a y\u0302 and x\u0304")]
    [InlineData(@"rate $x^{n+1}$ and $x_{ij}$ and $x^{f}$", "rate xⁿ⁺¹ and xᵢⱼ and x^f")]
    [InlineData(@"$25\%$ fewer, $k$-means", "25% fewer, k-means")]
    [InlineData(@"the step $-\eta \nabla g(\mathbf{w})$ and $\alpha x$", "the step -η∇g(w) and αx")]
    [InlineData(@"$\left(\frac{n}{k}\right)$", "(n/k)")]
    [InlineData(@"$\text{acc}_{top}$ and $\text{acc}_{best}$", "accₜₒₚ and acc_(best)")]
    public void What_it_can_write_in_unicode_is_written_so(string tex, string unicode) =>
        Assert.Equal(unicode, TexMath.ToUnicode(tex));

    [Theory]
    // Money, by pandoc's rule: a closing dollar followed by a digit, or an opening one followed by a space.
    [InlineData("It cost $20 to build and $35 to run.")]
    [InlineData("Budgets of $ 5 and $ 7.")]
    // Commands it does not know, display math, an escaped dollar, an unclosed one, alignment.
    [InlineData(@"the $\mathfrak{g}$-module")]
    [InlineData(@"$$\sum_i x_i$$ in display")]
    [InlineData(@"a price of \$5 and \$6")]
    [InlineData(@"a lone $\alpha without its end")]
    [InlineData(@"$a & b$")]
    [InlineData("No math at all, 100% plain.")]
    [InlineData("")]
    public void What_is_not_surely_math_or_not_understood_stays_as_written(string text) =>
        Assert.Equal(text, TexMath.ToUnicode(text));

    [Fact]
    public void Hostile_text_is_returned_whole_without_deep_recursion_or_quadratic_work()
    {
        // 200,000 characters of unclosed groups and dollars, and spans nested almost as deep as a span may be long (300).
        var unclosed = string.Concat(Enumerable.Repeat(@"$\frac{{{{\sqrt{", 12_500));
        var nested = "$" + new string('{', 140) + "x" + new string('}', 140) + "$ ";
        var deep = string.Concat(Enumerable.Repeat(nested, 600));

        Assert.Equal(unclosed, TexMath.ToUnicode(unclosed));
        Assert.Equal(string.Concat(Enumerable.Repeat("x ", 600)), TexMath.ToUnicode(deep));
    }

    [Fact]
    public void Money_before_math_does_not_hide_the_math_after_it() =>
        Assert.Equal("A $5 kit measures α and β.", TexMath.ToUnicode(@"A $5 kit measures $\alpha$ and $\beta$."));

    [Fact]
    public void A_digest_and_an_alert_show_the_math_in_unicode()
    {
        var paper = DigestSamples.Paper(42, @"Sampling in $\tilde{O}(d^{2})$ steps") with { Abstract = @"We sample from $\pi \propto e^{-x}$ quickly." };
        var digest = DigestComposer.Compose("sub-1", DigestSamples.Period, "daily", ["sampling"], 10, [paper], [], new HashSet<string>());
        var from = new MailboxAddress("Papers", "papers@example.org");

        var message = EmailTemplates.Digest(from, "ada@example.org", digest, DigestSamples.Unsubscribe, DigestSamples.Preferences, "m@example.org");

        const string title = "Sampling in O\u0303(d²) steps";
        Assert.EndsWith(title, message.Subject);
        Assert.Contains(title, message.TextBody);
        Assert.Contains("We sample from π ∝ e⁻ˣ quickly.", message.TextBody);
        Assert.Contains(title, System.Net.WebUtility.HtmlDecode(message.HtmlBody));
        Assert.DoesNotContain("tilde", message.HtmlBody);

        var summary = new PaperSummary(paper.Id, 1, paper.Title, paper.Abstract, paper.Authors, paper.Categories, paper.PublishedAt, paper.Url, "arxiv-api", 0);
        var alert = EmailTemplates.InstantAlert(from, "ada@example.org", summary, "by you", DigestSamples.Unsubscribe, DigestSamples.Preferences, "a@example.org");
        Assert.Equal("New paper: " + title, alert.Subject);
        Assert.Contains("We sample from π ∝ e⁻ˣ quickly.", alert.TextBody);
    }

    [SharedDataFact]
    public void Every_math_span_of_the_real_arxiv_response_is_written_in_unicode_or_left_whole()
    {
        var settings = new XmlReaderSettings { DtdProcessing = DtdProcessing.Prohibit, XmlResolver = null };
        using var reader = XmlReader.Create(SharedData.PathOf("arxiv-api/query-testing-start0-max100.xml"), settings);
        XNamespace atom = "http://www.w3.org/2005/Atom";
        var texts = XDocument.Load(reader).Descendants(atom + "entry")
            .SelectMany(e => new[] { (string?)e.Element(atom + "title"), (string?)e.Element(atom + "summary") })
            .OfType<string>().ToArray();
        var withMath = texts.Where(t => t.Contains('$')).ToArray();
        Assert.NotEmpty(withMath);

        var written = 0;
        foreach (var text in withMath)
        {
            var unicode = TexMath.ToUnicode(text);
            // A span is written whole (no command left of it) or not at all (its dollars still there).
            foreach (var left in unicode.Split('$').Where((_, i) => i % 2 == 1))
            {
                Assert.False(left.Length > 0 && left.Trim().Length == 0, left);
            }

            written += text.Count(c => c == '$') - unicode.Count(c => c == '$');
        }

        // Most spans of real abstracts are understood (each written span removes two dollars).
        var spans = withMath.Sum(t => t.Count(c => c == '$')) / 2;
        Assert.True(written / 2 >= spans * 3 / 4, $"{written / 2} of {spans} spans written");
    }
}
