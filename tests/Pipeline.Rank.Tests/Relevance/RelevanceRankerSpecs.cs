using Pipeline.Rank.Ranking;
using Pipeline.Rank.Ranking.Relevance;
using static Pipeline.Rank.Tests.PaperIndexSpecs;
using static Pipeline.Rank.Tests.Relevance.TestPapers;

namespace Pipeline.Rank.Tests.Relevance;

public sealed class RelevanceRankerSpecs
{
    // Axis 0 is "the query's meaning"; other axes are unrelated meanings.
    private static readonly float[] Meaning = Unit((0, 1));

    private static (PaperIndex Index, RelevanceRanker Ranker) Build(RelevanceOptions? options, params (IndexedPaper Paper, float[] Vector)[] papers)
    {
        var index = new PaperIndex();
        var ranker = new RelevanceRanker(index, options);
        foreach (var (paper, vector) in papers)
        {
            index.Upsert(paper, vector);
            ranker.Add(paper);
        }

        return (index, ranker);
    }

    private static (PaperIndex Index, RelevanceRanker Ranker) Corpus(RelevanceOptions? options = null) => Build(options,
        (Paper("both", "Fuzzing network protocols"), Unit((0, 1), (1, 0.3f))),
        (Paper("words", "Fuzzing of compilers"), Unit((0, 0.1f), (2, 1))),
        (Paper("meaning", "Random input generation for servers"), Unit((0, 1), (1, 0.5f))),
        (Paper("neither", "Gravitation experiments"), Unit((3, 1))));

    private static string[] Ids(IReadOnlyList<RelevanceHit> hits) => hits.Select(h => h.Paper.Paper.Id).ToArray();

    [Fact]
    public void An_abstract_given_as_utf8_bytes_is_indexed_as_the_same_text_given_as_a_string()
    {
        // The startup load hands the lexical index each abstract as the bytes rank's Redis holds.
        (IndexedPaper Paper, float[] Vector)[] papers =
        [
            (Paper("a", "Fuzzing network protocols", "We fuzz the naïve Übersicht parser; fuzzing finds crashes."), Unit((0, 1))),
            (Paper("b", "Compilers", "Mutation testing of compilers, with state-of-the-art fuzzing."), Unit((1, 1))),
            (Paper("c", "Bytes", "Invalid \uFFFD bytes and fuzzing"), Unit((2, 1))),
        ];
        var (_, fromStrings) = Build(null, papers);
        var index = new PaperIndex();
        var fromBytes = new RelevanceRanker(index);
        foreach (var (paper, vector) in papers)
        {
            var bytes = System.Text.Encoding.UTF8.GetBytes(paper.Paper.Abstract);
            if (paper.Paper.Id == "c")
            {
                // A malformed sequence decodes to U+FFFD, as it does into a string.
                bytes = [.. System.Text.Encoding.UTF8.GetBytes("Invalid "), 0xC3, 0x28, .. System.Text.Encoding.UTF8.GetBytes(" bytes and fuzzing")];
            }

            var withoutAbstract = paper with { Paper = paper.Paper with { Abstract = "" } };
            index.Upsert(withoutAbstract, vector);
            fromBytes.Add(withoutAbstract, bytes);
        }

        foreach (var query in new[] { "fuzzing", "naïve übersicht parser", "mutation compilers state-of-the-art", "invalid bytes", "crashes" })
        {
            var want = fromStrings.Rank([new RelevanceQuery(query, Meaning)], 10, mode: RelevanceMode.Lexical);
            var got = fromBytes.Rank([new RelevanceQuery(query, Meaning)], 10, mode: RelevanceMode.Lexical);
            Assert.NotEmpty(got);
            Assert.Equal(want.Select(h => (h.Paper.Paper.Id, h.Lexical)), got.Select(h => (h.Paper.Paper.Id, h.Lexical)));
        }

        var hit = Assert.Single(fromBytes.Rank([new RelevanceQuery("crashes", Meaning)], 10, mode: RelevanceMode.Lexical));
        Assert.Contains("abstract", fromBytes.Explain(hit, ["crashes"]));
    }

    [Fact]
    public void Papers_whose_fused_scores_tie_are_ordered_by_cosine_then_by_id()
    {
        // "near" is first by meaning and second by words, "worded" the other way round: their
        // reciprocal ranks add up to the same fused score, and the higher cosine goes first.
        var (_, ranker) = Build(null,
            (Paper("worded", "Fuzzing fuzzing fuzzing"), Unit((0, 0.6f), (1, 0.8f))),
            (Paper("near", "Fuzzing", "Servers under random input, with a long abstract about many other things."), Unit((0, 1), (2, 0.1f))));

        var hits = ranker.Rank([new RelevanceQuery("fuzzing", Meaning)], 10);

        Assert.Equal(["near", "worded"], Ids(hits));
        Assert.Equal(hits[0].Score, hits[1].Score);
        Assert.True(hits[0].Dense > hits[1].Dense);

        // The same cosine and crossed ranks: the smaller id first. Which paper the dense side puts
        // first among equal cosines depends on the order they were indexed, so both orders are
        // tried; at least one of them crosses the ranks.
        var ties = 0;
        foreach (var order in new[] { new[] { "a", "b" }, ["b", "a"] })
        {
            var papers = order.Select(id => (Paper(id, id == "a" ? "Fuzzing" : "Fuzzing fuzzing fuzzing", id == "a" ? "A long abstract about servers and many other things." : ""), Meaning)).ToArray();
            var tied = Build(null, papers).Ranker.Rank([new RelevanceQuery("fuzzing", Meaning)], 10);
            if (tied[0].Score == tied[1].Score)
            {
                Assert.Equal(["a", "b"], Ids(tied));
                ties++;
            }
            else
            {
                // Not crossed (both sides put the same paper first): nothing to break.
                Assert.True(tied[0].Score > tied[1].Score);
            }
        }

        Assert.True(ties > 0, "no order of indexing crossed the two sides' ranks");
    }

    [Theory]
    [InlineData(RelevanceFusion.ReciprocalRank)]
    [InlineData(RelevanceFusion.ScoreMix)]
    public void A_paper_both_sides_find_outranks_papers_only_one_side_finds(RelevanceFusion fusion)
    {
        var (_, ranker) = Corpus(new RelevanceOptions { Fusion = fusion });

        var hits = ranker.Rank([new RelevanceQuery("fuzzing", Meaning)], 4);

        Assert.Equal("both", hits[0].Paper.Paper.Id);
        Assert.Equal("neither", hits[^1].Paper.Paper.Id);
        Assert.All(hits, h => Assert.InRange(h.Score, 0, 1));
        Assert.True(hits[0].Score > hits[1].Score);
    }

    [Theory]
    [InlineData(RelevanceMode.Hybrid)]
    [InlineData(RelevanceMode.Dense)]
    [InlineData(RelevanceMode.Lexical)]
    public void A_window_leaves_out_papers_seen_before_it_on_both_sides(RelevanceMode mode)
    {
        static IndexedPaper At(IndexedPaper paper, int day) => paper with { IngestedAt = DateTimeOffset.UnixEpoch.AddDays(day) };
        var (_, ranker) = Build(null,
            (At(Paper("old-both", "Fuzzing network protocols"), 1), Unit((0, 1), (1, 0.3f))),
            (At(Paper("new-words", "Fuzzing of compilers"), 5), Unit((0, 0.2f), (2, 1))),
            (At(Paper("new-meaning", "Random input generation for servers"), 6), Unit((0, 1), (1, 0.5f))),
            (At(Paper("old-meaning", "Random inputs for parsers"), 2), Unit((0, 1), (1, 0.4f))));

        var all = Ids(ranker.Rank([new RelevanceQuery("fuzzing", Meaning)], 4, mode: mode));
        var recent = Ids(ranker.Rank([new RelevanceQuery("fuzzing", Meaning)], 4, mode: mode, seenSince: DateTimeOffset.UnixEpoch.AddDays(5)));

        Assert.Contains(all, id => id.StartsWith("old", StringComparison.Ordinal));
        Assert.NotEmpty(recent);
        Assert.All(recent, id => Assert.StartsWith("new", id));
        Assert.Equal(all.Where(id => id.StartsWith("new", StringComparison.Ordinal)), recent);
    }

    [Fact]
    public void Reciprocal_rank_fusion_scores_1_for_a_paper_first_on_both_sides()
    {
        var (_, ranker) = Corpus();

        var hit = ranker.Rank([new RelevanceQuery("fuzzing network", Meaning)], 1).Single();

        Assert.Equal("both", hit.Paper.Paper.Id);
        Assert.Equal(1, hit.Score, 9);
    }

    [Fact]
    public void Each_mode_ranks_by_its_own_signal()
    {
        var (_, ranker) = Corpus();
        var query = new RelevanceQuery("compilers", Meaning);

        Assert.Equal(["words"], Ids(ranker.Rank([query], 4, mode: RelevanceMode.Lexical)));
        Assert.Equal(["both", "meaning", "words", "neither"], Ids(ranker.Rank([query], 4, mode: RelevanceMode.Dense)));
        // The only paper that says "compilers" is third by meaning; fused, its exact match lifts it first.
        Assert.Equal("words", ranker.Rank([query], 4)[0].Paper.Paper.Id);
    }

    [Fact]
    public void Every_hit_carries_its_cosine_and_its_lexical_score_whichever_side_found_it()
    {
        var (_, ranker) = Corpus();

        var hits = ranker.Rank([new RelevanceQuery("fuzzing", Meaning)], 4);

        var words = hits.Single(h => h.Paper.Paper.Id == "words");
        var meaning = hits.Single(h => h.Paper.Paper.Id == "meaning");
        Assert.InRange(words.Dense, 0.05, 0.15);
        Assert.True(words.Lexical > 0);
        Assert.True(meaning.Dense > 0.8);
        Assert.Equal(0, meaning.Lexical);
        Assert.Equal(1, hits.Single(h => h.Paper.Paper.Id == "both").Dense, 1);
    }

    [Fact]
    public void With_several_interests_each_paper_names_the_one_it_matched_best()
    {
        var (_, ranker) = Build(null,
            (Paper("fuzz", "Fuzzing network protocols"), Unit((0, 1))),
            (Paper("grav", "Gravitation experiments"), Unit((1, 1))));

        var hits = ranker.Rank([new RelevanceQuery("fuzzing", Unit((0, 1))), new RelevanceQuery("gravitation", Unit((1, 1)))], 2);

        Assert.Equal(0, hits.Single(h => h.Paper.Paper.Id == "fuzz").BestQuery);
        Assert.Equal(1, hits.Single(h => h.Paper.Paper.Id == "grav").BestQuery);
    }

    [Fact]
    public void The_filter_applies_to_both_sides()
    {
        var (_, ranker) = Corpus();

        var hits = ranker.Rank([new RelevanceQuery("fuzzing", Meaning)], 4, p => p.Paper.Id != "both" && p.Paper.Id != "words");

        Assert.Equal(["meaning", "neither"], Ids(hits));
    }

    [Fact]
    public void A_reason_names_abstract_words_whichever_side_found_the_paper()
    {
        // The indexes keep papers without their abstracts; the reason still finds the abstract's words.
        var (_, ranker) = Build(null,
            (Paper("dense", "Random inputs for servers", "We study denoising of network traffic."), Unit((0, 1))),
            (Paper("other", "Gravitation experiments"), Unit((3, 1))));

        var hit = ranker.Rank([new RelevanceQuery("protocol denoising", Meaning)], 1, mode: RelevanceMode.Dense).Single();

        Assert.Equal("", hit.Paper.Paper.Abstract);
        Assert.Equal(
            "matches your search 'protocol denoising': 'denoising' in the abstract; similar in meaning (1.00)",
            ranker.Explain(hit, ["protocol denoising"], "search"));
    }

    [Fact]
    public void The_lexical_side_shares_the_vector_index_slim_copy_of_a_paper()
    {
        var (index, ranker) = Corpus();

        var hit = ranker.Rank([new RelevanceQuery("gravitation", Meaning)], 1, mode: RelevanceMode.Lexical).Single();

        Assert.Same(index.Find("neither"), hit.Paper);
    }

    [Fact]
    public void Re_adding_a_paper_replaces_its_lexical_entry()
    {
        var (index, ranker) = Corpus();
        var renamed = Paper("words", "Gravitation of compilers");
        index.Upsert(renamed, Unit((2, 1)));
        ranker.Add(renamed);

        Assert.DoesNotContain("words", Ids(ranker.Rank([new RelevanceQuery("fuzzing", Meaning)], 4, mode: RelevanceMode.Lexical)));
        Assert.Equal(["neither", "words"], Ids(ranker.Rank([new RelevanceQuery("gravitation", Meaning)], 4, mode: RelevanceMode.Lexical)).Order());
    }

    [Theory]
    [InlineData("")]
    [InlineData("   ")]
    [InlineData("the of")]
    [InlineData("!!!")]
    public void A_query_without_words_still_ranks_by_meaning(string text)
    {
        var (_, ranker) = Corpus();

        var hits = ranker.Rank([new RelevanceQuery(text, Meaning)], 2);

        Assert.Equal(["both", "meaning"], Ids(hits));
        Assert.Empty(ranker.Rank([new RelevanceQuery(text, Meaning)], 2, mode: RelevanceMode.Lexical));
    }

    [Fact]
    public void No_queries_or_no_papers_give_no_hits()
    {
        var (_, ranker) = Corpus();
        Assert.Empty(ranker.Rank([], 10));
        Assert.Empty(ranker.Rank([new RelevanceQuery("fuzzing", Meaning)], 0));
        Assert.Empty(new RelevanceRanker(new PaperIndex()).Rank([new RelevanceQuery("fuzzing", Meaning)], 10));
    }

    [Fact]
    public void A_vector_of_the_wrong_size_is_refused_with_a_clear_message()
    {
        var (_, ranker) = Corpus();
        var error = Assert.Throws<ArgumentException>(() => ranker.Rank([new RelevanceQuery("fuzzing", [1f, 0f])], 4));
        Assert.Contains("2 dimensions", error.Message);
        Assert.NotEmpty(ranker.Rank([new RelevanceQuery("fuzzing", [])], 4, mode: RelevanceMode.Lexical));
    }
}

/// <summary>
/// Recommend's candidates: fused relevance is rank-based, so the best of a day with nothing on an
/// interest ranks first whatever it is. A candidate must also be close in meaning or hold most of
/// the interest's words, so a quiet day gives a shorter list, not one of whatever shares a word.
/// </summary>
public sealed class When_recommendation_candidates_need_evidence
{
    private static readonly float[] Meaning = Unit((0, 1));

    private static string[] CandidateIds(params (IndexedPaper Paper, float[] Vector)[] papers) => CandidateIds(ProfilePreferences.None, papers);

    private static string[] CandidateIds(ProfilePreferences preferences, params (IndexedPaper Paper, float[] Vector)[] papers) =>
        Pool(preferences, papers).Select(c => c.Paper.Paper.Id).Order(StringComparer.Ordinal).ToArray();

    /// <summary>Recommend's candidates for "knowledge distillation" among the papers, indexed as rank indexes them.</summary>
    private static RecommendationCandidate[] Pool(ProfilePreferences preferences, (IndexedPaper Paper, float[] Vector)[] papers)
    {
        var index = new PaperIndex();
        var ranker = new RelevanceRanker(index);
        foreach (var (paper, vector) in papers)
        {
            index.Upsert(paper, vector);
            ranker.Add(paper);
        }

        var (pool, hits) = Recommender.Candidates(ranker, index, _ => 0, [new RelevanceQuery("knowledge distillation", Meaning)], 10,
            preferences: preferences);
        Assert.Equal(pool.Select(c => c.Paper.Ordinal).Order(), hits.Keys.Order());
        Assert.All(pool, c => Assert.Same(c.Paper, hits[c.Paper.Ordinal].Paper));
        return pool;
    }

    [Theory]
    [InlineData(0)] // no block: an array each
    [InlineData(20)] // a block for the first 20 candidates, an array each after
    [InlineData(80)] // a block for all of them, and room to spare
    public void Candidates_read_into_a_lent_block_carry_each_papers_own_vector_and_are_chosen_alike(int rows)
    {
        // 60 papers on the interest, each with a vector of its own: a row read into the wrong place
        // would give a candidate another paper's vector, and the diverse choice another answer.
        var random = new Random(5);
        var papers = Enumerable.Range(0, 60).Select(i =>
        {
            var vector = Unit((0, 1), (1 + i % 40, 0.2f + (float)random.NextDouble()), (41 + i % 7, (float)random.NextDouble()));
            return (Paper($"p{i:00}", $"Knowledge distillation, variant {i}"), vector);
        }).ToArray();
        var index = new PaperIndex();
        var ranker = new RelevanceRanker(index);
        foreach (var (paper, vector) in papers)
        {
            index.Upsert(paper, vector);
            ranker.Add(paper);
        }

        RelevanceQuery[] queries = [new("knowledge distillation", Meaning)];
        var (own, _) = Recommender.Candidates(ranker, index, _ => 0, queries, 12);
        var block = new float[rows * PaperIndex.Dimensions];
        Array.Fill(block, float.NaN); // what a block lent from a pool may hold
        var (lent, _) = Recommender.Candidates(ranker, index, _ => 0, queries, 12, vectors: rows > 0 ? block : null);

        Assert.Equal(50, lent.Length);
        Assert.Equal(own.Select(c => c.Paper.Paper.Id), lent.Select(c => c.Paper.Paper.Id));
        foreach (var candidate in lent)
        {
            index.TryGet(candidate.Paper.Paper.Id, out _, out var stored);
            Assert.Equal(stored, candidate.Vector.ToArray());
        }

        Assert.True(lent.Take(Math.Min(rows, lent.Length)).All(c => block.AsMemory().Span.Overlaps(c.Vector.Span)));
        var now = DateTimeOffset.UnixEpoch.AddDays(11);
        Assert.Equal(
            Recommender.Choose(own, ProfilePreferences.None, now, 12).Select(r => (r.Paper.Paper.Id, r.Score)),
            Recommender.Choose(lent, ProfilePreferences.None, now, 12).Select(r => (r.Paper.Paper.Id, r.Score)));
    }

    [Fact]
    public void A_paper_sharing_one_common_word_and_little_meaning_is_not_a_candidate_even_as_the_best_there_is()
    {
        // cosine 0.2, and only "knowledge" (the commoner of the two words)
        var ids = CandidateIds(
            (Paper("one-word", "Knowledge graphs for retail", "Knowledge of shops."), Unit((0, 0.2f), (1, 0.98f))),
            (Paper("knowledge-2", "Knowledge bases", "Knowledge."), Unit((2, 1))),
            (Paper("nothing", "Gravitation experiments"), Unit((3, 1))));

        Assert.Empty(ids);
    }

    [Fact]
    public void A_paper_close_in_meaning_or_holding_the_interests_words_is_a_candidate()
    {
        // "knowledge" is on many papers, "distillation" on few: the rarer word alone is most of the interest's weight
        var commonKnowledge = Enumerable.Range(0, 6).Select(i => (Paper($"k{i}", $"Knowledge topic {i}"), Unit((5 + i, 1))));
        var ids = CandidateIds([
            (Paper("close", "Teaching small networks from large ones"), Unit((0, 0.35f), (1, 0.94f))),
            (Paper("words", "Distillation of knowledge in ensembles"), Unit((2, 1))),
            (Paper("rare-word", "Self-distillation for detectors", "We study distillation."), Unit((4, 1))),
            (Paper("one-word", "Knowledge graphs for retail"), Unit((0, 0.2f), (3, 0.98f))),
            .. commonKnowledge]);

        Assert.Equal(["close", "rare-word", "words"], ids);
    }

    [Fact]
    public void A_paper_by_a_followed_author_is_a_candidate_whatever_its_evidence()
    {
        (IndexedPaper, float[])[] papers = [
            (Paper("one-word", "Knowledge graphs for retail"), Unit((0, 0.2f), (1, 0.98f))),
            (ByAuthor(Paper("by-grace", "Compilers for the UNIVAC"), "Grace M. Hopper"), Unit((2, 1))),
            (ByAuthor(Paper("by-george", "Compilers for the ENIAC"), "George Hopper"), Unit((3, 1)))];

        Assert.Equal(["by-grace"], CandidateIds(new ProfilePreferences([], ["Hopper, Grace"], []), papers));

        // Let in by the author, not by its rank among the papers: no relevance of its own.
        Assert.Equal(0, Assert.Single(Pool(new ProfilePreferences([], ["Grace Hopper"], []), papers)).Relevance);
        Assert.Empty(CandidateIds(ProfilePreferences.None, papers));
    }

    private static IndexedPaper ByAuthor(IndexedPaper paper, string author) => paper with { Paper = paper.Paper with { Authors = [author] } };

    [Fact]
    public void Past_the_limit_a_window_brings_the_newest_papers_of_followed_authors_whatever_order_they_arrived_in()
    {
        // Grace Hopper's five papers of the window arrive oldest first; only three places.
        var index = new PaperIndex();
        for (var day = 6; day <= 10; day++)
        {
            var paper = Paper($"by-grace-day-{day}", $"Compilers, part {day}") with { IngestedAt = DateTimeOffset.UnixEpoch.AddDays(day) };
            index.Upsert(paper with { Paper = paper.Paper with { Authors = ["Grace Hopper"] } }, Unit((day, 1)));
        }

        var added = Recommender.WithFollowedAuthors([], index, _ => 0, new ProfilePreferences([], ["Grace Hopper"], []), DateTimeOffset.UnixEpoch.AddDays(5), null, 3);

        Assert.Equal(["by-grace-day-10", "by-grace-day-9", "by-grace-day-8"], added.Select(c => c.Paper.Paper.Id));
    }

    [Fact]
    public void A_window_brings_every_paper_by_a_followed_author_after_the_relevant_ones_and_none_from_before_it_or_left_out()
    {
        static IndexedPaper At(IndexedPaper paper, int day, string author) =>
            paper with { Paper = paper.Paper with { Authors = [author] }, IngestedAt = DateTimeOffset.UnixEpoch.AddDays(day) };

        // A busy day: 60 papers on the interest, more than the ranking proposes (50), and Grace Hopper's on another topic.
        var index = new PaperIndex();
        var ranker = new RelevanceRanker(index);
        var onTopic = Enumerable.Range(0, 60).Select(i => (At(Paper($"on-topic-{i}", $"Knowledge distillation study {i}"), 10, "Ada Lovelace"), Unit((0, 1), (10 + i, 0.6f))));
        foreach (var (paper, vector) in onTopic.Concat(
        [
            (At(Paper("by-grace", "Compilers for the UNIVAC"), 10, "Hopper, Grace M."), Unit((2, 1))),
            (At(Paper("by-grace-old", "Subroutines"), 1, "Grace Hopper"), Unit((3, 1))),
            (At(Paper("by-grace-sent", "Debugging"), 10, "G. Hopper"), Unit((4, 1))),
            (At(Paper("by-george", "Bridges"), 10, "George Hopper"), Unit((5, 1))),
        ]))
        {
            index.Upsert(paper, vector);
            ranker.Add(paper);
        }

        var preferences = new ProfilePreferences([], ["Grace Hopper"], []);
        var since = DateTimeOffset.UnixEpoch.AddDays(5);
        Func<IndexedPaper, bool> notSent = p => p.Paper.Id != "by-grace-sent";
        var (pool, _) = Recommender.Candidates(ranker, index, _ => 0, [new RelevanceQuery("knowledge distillation", Meaning)], 10, notSent, since, preferences: preferences);
        Assert.DoesNotContain(pool, c => c.Paper.Paper.Authors[0] != "Ada Lovelace");

        var withAuthors = Recommender.WithFollowedAuthors(pool, index, _ => 0, preferences, since, notSent, 10);
        Assert.Equal(["by-grace"], withAuthors.Skip(pool.Length).Select(c => c.Paper.Paper.Id));

        // After every paper with evidence.
        var chosen = Recommender.Choose(withAuthors, preferences, DateTimeOffset.UnixEpoch.AddDays(11), 100);
        Assert.Equal("by-grace", chosen[^1].Paper.Paper.Id);
        Assert.Equal("by Hopper, Grace M., whom you follow", chosen[^1].Reason);

        // In a digest of ten on this busy day it takes the tenth relevant paper's place, last.
        var digest = Recommender.Choose(withAuthors, preferences, DateTimeOffset.UnixEpoch.AddDays(11), 10);
        Assert.Equal(10, digest.Count);
        Assert.Equal("by-grace", digest[^1].Paper.Paper.Id);
        Assert.Equal(chosen.Take(9).Select(r => r.Paper.Paper.Id), digest.Take(9).Select(r => r.Paper.Paper.Id));
        Assert.Same(pool, Recommender.WithFollowedAuthors(pool, index, _ => 0, ProfilePreferences.None, since, notSent, 10));
    }

    [Fact]
    public void Followed_authors_papers_take_at_most_half_a_full_list_and_never_a_near_duplicates_place()
    {
        var now = DateTimeOffset.UnixEpoch.AddDays(2);
        IndexedPaper Of(string id, string author) =>
            Paper(id, $"Paper {id}") with { Paper = Paper(id, $"Paper {id}").Paper with { Authors = [author] }, IngestedAt = now.AddHours(-1) };

        // 20 relevant papers by others, 8 by the followed author with no relevance of their own.
        var relevant = Enumerable.Range(0, 20).Select(i =>
            new RecommendationCandidate(Of($"r{i}", "Ada Lovelace"), Unit((0, 1), (10 + i, 1)), 1 - i * 0.01, "", 0));
        var followed = Enumerable.Range(0, 8).Select(i =>
            new RecommendationCandidate(Of($"f{i}", "Grace Hopper"), Unit((1, 1), (40 + i, 1)), 0, "", 0));
        var preferences = new ProfilePreferences([], ["Grace Hopper"], []);

        var ten = Recommender.Choose([.. relevant, .. followed], preferences, now, 10).Select(r => r.Paper.Paper.Id).ToArray();
        Assert.Equal(["r0", "r1", "r2", "r3", "r4"], ten.Take(5));
        Assert.All(ten.Skip(5), id => Assert.StartsWith("f", id));
        Assert.Equal(5, ten.Skip(5).Distinct().Count());

        // A list of one is the best relevant paper; without a followed author nothing changes.
        Assert.Equal("r0", Assert.Single(Recommender.Choose([.. relevant, .. followed], preferences, now, 1)).Paper.Paper.Id);
        Assert.All(Recommender.Choose([.. relevant, .. followed], ProfilePreferences.None, now, 10), r => Assert.StartsWith("r", r.Paper.Paper.Id));

        // Copies of one followed paper: one place is given, and the list stays full.
        var copies = Enumerable.Range(0, 8).Select(i =>
            new RecommendationCandidate(Of($"c{i}", "Grace Hopper"), Unit((1, 1)), 0, "", 0));
        var withCopies = Recommender.Choose([.. relevant, .. copies], preferences, now, 10).Select(r => r.Paper.Paper.Id).ToArray();
        Assert.Equal(10, withCopies.Length);
        Assert.Single(withCopies, id => id.StartsWith('c'));
        Assert.Equal("c0", withCopies[^1]);
    }
}
