using System.Diagnostics;
using System.Text.Json;
using System.Text.RegularExpressions;
using Pipeline.Notify.Templates;
using Xunit.Abstractions;

namespace Pipeline.Notify.Tests;

/// <summary>
/// Renders a digest in a real browser (headless Chromium, Debian's <c>chromium</c>) at 600 px, the
/// width mail clients give a message, and measures the layout from inside the page.
/// </summary>
public partial class DigestBrowserRenderingSpecs(ITestOutputHelper output)
{
    // Runs in the page: every card's box, and whether anything is wider than the window.
    private const string Probe = """
        <script>
        (function () {
          var cards = Array.prototype.map.call(document.querySelectorAll('.card'), function (c) {
            var r = c.getBoundingClientRect(), s = getComputedStyle(c);
            return { id: c.getAttribute('data-paper'), left: r.left, right: r.right, width: r.width, height: r.height,
                     shown: s.display !== 'none' && s.visibility !== 'hidden', contentWidth: c.scrollWidth, boxWidth: c.clientWidth };
          });
          var out = document.createElement('pre');
          out.id = 'layout-result';
          out.textContent = JSON.stringify({ viewport: window.innerWidth, scrollWidth: document.documentElement.scrollWidth, cards: cards });
          document.body.appendChild(out);
        })();
        </script>
        """;

    [Fact]
    public async Task Every_card_of_a_digest_is_visible_and_nothing_overflows_at_600_pixels()
    {
        var chromium = FindChromium();
        if (chromium is null)
        {
            // test.sh installs chromium, so CI must have it; elsewhere a machine without it says so
            // instead of failing obscurely.
            Assert.False(Environment.GetEnvironmentVariable("CI") == "true", "CI runs test.sh, which installs chromium: it must be there.");
            output.WriteLine("SKIPPED: chromium is not installed (apt-get install chromium); the digest was not rendered in a browser.");
            return;
        }

        var digest = DigestSamples.Digest(papers: 8, trending: 3);
        var html = EmailTemplates.DigestHtml(digest, DigestSamples.Unsubscribe, DigestSamples.Preferences);
        var dir = Directory.CreateTempSubdirectory("digest-render-");
        try
        {
            using var layout = await LayoutOfAsync(chromium, dir.FullName, html);
            var root = layout.RootElement;

            Assert.Equal(600, root.GetProperty("viewport").GetInt32());
            Assert.True(root.GetProperty("scrollWidth").GetInt32() <= 600, $"the page is wider than 600 px: {root.GetProperty("scrollWidth")}");
            var cards = root.GetProperty("cards").EnumerateArray().ToArray();
            Assert.Equal(digest.Papers.Count + digest.Trending.Count, cards.Length);
            Assert.All(cards, card =>
            {
                var id = card.GetProperty("id").GetString();
                Assert.True(card.GetProperty("shown").GetBoolean(), $"card {id} is hidden");
                Assert.True(card.GetProperty("height").GetDouble() > 20 && card.GetProperty("width").GetDouble() > 300, $"card {id} is collapsed: {card}");
                Assert.True(card.GetProperty("left").GetDouble() >= 0 && card.GetProperty("right").GetDouble() <= 600, $"card {id} leaves the window: {card}");
                Assert.True(card.GetProperty("contentWidth").GetInt32() <= card.GetProperty("boxWidth").GetInt32(), $"card {id} overflows its box: {card}");
            });

            // The picture a person checks (docs/digest-600px.png is one of these).
            var screenshot = Path.Combine(Path.GetTempPath(), "digest-600px.png");
            await RunChromiumAsync(chromium, dir.FullName, $"--screenshot={screenshot}", new Uri(Path.Combine(dir.FullName, "plain.html")).AbsoluteUri, html);
            Assert.True(new FileInfo(screenshot).Length > 1000, "chromium wrote no screenshot");
            output.WriteLine($"screenshot: {screenshot}");
        }
        finally
        {
            dir.Delete(recursive: true);
        }
    }

    [Fact]
    public async Task An_alert_with_a_long_unbroken_title_and_url_fits_600_pixels()
    {
        var chromium = FindChromium();
        if (chromium is null)
        {
            Assert.False(Environment.GetEnvironmentVariable("CI") == "true", "CI runs test.sh, which installs chromium: it must be there.");
            output.WriteLine("SKIPPED: chromium is not installed (apt-get install chromium); the alert was not rendered in a browser.");
            return;
        }

        // TeX that TexMath leaves as written, and a URL: neither has a place to break a line.
        var title = "$\\mathrm{Cu}_{2}\\mathrm{ZnSnS}_{4}\\hbox{-}\\mathrm{Cu}_{2}\\mathrm{ZnSnSe}_{4}\\hbox{-}\\mathrm{heterojunctions}$ " +
            "https://example.org/" + new string('x', 120);
        var paper = new Pipeline.Contracts.Messages.PaperSummary("2411.20001", 1, title, "An abstract.", ["Ada Lovelace"], ["cs.LG"], null,
            "https://arxiv.org/abs/2411.20001", "api", 0);
        var html = EmailTemplates.InstantAlert(new MimeKit.MailboxAddress("Papers", "papers@example.org"), "ada@example.org", paper, "by an author you follow",
            DigestSamples.Unsubscribe, DigestSamples.Preferences, "alert.s1.2411.20001@example.org").HtmlBody!;
        var dir = Directory.CreateTempSubdirectory("alert-render-");
        try
        {
            using var layout = await LayoutOfAsync(chromium, dir.FullName, html);

            Assert.True(layout.RootElement.GetProperty("scrollWidth").GetInt32() <= 600, $"the alert is wider than 600 px: {layout.RootElement}");
        }
        finally
        {
            dir.Delete(recursive: true);
        }
    }

    /// <summary>Renders <paramref name="html"/> at 600 px with <see cref="Probe"/> and answers what the page reported of its layout.</summary>
    private async Task<JsonDocument> LayoutOfAsync(string chromium, string workDir, string html)
    {
        var page = Path.Combine(workDir, "measured.html");
        await File.WriteAllTextAsync(page, html.Replace("</body>", Probe + "</body>", StringComparison.Ordinal));

        var dom = await RunChromiumAsync(chromium, workDir, "--dump-dom", new Uri(page).AbsoluteUri);
        var json = ResultPattern().Match(dom);
        Assert.True(json.Success, $"the page did not report its layout:\n{dom[..Math.Min(dom.Length, 2000)]}");
        var layout = JsonDocument.Parse(System.Net.WebUtility.HtmlDecode(json.Groups[1].Value));
        output.WriteLine(layout.RootElement.ToString());
        return layout;
    }

    private static string? FindChromium() =>
        new[] { "/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome" }.FirstOrDefault(File.Exists);

    private static async Task<string> RunChromiumAsync(string chromium, string workDir, string action, string url, string? writeFirst = null)
    {
        if (writeFirst is not null)
        {
            await File.WriteAllTextAsync(new Uri(url).LocalPath, writeFirst);
        }

        var profile = Directory.CreateTempSubdirectory("chromium-profile-");
        var start = new ProcessStartInfo(chromium)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            WorkingDirectory = workDir,
        };
        foreach (var argument in new[]
                 {
                     "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
                     "--disable-component-update", "--disable-sync", "--hide-scrollbars", $"--user-data-dir={profile.FullName}", "--window-size=600,2000",
                     action, url,
                 })
        {
            start.ArgumentList.Add(argument);
        }

        using var process = Process.Start(start)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        try
        {
            await process.WaitForExitAsync(timeout.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"chromium did not finish in 60 s: {await stderr}");
        }
        finally
        {
            try
            {
                profile.Delete(recursive: true);
            }
            catch (IOException)
            {
                // Chromium's helpers may still hold a file for a moment; the temp directory is cleaned by the system.
            }
        }

        Assert.True(process.ExitCode == 0, $"chromium exited with {process.ExitCode}: {await stderr}");
        return await stdout;
    }

    [GeneratedRegex("<pre id=\"layout-result\">(.*?)</pre>", RegexOptions.Singleline)]
    private static partial Regex ResultPattern();
}
