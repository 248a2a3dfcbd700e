using Pipeline.Rank.Ranking;
using Pipeline.Rank.Ranking.Relevance;
using static Pipeline.Rank.Tests.Relevance.TestPapers;

namespace Pipeline.Rank.Tests.Relevance;

/// <summary>
/// A term on an eighth of the papers or more is also kept as a column, a byte a paper, and a search
/// reads it there instead of its posting list (<see cref="LexicalIndex.ReadColumns"/>). A user sees
/// the same answer either way, to the bit: these compare it with the lists alone, on corpora where
/// a few words are in most papers, also after papers are replaced and the index compacted.
/// </summary>
public sealed class When_common_terms_are_read_as_columns
{
    private static readonly string[] Common = ["model", "learning", "network", "results", "method"];

    /// <summary>
    /// Papers whose common words are each in 40–90 % of them, with a few rare words each
    /// (Zipf-like), published a minute apart; a count that is not a multiple of 16, so the last
    /// slots are read one by one.
    /// </summary>
    private static IndexedPaper[] Corpus(int papers, int seed, string prefix = "p")
    {
        var random = new Random(seed);
        var rare = Enumerable.Range(0, 3_000).Select(i => $"topic{i}word").ToArray();
        return Enumerable.Range(0, papers).Select(i =>
        {
            var words = Common.Where((_, c) => random.NextDouble() < 0.4 + (0.12 * c))
                .Concat(Enumerable.Range(0, 3 + random.Next(6)).Select(_ => rare[(int)(rare.Length * Math.Pow(random.NextDouble(), 2))]))
                .OrderBy(_ => random.Next())
                .ToArray();
            var title = string.Join(' ', words.Take(4));
            var @abstract = string.Join(' ', words.Concat(words.Where(_ => random.Next(3) == 0)).Concat(Enumerable.Repeat("filler", random.Next(20))));
            return At(i, $"{prefix}{i}", title, @abstract);
        }).ToArray();
    }

    private static IndexedPaper At(int minute, string id, string title, string @abstract)
    {
        var paper = Paper(id, title, @abstract);
        return paper with { Paper = paper.Paper with { PublishedAt = DateTimeOffset.UnixEpoch.AddMinutes(minute) } };
    }

    private static readonly Lazy<LexicalIndex> Shared = new(() =>
    {
        var index = new LexicalIndex();
        foreach (var paper in Corpus(12_007, seed: 11))
        {
            index.Add(paper);
        }

        return index;
    });

    private static IReadOnlyList<IReadOnlyList<string>> Queries(params string[] texts) =>
        texts.Select(t => (IReadOnlyList<string>)RelevanceRanker.TermsOf(t)).ToArray();

    /// <summary>The answer read with columns and read from the lists alone.</summary>
    private static (LexicalMatch[] Columns, LexicalMatch[] Lists) Both(
        LexicalIndex index, IReadOnlyList<IReadOnlyList<string>> queries, int limit, Func<IndexedPaper, bool>? include = null, DateTimeOffset? since = null)
    {
        lock (index)
        {
            index.ReadColumns = false;
            var lists = index.Search(queries, limit, include, since).ToArray();
            index.ReadColumns = true;
            return (index.Search(queries, limit, include, since).ToArray(), lists);
        }
    }

    private static void AssertSame(LexicalMatch[] columns, LexicalMatch[] lists)
    {
        // Same papers in the same order, same best query, and the same score to the bit.
        Assert.Equal(lists.Select(m => (m.Paper.Paper.Id, m.BestQuery, m.Score)), columns.Select(m => (m.Paper.Paper.Id, m.BestQuery, m.Score)));
    }

    [Theory]
    [InlineData(1)]
    [InlineData(10)]
    [InlineData(100)]
    [InlineData(20_000)] // more than match: every paper with any of the words, in order
    public void Queries_of_common_words_only_get_the_same_answer(int limit)
    {
        var index = Shared.Value;
        var before = index.ColumnSearches;
        Func<IndexedPaper, bool> odd = p => p.Paper.Id[^1] % 2 == 1;
        foreach (var text in new[] { "model", "results", "learning network", "method model results", "network networks" })
        {
            foreach (var filter in new[] { null, odd })
            {
                var (columns, lists) = Both(index, Queries(text), limit, filter);
                Assert.Equal(Math.Min(limit, lists.Length), columns.Length);
                Assert.NotEmpty(columns);
                AssertSame(columns, lists);
                Assert.All(columns, m => Assert.True(filter is null || filter(m.Paper)));
            }
        }

        // Several interests of common words: each paper's best query, over all of them.
        var (several, severalLists) = Both(index, Queries("model", "learning results", "method network"), limit);
        AssertSame(several, severalLists);

        // The columns were read (else this compared the lists with themselves).
        Assert.True(index.ColumnSearches - before >= 11, $"{index.ColumnSearches - before} searches read columns");
    }

    [Fact]
    public void Queries_of_common_and_rare_words_get_the_same_answer()
    {
        var index = Shared.Value;
        var (prunedBefore, columnsBefore) = (index.PrunedQueries, index.ColumnSearches);
        for (var q = 0; q < 30; q++)
        {
            // The rare words reach enough papers to rule the rest out (common words looked up at
            // the slots they reached), or too few (every posting read, the common ones as columns).
            var rare = q % 3 == 2 ? $"topic{2_990 + (q % 10)}word" : $"topic{(q * 7) % 200}word";
            var text = $"{Common[q % Common.Length]} {rare} {Common[(q + 2) % Common.Length]}";
            var (columns, lists) = Both(index, Queries(text), 50);
            AssertSame(columns, lists);

            var (several, severalLists) = Both(index, Queries(text, $"topic{(q * 13) % 900}word results", "learning"), 40, p => p.Paper.Id.Length % 2 == 0);
            AssertSame(several, severalLists);
        }

        Assert.True(index.PrunedQueries > prunedBefore, "no query looked the common words up at the rare words' papers");
        Assert.True(index.ColumnSearches > columnsBefore, "no query read every posting with a column");
    }

    [Theory]
    [InlineData(null, "model")] // every posting read, the answer from all slots
    [InlineData(null, "model topic7word network")] // pruned: the floor among the rare words' papers, then the top
    [InlineData(null, "model topic7word network", "topic21word results", "learning")] // several interests, then the answer
    [InlineData(300, "learning results", "method topic9word")] // a digest's window
    public void A_filter_is_asked_about_each_paper_once_a_search(int? minutes, params string[] texts)
    {
        // A subscriber's history is a lookup by id a paper; a search meets the same papers in
        // several passes and asks about each one once, whatever the filter answers.
        var index = Shared.Value;
        var since = minutes is { } m ? DateTimeOffset.UnixEpoch.AddMinutes(12_007 - m) : (DateTimeOffset?)null;
        var asked = new Dictionary<string, int>(StringComparer.Ordinal);
        Func<IndexedPaper, bool> counted = p =>
        {
            asked[p.Paper.Id] = asked.GetValueOrDefault(p.Paper.Id) + 1;
            return p.Paper.Id.Length % 2 == 0;
        };

        LexicalMatch[] answer;
        lock (index)
        {
            answer = [.. index.Search(Queries(texts), 40, counted, since)];
        }

        var plain = index.Search(Queries(texts), 40, p => p.Paper.Id.Length % 2 == 0, since);
        Assert.Equal(40, answer.Length);
        Assert.Equal(plain.Select(x => (x.Paper.Paper.Id, x.Score)), answer.Select(x => (x.Paper.Paper.Id, x.Score)));
        Assert.NotEmpty(asked);
        Assert.All(asked, pair => Assert.True(pair.Value == 1, $"{pair.Key} asked about {pair.Value} times"));

        // The next search asks again: what a filter answered is not kept from one search to the next.
        asked.Clear();
        lock (index)
        {
            _ = index.Search(Queries(texts), 40, counted, since);
        }

        Assert.NotEmpty(asked);
    }

    [Theory]
    [InlineData(9_000)] // most of the index: read from the lists and the columns, within the window
    [InlineData(3_000)]
    [InlineData(300)] // a digest's window: its papers' own terms with lists alone, the columns with them
    public void A_window_keeps_to_its_papers_when_columns_are_read(int minutes)
    {
        var index = Shared.Value;
        var since = DateTimeOffset.UnixEpoch.AddMinutes(12_007 - minutes);
        var (columnsBefore, windowBefore) = (index.ColumnSearches, index.WindowSearches);
        foreach (var text in new[] { "model", "learning results", "method network model" })
        {
            var (columns, lists) = Both(index, Queries(text), 100, since: since);
            var filtered = index.Search(Queries(text), 100, p => p.SeenAt >= since);

            Assert.Equal(100, columns.Length);
            AssertSame(columns, lists);
            Assert.All(columns, m => Assert.True(m.Paper.SeenAt >= since, $"{m.Paper.Paper.Id} is before the window"));
            Assert.Equal(filtered.Select(m => m.Paper.Paper.Id), columns.Select(m => m.Paper.Paper.Id));
        }

        // Every search with columns read them (three in the window, three with the time as a
        // filter). A short window is cheaper to score from its own papers than a whole list, not
        // than a column (a step per 16 papers): with lists alone its three searches took the
        // window's papers instead.
        Assert.Equal(6, index.ColumnSearches - columnsBefore);
        Assert.Equal(minutes <= 300 ? 3 : 0, index.WindowSearches - windowBefore);
    }

    [Fact]
    public void Columns_follow_papers_as_they_are_added_replaced_and_compacted()
    {
        // Papers arrive one by one: a word's column is made once it is common and grows with the
        // index; a replaced paper leaves its words' columns, and compaction renumbers them all.
        var index = new LexicalIndex();
        var papers = Corpus(6_003, seed: 5);
        foreach (var paper in papers)
        {
            index.Add(paper);
        }

        void AssertAnswersAgree(string when)
        {
            foreach (var text in new[] { "model", "method results", "network learning model" })
            {
                var (columns, lists) = Both(index, Queries(text), 10_000);
                Assert.True(columns.Length > 0, when);
                AssertSame(columns, lists);
            }
        }

        AssertAnswersAgree("after the load");

        // A third of the papers rewritten without the common words: a search for one of them must
        // not find those papers any more, nor their old text.
        var rewritten = papers.Where((_, i) => i % 3 == 0).Select(p => p.Paper.Id).ToHashSet();
        var minute = 6_003;
        foreach (var id in rewritten)
        {
            index.Add(At(minute++, id, $"rewritten {id}", "nothing common here"));
        }

        foreach (var word in Common)
        {
            var found = Both(index, Queries(word), 10_000).Columns;
            Assert.NotEmpty(found);
            Assert.DoesNotContain(found, m => rewritten.Contains(m.Paper.Paper.Id));
        }

        AssertAnswersAgree("after the rewrites");

        // One paper's score (what explains a paper the other side found) reads the columns too.
        var query = Queries("model results", "learning");
        foreach (var id in papers.Take(300).Select(p => p.Paper.Id))
        {
            index.ReadColumns = false;
            var fromLists = index.Score(query, id);
            index.ReadColumns = true;
            Assert.Equal(fromLists, index.Score(query, id));
            if (rewritten.Contains(id))
            {
                Assert.Equal(0, fromLists.Score);
            }
        }

        Assert.True(papers.Take(300).Count(p => index.Score(query, p.Paper.Id).Score > 0) > 100);

        // Every paper replaced by a newer version with the common words back, and some twice: dead
        // slots outnumber live ones and the index compacts.
        var compactions = index.Compactions;
        var newer = Corpus(6_003, seed: 6);
        foreach (var paper in newer.Concat(newer.Take(2_000).Select(p => p with { Paper = p.Paper with { Title = p.Paper.Title + " again" } })))
        {
            index.Add(At(minute++, paper.Paper.Id, paper.Paper.Title, paper.Paper.Abstract));
        }

        Assert.True(index.Compactions > compactions, "the index did not compact");
        Assert.Equal(6_003, index.Count);
        AssertAnswersAgree("after compaction");

        // The answers are the papers' newest texts: a paper found for "model" has it now.
        var model = Both(index, Queries("model"), 10_000).Columns;
        var current = newer.ToDictionary(p => p.Paper.Id);
        Assert.All(model, m => Assert.Contains("model", current[m.Paper.Paper.Id].Paper.Abstract, StringComparison.Ordinal));
        Assert.Equal(current.Values.Count(p => p.Paper.Abstract.Contains("model", StringComparison.Ordinal) || p.Paper.Title.Contains("model", StringComparison.Ordinal)), model.Length);
    }
}
