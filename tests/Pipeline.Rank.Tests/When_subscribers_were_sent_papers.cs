using Pipeline.Rank.Ranking;
using static Pipeline.Rank.Tests.Relevance.TestPapers;

namespace Pipeline.Rank.Tests;

/// <summary>
/// What each subscriber was sent is kept as paper numbers (<see cref="PaperOrdinals"/>), 2 bytes a
/// paper (<see cref="SentPapers"/>). What a user would notice: a paper they were sent recommended again, or one they were
/// not sent left out.
/// </summary>
public class When_subscribers_were_sent_papers
{
    [Fact]
    public void Their_papers_are_known_by_paper_and_by_id_and_no_other()
    {
        var feedback = new Feedback();
        feedback.MarkSent("ada", ["sent-1", "sent-2"]);
        feedback.MarkSent("ada", ["sent-2", "sent-3"]); // a digest repeating one
        feedback.MarkSent("bob", ["sent-9"]);

        var sent = Assert.IsType<SentPapers>(feedback.SentTo("ada"));
        Assert.Equal(3, sent.Count);
        Assert.True(sent.Contains(Paper("sent-1", "A")));
        Assert.True(sent.Contains(Paper("sent-3", "A")));
        Assert.False(sent.Contains(Paper("sent-9", "A")));
        Assert.False(sent.Contains(Paper("never-sent", "A")));
        Assert.True(feedback.WasSent("ada", "sent-2"));
        Assert.False(feedback.WasSent("ada", "sent-9"));
        Assert.False(feedback.WasSent("ada", "an-id-rank-never-met"));
        Assert.Null(feedback.SentTo("carol"));
        feedback.MarkSent("carol", Array.Empty<string>());
        Assert.Null(feedback.SentTo("carol"));
    }

    [Fact]
    public void A_copy_of_a_paper_with_another_paper_is_known_by_the_other_one()
    {
        var feedback = new Feedback();
        feedback.MarkSent("ada", ["copy-b"]);
        var a = Paper("copy-a", "A");
        var b = Paper("copy-b", "B");

        var copy = a with { Paper = b.Paper };

        Assert.Equal(b.Ordinal, copy.Ordinal);
        Assert.NotEqual(a.Ordinal, copy.Ordinal);
        Assert.True(feedback.SentTo("ada")!.Contains(copy));
        Assert.Equal(a.Ordinal, (a with { IngestedAt = DateTimeOffset.UnixEpoch }).Ordinal);
    }

    [Fact]
    public void Digests_marked_at_once_from_several_threads_are_all_kept()
    {
        var feedback = new Feedback();
        var seen = 0;
        Parallel.For(0, 64, digest =>
        {
            feedback.MarkSent("ada", Enumerable.Range(0, 25).Select(i => $"parallel-{digest}-{i}"));
            // A reader at the same time sees whole digests only.
            Interlocked.Add(ref seen, feedback.SentTo("ada")!.Count % 25);
        });

        var sent = feedback.SentTo("ada")!;
        Assert.Equal(64 * 25, sent.Count);
        Assert.All(Enumerable.Range(0, 64 * 25), n => Assert.True(feedback.WasSent("ada", $"parallel-{n / 25}-{n % 25}")));
        Assert.Equal(0, seen);
    }

    [Fact]
    public void Numbers_in_many_groups_of_65536_are_found_exactly()
    {
        var random = new Random(3);
        var numbers = Enumerable.Range(0, 5_000).Select(_ => random.Next(1 << 20))
            .Concat([0, 1, 65_535, 65_536, 65_537, 131_071, 131_072, int.MaxValue - 1, int.MaxValue]).ToArray();
        var sent = new SentPapers();
        // In three digests, out of order, with repeats across them.
        sent.Add(numbers.AsSpan(0, 2_000));
        sent.Add(numbers.AsSpan(1_500).ToArray().Reverse().ToArray());
        sent.Add(numbers.AsSpan(0, 10));

        var expected = numbers.ToHashSet();
        Assert.Equal(expected.Count, sent.Count);
        Assert.All(expected, n => Assert.True(sent.Contains(n), $"{n} was sent"));
        var probes = Enumerable.Range(0, 20_000).Select(_ => random.Next(1 << 21))
            .Concat([2, 65_534, 65_538, 131_070, 131_073, 196_608, int.MaxValue - 2]);
        Assert.All(probes, n => Assert.Equal(expected.Contains(n), sent.Contains(n)));
        Assert.False(sent.Contains(-1));
    }

    [Fact]
    public void A_negative_number_is_refused_and_the_set_is_unchanged()
    {
        var sent = new SentPapers();
        sent.Add([7, 70_000]);

        Assert.Throws<ArgumentOutOfRangeException>(() => sent.Add([3, -5]));

        Assert.Equal(2, sent.Count);
        Assert.True(sent.Contains(70_000));
        Assert.False(sent.Contains(3));
    }
}
