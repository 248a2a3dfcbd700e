using Pipeline.Contracts.Messages;
using Pipeline.Rank.Ranking;

namespace Pipeline.Rank.Tests;

/// <summary>
/// Papers write one person's name many ways ("Grace Hopper", "Grace M. Hopper", "G. Hopper",
/// "Hopper, Grace", with or without accents). A subscriber who follows a name is alerted to, and
/// has lifted in Recommend, every paper that writes the same author another of these ways, and not
/// the papers of another person who shares the surname.
/// </summary>
public class When_an_author_is_followed_by_name
{
    private static readonly float[] InterestVector = PaperIndexSpecs.Unit((0, 1));
    private static readonly float[] FarPaper = PaperIndexSpecs.Unit((1, 1));
    private static readonly DateTimeOffset Now = new(2026, 11, 27, 12, 0, 0, TimeSpan.Zero);

    [Theory]
    [InlineData("Grace Hopper", "Grace Hopper")]
    [InlineData("Grace Hopper", "grace HOPPER")]
    [InlineData("Grace Hopper", "Grace M. Hopper")]
    [InlineData("Grace Hopper", "Grace Murray Hopper")]
    [InlineData("Grace Hopper", "G. Hopper")]
    [InlineData("Grace Hopper", "G. M. Hopper")]
    [InlineData("Grace Hopper", "Hopper, Grace")]
    [InlineData("Grace Hopper", "Hopper, G. M.")]
    [InlineData("Grace Hopper", "Grace Hopper, Jr.")]
    [InlineData("Grace Hopper", "Grace Hopper III")]
    [InlineData("Grace Hopper", "  Grace   Hopper ")]
    [InlineData("G. Hopper", "George Hopper")]
    [InlineData("Hopper", "Grace Hopper")]
    [InlineData("Bernhard Schölkopf", "Bernhard Scholkopf")]
    [InlineData("B. Schölkopf", "Bernhard Schölkopf")]
    [InlineData("Bernhard Scho\u0308lkopf", "Bernhard Schölkopf")]
    [InlineData("Thi Nguyễn", "Thi Nguyen")]
    [InlineData("Florian Kroiß", "Florian Kroiss")]
    [InlineData("Cæcilie Sørensen", "Caecilie Sorensen")]
    [InlineData("Łukasz Kaiser", "Lukasz Kaiser")]
    [InlineData("Jean-Pierre Serre", "J.-P. Serre")]
    [InlineData("Ludwig van Beethoven", "L. van Beethoven")]
    [InlineData("Ludwig van Beethoven", "van Beethoven, Ludwig")]
    [InlineData("Shane O'Neill", "Shane ONeill")]
    public void Two_ways_of_writing_one_author_are_the_same_author(string followed, string written)
    {
        Assert.True(AuthorName.Same(followed, written));
        Assert.True(AuthorName.Same(written, followed));
    }

    [Theory]
    [InlineData("Grace Hopper", "George Hopper")]
    [InlineData("Grace Hopper", "Grace Hooper")]
    [InlineData("Grace Hopper", "Hopper Grace")]
    [InlineData("Grace Hopper", "Dennis Hopper")]
    [InlineData("Grace Hopper", "Grace Hopperton")]
    [InlineData("Grace Hopper", "Grace")]
    [InlineData("Grace Hopper", "")]
    [InlineData("Grace Hopper", "...")]
    [InlineData("G. Hopper", "H. Hopper")]
    public void Different_authors_are_not_confused(string followed, string written)
    {
        Assert.False(AuthorName.Same(followed, written));
        Assert.False(AuthorName.Same(written, followed));
    }

    [Fact]
    public void Parsing_without_allocating_finds_what_splitting_into_words_finds_for_any_name()
    {
        // Names of random words: letters, accents, ß, suffixes, initials, punctuation, separators, commas.
        string[] parts = ["Grace", "hopper", "G.", "M", "jr", "Jr.", "III", "iv", "Schölkopf", "Kroiß", "Nguyễn", "O'Neill", "van", "de",
            "-", ".", " ", "  ", ",", ", ", "Æsir", "…", "&", "12", "J.-P.", "Łukasz", "SR", "ii", "x", "Ω"];
        var random = new Random(27);
        Span<char> buffer = stackalloc char[512];
        for (var i = 0; i < 20_000; i++)
        {
            var name = string.Join(random.Next(4) == 0 ? "" : " ", Enumerable.Range(0, random.Next(0, 7)).Select(_ => parts[random.Next(parts.Length)]));
            var parsed = AuthorName.Parse(name);
            Assert.Equal(SplitIntoWords(name), parsed);
            Assert.Equal(parsed.IsEmpty ? "" : parsed.Surname, new string(buffer[..AuthorName.SurnameOf(name, buffer)]));
        }
    }

    /// <summary>The first version of the parser (lists of folded words), kept as the rule's plain statement.</summary>
    private static AuthorName SplitIntoWords(string written)
    {
        string[] suffixes = ["jr", "sr", "ii", "iii", "iv"];
        static string Fold(string word)
        {
            var folded = new System.Text.StringBuilder();
            foreach (var c in word)
            {
                // the same letters as the service folds: checked through Parse of a one-word name
                var single = AuthorName.Parse(c.ToString());
                folded.Append(single.IsEmpty ? "" : single.Surname);
            }

            return folded.ToString();
        }

        static List<string> Words(string text) =>
            text.Split([' ', '.', '-', '\u2010', '\u2011', '\t'], StringSplitOptions.RemoveEmptyEntries).Select(Fold).Where(w => w.Length > 0).ToList();

        if (string.IsNullOrWhiteSpace(written))
        {
            return default;
        }

        var comma = written.IndexOf(',');
        var after = comma >= 0 ? Words(written[(comma + 1)..]) : [];
        var inverted = comma >= 0 && !(after.Count > 0 && after.TrueForAll(w => suffixes.Contains(w)));
        var words = inverted ? after : Words(comma >= 0 ? written[..comma] : written);
        var surnameWords = inverted ? Words(written[..comma]) : words;
        while (surnameWords.Count > 1 && suffixes.Contains(surnameWords[^1]))
        {
            surnameWords.RemoveAt(surnameWords.Count - 1);
        }

        if (surnameWords.Count == 0)
        {
            return default;
        }

        var surname = surnameWords[^1];
        if (!inverted)
        {
            words.RemoveAt(words.Count - 1);
        }

        return new AuthorName(surname, words.Count > 0 ? words[0] : "");
    }

    private static PaperSummary Paper(params string[] authors) =>
        new("2501.00009", 1, "Tax registers of medieval towns", "We transcribe what merchants paid.", authors, [], null, "https://arxiv.org/abs/2501.00009", "api", 0);

    private static InstantMatcher Follow(params (string Subscriber, string[] Authors)[] follows)
    {
        var profiles = new ProfileIndex();
        profiles.UpsertMany(follows.Select(f => new SubscriberProfile(f.Subscriber, ["protein folding"], [InterestVector], "instant", 0.5, DateTimeOffset.UnixEpoch)).ToArray());
        var feedback = new Feedback();
        foreach (var (subscriber, authors) in follows)
        {
            feedback.SetPreferences(subscriber, new ProfilePreferences([], authors, []));
        }

        return new InstantMatcher(profiles, null, null, feedback);
    }

    [Fact]
    public void A_paper_writing_a_followed_author_another_way_alerts_and_the_reason_names_them_as_the_paper_does()
    {
        var matcher = Follow(("ada", ["Grace Hopper"]), ("bob", ["G. Hopper"]), ("cy", ["Dennis Hopper"]));

        var byInitial = matcher.Match(FarPaper, Paper("Barbara Tuchman", "Hopper, G. M."));
        Assert.Equal(["ada", "bob"], byInitial.Select(m => m.Profile.SubscriberId).Order(StringComparer.Ordinal));
        Assert.All(byInitial, m => Assert.Equal("by Hopper, G. M., whom you follow", m.Reason));

        var byGeorge = matcher.Match(FarPaper, Paper("George Hopper"));
        Assert.Equal("bob", Assert.Single(byGeorge).Profile.SubscriberId);

        var byDennis = matcher.Match(FarPaper, Paper("Dennis Hopper"));
        Assert.Equal("cy", Assert.Single(byDennis).Profile.SubscriberId);
    }

    [Fact]
    public void Following_two_people_of_one_surname_alerts_for_both_and_unfollowing_one_keeps_the_other()
    {
        var profiles = new ProfileIndex();
        profiles.UpsertMany([new SubscriberProfile("ada", ["protein folding"], [InterestVector], "instant", 0.5, DateTimeOffset.UnixEpoch)]);
        var feedback = new Feedback();
        var matcher = new InstantMatcher(profiles, null, null, feedback);

        feedback.SetPreferences("ada", new ProfilePreferences([], ["Grace Hopper", "Dennis Hopper"], []));
        Assert.Single(matcher.Match(FarPaper, Paper("Grace Hopper")));
        Assert.Single(matcher.Match(FarPaper, Paper("D. Hopper")));

        feedback.SetPreferences("ada", new ProfilePreferences([], ["Dennis Hopper"], []));
        Assert.Empty(matcher.Match(FarPaper, Paper("Grace Hopper")));
        Assert.Single(matcher.Match(FarPaper, Paper("Dennis Hopper")));

        feedback.Forget("ada");
        Assert.Empty(matcher.Match(FarPaper, Paper("Dennis Hopper")));
    }

    [Fact]
    public void Recommend_lifts_a_paper_by_a_followed_author_written_another_way_and_not_a_namesake()
    {
        // each paper on its own axis, so diversification keeps all three
        static RecommendationCandidate Candidate(string id, int axis, double relevance, params string[] authors) =>
            new(new IndexedPaper(new PaperSummary(id, 1, "T " + id, "A", authors, ["cs.LG"], Now.AddDays(-1), "", "api", 0), Now),
                PaperIndexSpecs.Unit((axis, 1)), relevance, $"matches your interest 'x' ({relevance:F2})", 0);

        var chosen = Recommender.Choose(
            [Candidate("plain", 0, 0.6), Candidate("namesake", 1, 0.58, "George Hopper"), Candidate("by-grace", 2, 0.55, "Ada Lovelace", "Hopper, Grace M.")],
            new ProfilePreferences([], ["Grace Hopper"], []), Now, 3);

        Assert.Equal(["by-grace", "plain", "namesake"], chosen.Select(c => c.Paper.Paper.Id));
        Assert.Contains("by Hopper, Grace M., whom you follow", chosen[0].Reason);
        Assert.DoesNotContain("whom you follow", chosen[2].Reason);
    }
}
