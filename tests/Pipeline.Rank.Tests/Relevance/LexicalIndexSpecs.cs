using Pipeline.Rank.Ranking.Relevance;
using Xunit.Abstractions;
using static Pipeline.Rank.Tests.Relevance.TestPapers;

namespace Pipeline.Rank.Tests.Relevance;

public sealed class LexicalIndexSpecs(ITestOutputHelper output)
{
    private static LexicalIndex IndexOf(params Pipeline.Rank.Ranking.IndexedPaper[] papers)
    {
        var index = new LexicalIndex();
        foreach (var paper in papers)
        {
            index.Add(paper);
        }

        return index;
    }

    private static string[] Ids(IReadOnlyList<LexicalMatch> matches) => matches.Select(m => m.Paper.Paper.Id).ToArray();

    [Fact]
    public void A_rare_term_weighs_more_than_a_common_one()
    {
        var index = IndexOf(
            Paper("common", "Testing web services", "We study testing of services."),
            Paper("rare", "Fuzzing web services", "We study fuzzing of services."),
            Paper("a", "Testing compilers"), Paper("b", "Testing games"), Paper("c", "Testing databases"));

        var top = index.Search(Query("testing fuzzing"), 10);

        Assert.Equal("rare", top[0].Paper.Paper.Id);
        Assert.True(top[0].Score > top[1].Score);
    }

    [Fact]
    public void A_match_in_the_title_beats_a_match_only_in_the_abstract()
    {
        var index = IndexOf(
            Paper("abstract", "Notes on software", "A short remark about mutation of programs and faults."),
            Paper("title", "Mutation analysis", "A short remark about programs and faults in software."));

        Assert.Equal(["title", "abstract"], Ids(index.Search(Query("mutation"), 10)));
    }

    [Fact]
    public void Adding_a_known_id_again_replaces_its_text()
    {
        var index = IndexOf(Paper("x", "Alpha particles"), Paper("y", "Gamma rays"));
        index.Add(Paper("x", "Beta decay"));

        Assert.Equal(2, index.Count);
        Assert.Empty(index.Search(Query("alpha"), 10));
        Assert.Equal(["x"], Ids(index.Search(Query("beta"), 10)));
    }

    [Fact]
    public void The_index_keeps_no_abstracts_but_knows_where_each_word_occurs()
    {
        var index = IndexOf(Paper("x", "Mutation testing", "We mutate programs and measure test suites."));

        var match = index.Search(Query("suites"), 10).Single();

        Assert.Equal("", match.Paper.Paper.Abstract);
        Assert.Equal(
            [(true, false), (false, true), (true, true), (false, false)],
            index.Places("x", RelevanceRanker.TermsOf("mutation suites test unknownword")));
        Assert.Equal([(false, false)], index.Places("nobody", ["mutation"]));
    }

    [Fact]
    public void The_same_text_again_keeps_the_entry_and_changed_text_retires_the_old_words()
    {
        var index = IndexOf(Paper("x", "Alpha particles", "Decay of nuclei."), Paper("y", "Alpha rays"));
        var before = index.Search(Query("alpha"), 10);

        index.Add(Paper("x", "Alpha particles", "Decay of nuclei.") with { IngestedAt = DateTimeOffset.UnixEpoch.AddDays(1) });
        var same = index.Search(Query("alpha"), 10);
        Assert.Equal(before.Select(m => m.Score), same.Select(m => m.Score));
        Assert.Equal(DateTimeOffset.UnixEpoch.AddDays(1), same.Single(m => m.Paper.Paper.Id == "x").Paper.IngestedAt);

        // New content, ingested later (content ingested earlier than what is indexed is refused: an old redelivery).
        index.Add(Paper("x", "Alpha particles", "Fission of nuclei.") with { IngestedAt = DateTimeOffset.UnixEpoch.AddDays(2) });
        Assert.Empty(index.Search(Query("decay"), 10));
        Assert.Equal(["x"], Ids(index.Search(Query("fission"), 10)));
        Assert.Equal(2, index.Count);
    }

    [Fact]
    public void Many_replacements_compact_the_index_without_losing_papers()
    {
        var index = IndexOf(Paper("stays", "Gravitation experiments"));
        for (var i = 0; i < 3000; i++)
        {
            index.Add(Paper("changes", $"Revision r{i} of a paper"));
        }

        Assert.Equal(2, index.Count);
        Assert.Equal(["changes"], Ids(index.Search(Query("r2999"), 10)));
        Assert.Empty(index.Search(Query("r17"), 10));
        Assert.Equal(["stays"], Ids(index.Search(Query("gravitation"), 10)));
        Assert.True(index.Score(Query("gravitation"), "stays").Score > 0);
    }

    [Fact]
    public void Stopwords_in_a_query_change_nothing()
    {
        var index = IndexOf(Paper("a", "The theory of fuzzing"), Paper("b", "Fuzzing and testing for the web"));

        Assert.Empty(index.Search(Query("the of and for"), 10));
        Assert.Equal(index.Search(Query("fuzzing"), 10), index.Search(Query("the fuzzing of"), 10));
    }

    [Theory]
    [InlineData("")]
    [InlineData("???")]
    [InlineData("zzzunknownterm")]
    [InlineData("\u0000 \uD800")]
    public void Empty_or_unmatched_queries_find_nothing_and_do_not_throw(string text)
    {
        var index = IndexOf(Paper("a", "Fuzzing"));
        Assert.Empty(index.Search(Query(text), 10));
        Assert.Empty(new LexicalIndex().Search(Query("fuzzing"), 10));
        Assert.Empty(index.Search([], 10));
        Assert.Empty(index.Search(Query("fuzzing"), 0));
    }

    [Fact]
    public void Scores_lie_between_0_and_1_and_a_full_match_scores_higher_than_a_partial_one()
    {
        var index = IndexOf(Paper("full", "Metamorphic testing of classifiers"), Paper("half", "Metamorphic relations"), Paper("other", "Something else"));

        var top = index.Search(Query("metamorphic testing"), 10);

        Assert.Equal(["full", "half"], Ids(top));
        Assert.All(top, m => Assert.InRange(m.Score, 0, 1));
        Assert.Equal(top[0].Score, index.Score(Query("metamorphic testing"), "full").Score, 5);
    }

    [Fact]
    public void Each_paper_scores_by_its_best_query()
    {
        var index = IndexOf(Paper("fuzz", "Fuzzing"), Paper("grav", "Gravitation"));

        var top = index.Search(Query("fuzzing", "gravitation"), 10);

        Assert.Equal(0, top.Single(m => m.Paper.Paper.Id == "fuzz").BestQuery);
        Assert.Equal(1, top.Single(m => m.Paper.Paper.Id == "grav").BestQuery);
    }

    [Fact]
    public void The_filter_excludes_papers_before_the_limit_is_taken()
    {
        var index = IndexOf(Paper("a", "Fuzzing fuzzing"), Paper("b", "Fuzzing"), Paper("c", "Fuzzing of things"));

        Assert.Equal(["b"], Ids(index.Search(Query("fuzzing"), 1, p => p.Paper.Id == "b")));
    }

    [Fact]
    public async Task Papers_can_be_added_while_others_search()
    {
        var index = new LexicalIndex();
        var writer = Task.Run(() =>
        {
            for (var i = 0; i < 5000; i++)
            {
                index.Add(Paper($"p{i % 1500}", $"Paper {i} about fuzzing", $"Abstract {i}"));
            }
        });
        var readers = Enumerable.Range(0, 2).Select(_ => Task.Run(() =>
        {
            while (!writer.IsCompleted)
            {
                Assert.All(index.Search(Query("fuzzing paper"), 20), m => Assert.InRange(m.Score, 0, 1));
            }
        })).ToArray();

        await Task.WhenAll([writer, .. readers]);
        Assert.Equal(1500, index.Count);
    }

    [Fact]
    public void A_search_over_20000_papers_gives_the_answer_of_scoring_every_paper_one_by_one()
    {
        // Synthetic abstracts of 120 words from a 20,000-word Zipf-like vocabulary: a mix of common
        // words (on most papers, so the search skips reading their lists) and rare ones. How long a
        // search takes is measured in the benchmarks (rank-load profile), not here.
        var random = new Random(42);
        var vocabulary = Enumerable.Range(0, 20_000).Select(i => "w" + i.ToString("x")).ToArray();
        string Words(int n) => string.Join(' ', Enumerable.Range(0, n).Select(_ => vocabulary[(int)(Math.Pow(random.NextDouble(), 3) * vocabulary.Length)]));
        var titles = Enumerable.Range(0, 2_000).Select(_ => Words(10)).ToArray();
        var abstracts = Enumerable.Range(0, 2_000).Select(_ => Words(120)).ToArray();
        var index = new LexicalIndex();
        for (var i = 0; i < 20_000; i++)
        {
            index.Add(Paper($"p{i}", $"{titles[i % titles.Length]} u{i}", abstracts[(i * 7) % abstracts.Length]));
        }

        var pruned = index.PrunedQueries;
        foreach (var query in Enumerable.Range(0, 12).Select(_ => Query(Words(3 + random.Next(6)), Words(2))))
        {
            var found = index.Search(query, 10);

            var expected = Enumerable.Range(0, 20_000).Select(i => (Id: $"p{i}", index.Score(query, $"p{i}").Score))
                .Where(p => p.Score > 0).OrderByDescending(p => p.Score).Take(10).ToArray();
            Assert.Equal(expected.Length, found.Count);
            for (var k = 0; k < found.Count; k++)
            {
                // Equal scores may come in either order; the scores themselves must agree.
                Assert.Equal(expected[k].Score, found[k].Score, 5);
                Assert.Equal(index.Score(query, found[k].Paper.Paper.Id).Score, found[k].Score, 5);
            }
        }

        Assert.True(index.PrunedQueries > pruned, "no query skipped a common word's list: the case is not exercised");
        output.WriteLine($"{index.PrunedQueries - pruned} of 12 searches skipped reading common words' lists");
    }

    [Fact]
    public void One_query_answers_as_the_same_query_among_a_subscribers_interests_does()
    {
        // A search (one query) is answered straight from its sums; several queries (a subscriber's
        // interests) keep each paper's best score first. The same query must give the same papers,
        // scores and order either way: ties (the same text under many ids) and the filter included.
        var (index, words) = Timed(6_000);
        for (var i = 0; i < 40; i++)
        {
            index.Add(At(6_000 + i, $"twin{i}", "w0 w1 w2", "w3 w4 w5"));
        }

        Func<Pipeline.Rank.Ranking.IndexedPaper, bool> odd = p => p.Paper.Id.Length % 2 == 1;
        foreach (var text in Enumerable.Range(0, 20).Select(_ => words()).Append("w0 w1 w2").Append("w0").Append("w1 w5"))
        {
            foreach (var filter in new[] { null, odd })
            {
                var alone = index.Search(Query(text), 25, filter);
                var amongOthers = index.Search(Query(text, "nowhere to be found"), 25, filter);

                Assert.NotEmpty(alone);
                Assert.Equal(amongOthers.Select(m => (m.Paper.Paper.Id, m.Score, m.BestQuery)), alone.Select(m => (m.Paper.Paper.Id, m.Score, m.BestQuery)));
            }
        }
    }

    [Theory]
    [InlineData(1)]
    [InlineData(7)]
    [InlineData(60)]
    public void Several_queries_answer_with_each_papers_best_query_as_if_every_reached_paper_were_offered(int limit)
    {
        // Only each query's own best `limit` are offered to the answer; the answer must be the one
        // that offering every paper each query reaches gives: the same papers, scores, best queries
        // and order, ties (the same text under many ids, ordered by arrival) and the filter included.
        var (index, words) = Timed(3_000);
        for (var i = 0; i < 30; i++)
        {
            index.Add(At(3_000 + i, $"twin{i}", "w0 w1 w2", "w3 w4 w5"));
        }

        // The reference sums every list in full, in the same order, so the scores agree to the bit.
        index.PruneCommonTerms = false;
        var arrival = Enumerable.Range(0, 3_000).Select(i => $"p{i}").Concat(Enumerable.Range(0, 30).Select(i => $"twin{i}"))
            .Select((id, at) => (id, at)).ToDictionary(p => p.id, p => p.at);
        Func<Pipeline.Rank.Ranking.IndexedPaper, bool> odd = p => p.Paper.Id.Length % 2 == 1;
        var random = new Random(5);
        for (var trial = 0; trial < 15; trial++)
        {
            var texts = Enumerable.Range(0, 2 + random.Next(4)).Select(_ => words()).ToList();
            if (trial % 3 == 0)
            {
                texts.Insert(random.Next(texts.Count + 1), "w0 w1 w2 w3");
            }

            var queries = Query([.. texts]);
            foreach (var filter in new[] { null, odd })
            {
                var found = index.Search(queries, limit, filter);

                var best = new Dictionary<string, (double Score, int Query)>();
                for (var q = 0; q < queries.Count; q++)
                {
                    foreach (var m in index.Search([queries[q]], 100_000, filter))
                    {
                        if (!best.TryGetValue(m.Paper.Paper.Id, out var kept) || m.Score > kept.Score)
                        {
                            best[m.Paper.Paper.Id] = (m.Score, q);
                        }
                    }
                }

                var expected = best.OrderByDescending(kv => kv.Value.Score).ThenBy(kv => arrival[kv.Key]).Take(limit)
                    .Select(kv => (kv.Key, kv.Value.Score, kv.Value.Query)).ToArray();
                Assert.NotEmpty(expected);
                Assert.Equal(expected, found.Select(m => (m.Paper.Paper.Id, m.Score, m.BestQuery)));
            }
        }
    }

    [Fact]
    public void Trimming_the_lists_after_a_load_changes_no_answer_and_papers_added_after_it_are_found()
    {
        // Lists of every length: "common" on every paper (past the length where lists grow by a quarter), "rareN" on few.
        Pipeline.Rank.Ranking.IndexedPaper Numbered(int i) => Paper($"p{i}", $"common topic{i % 37} rare{i % 500}", $"abstract words{i % 11} common");
        var trimmed = IndexOf([.. Enumerable.Range(0, 3_000).Select(Numbered)]);
        var untouched = IndexOf([.. Enumerable.Range(0, 3_000).Select(Numbered)]);
        string[] queries = ["common topic5", "rare42 words3", "topic36 common abstract", "rare499"];

        trimmed.TrimExcess();
        foreach (var query in queries)
        {
            Assert.Equal(untouched.Search(Query(query), 20).Select(m => (m.Paper.Paper.Id, m.Score)), trimmed.Search(Query(query), 20).Select(m => (m.Paper.Paper.Id, m.Score)));
        }

        foreach (var index in new[] { trimmed, untouched })
        {
            for (var i = 3_000; i < 3_600; i++)
            {
                index.Add(Numbered(i));
            }
        }

        foreach (var query in queries.Append("rare42 topic1"))
        {
            var found = trimmed.Search(Query(query), 50);
            Assert.Equal(untouched.Search(Query(query), 50).Select(m => (m.Paper.Paper.Id, m.Score)), found.Select(m => (m.Paper.Paper.Id, m.Score)));
        }

        Assert.Contains("p3042", Ids(trimmed.Search(Query("rare42"), 50)));
    }

    [Fact]
    public void Papers_that_arrive_between_searches_move_the_length_norms_as_in_an_index_built_at_once()
    {
        var first = new[] { Paper("a", "Fuzzing compilers", "Short."), Paper("b", "Compilers", "Fuzzing, briefly.") };
        var later = Enumerable.Range(0, 50).Select(i => Paper($"l{i}", $"Long paper {i}", string.Join(' ', Enumerable.Repeat("words about other things", 40)))).ToArray();
        var growing = IndexOf(first);
        var before = growing.Search(Query("fuzzing compilers"), 5);

        foreach (var paper in later)
        {
            growing.Add(paper);
        }

        var after = growing.Search(Query("fuzzing compilers"), 5);
        var atOnce = IndexOf([.. first, .. later]).Search(Query("fuzzing compilers"), 5);

        Assert.Equal(atOnce.Select(m => (m.Paper.Paper.Id, m.Score)), after.Select(m => (m.Paper.Paper.Id, m.Score)));
        // b's abstract is short against the new average, which lifts its abstract match.
        Assert.True(after.Single(m => m.Paper.Paper.Id == "b").Score > before.Single(m => m.Paper.Paper.Id == "b").Score);
    }

    [Fact]
    public void A_search_whose_filter_throws_leaves_the_next_searches_right()
    {
        var index = IndexOf(Paper("a", "Fuzzing fuzzing"), Paper("b", "Fuzzing"), Paper("c", "Property testing"));
        var expected = index.Search(Query("fuzzing testing"), 10).Select(m => (m.Paper.Paper.Id, m.Score)).ToArray();

        for (var i = 0; i < 5; i++)
        {
            Assert.Throws<InvalidOperationException>(() => index.Search(Query("fuzzing"), 10, _ => throw new InvalidOperationException("filter failed")));
            Assert.Equal(expected, index.Search(Query("fuzzing testing"), 10).Select(m => (m.Paper.Paper.Id, m.Score)));
        }
    }

    /// <summary>Paper i appeared i minutes after the epoch.</summary>
    private static Pipeline.Rank.Ranking.IndexedPaper At(int minute, string id, string title, string @abstract)
    {
        var paper = Paper(id, title, @abstract);
        return paper with { Paper = paper.Paper with { PublishedAt = DateTimeOffset.UnixEpoch.AddMinutes(minute) } };
    }

    private static (LexicalIndex Index, Func<string> Words) Timed(int papers)
    {
        var random = new Random(11);
        var vocabulary = Enumerable.Range(0, 3_000).Select(i => "w" + i.ToString("x")).ToArray();
        string Words(int n) => string.Join(' ', Enumerable.Range(0, n).Select(_ => vocabulary[(int)(Math.Pow(random.NextDouble(), 2) * vocabulary.Length)]));
        var index = new LexicalIndex();
        for (var i = 0; i < papers; i++)
        {
            index.Add(At(i, $"p{i}", Words(8), Words(60)));
        }

        return (index, () => Words(3));
    }

    [Theory]
    [InlineData(50)] // a digest's day among many: answered from the window's own papers (the common words are read as columns, so a longer window reads them)
    [InlineData(15_000)] // most of the index: answered from the posting lists
    public void A_windowed_search_answers_as_a_filter_on_the_time_would(int minutes)
    {
        var (index, words) = Timed(20_000);
        var since = DateTimeOffset.UnixEpoch.AddMinutes(20_000 - minutes);
        var windowed = index.WindowSearches;
        for (var q = 0; q < 10; q++)
        {
            var query = Query(words(), words());

            var inWindow = index.Search(query, 20, seenSince: since);
            var filtered = index.Search(query, 20, p => p.SeenAt >= since);

            Assert.NotEmpty(inWindow);
            Assert.Equal(filtered.Select(m => m.Paper.Paper.Id), inWindow.Select(m => m.Paper.Paper.Id));
            Assert.Equal(filtered.Select(m => m.BestQuery), inWindow.Select(m => m.BestQuery));
            Assert.All(filtered.Zip(inWindow), pair => Assert.Equal(pair.First.Score, pair.Second.Score, 6));
        }

        // Which way is cheaper depends on the query (a query of rare words reads short lists).
        if (minutes <= 50)
        {
            Assert.True(index.WindowSearches > windowed, "no search was answered from the window's papers");
        }
        else
        {
            Assert.Equal(windowed, index.WindowSearches);
        }
    }

    [Fact]
    public void A_windowed_search_skips_replaced_papers_and_applies_the_filter()
    {
        var index = new LexicalIndex();
        for (var i = 0; i < 2_000; i++)
        {
            index.Add(At(i, $"p{i}", $"Background paper {i}", "Nothing to see here at all."));
        }

        index.Add(At(1_990, "fresh", "Fuzzing compilers", "A fuzzer for compilers."));
        index.Add(At(1_995, "moved", "Fuzzing compilers again", "Old text."));
        index.Add(At(1_995, "moved", "Quantum chemistry", "New text, no fuzzing anywhere in the title."));
        index.Add(At(1_996, "excluded", "Fuzzing compilers too", "Another fuzzer."));
        var windowed = index.WindowSearches;

        // "paper" is on every background paper: reading its list costs more than the window's 20 papers.
        var found = Ids(index.Search(Query("fuzzing compilers paper"), 50, p => p.Paper.Id != "excluded", DateTimeOffset.UnixEpoch.AddMinutes(1_980)));

        Assert.Equal(1, index.WindowSearches - windowed);
        Assert.Equal(["fresh", "moved"], found.Take(2));
        Assert.DoesNotContain("excluded", found);
        Assert.Equal(found.Length, found.Distinct().Count());
        Assert.All(found.Skip(2), id => Assert.InRange(int.Parse(id[1..], System.Globalization.CultureInfo.InvariantCulture), 1_980, 1_999));
        Assert.Equal(20 + 2, found.Length);
    }
}
