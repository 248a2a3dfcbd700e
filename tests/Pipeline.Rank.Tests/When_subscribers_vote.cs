using Pipeline.Rank.Ranking;

namespace Pipeline.Rank.Tests;

/// <summary>
/// Votes are kept packed per voter (<see cref="Feedback"/>, 4 bytes a vote). What a user would
/// notice: a paper's total off, a vote counted twice, a withdrawn vote still counted, or a liked
/// paper missing from what shapes their recommendations.
/// </summary>
public class When_subscribers_vote
{
    [Fact]
    public void Totals_opinions_and_changes_match_one_vote_per_voter_and_paper()
    {
        var feedback = new Feedback();
        var model = new Dictionary<(string Voter, string Paper), int>();
        var random = new Random(17);
        var voters = Enumerable.Range(0, 40).Select(v => $"vote-voter-{v}").ToArray();
        var papers = Enumerable.Range(0, 500).Select(p => $"vote-paper-{p}").ToArray();
        var versionBefore = feedback.Version;
        var changes = 0;

        for (var step = 0; step < 20_000; step++)
        {
            var voter = voters[random.Next(voters.Length)];
            var paper = papers[random.Next(papers.Length)];
            var value = random.Next(3) - 1; // -1, 0 (withdraw) or +1
            var previous = model.GetValueOrDefault((voter, paper));

            var changed = feedback.Vote(paper, voter, value);

            Assert.Equal(previous != value, changed);
            changes += changed ? 1 : 0;
            if (value == 0)
            {
                model.Remove((voter, paper));
            }
            else
            {
                model[(voter, paper)] = value;
            }
        }

        Assert.Equal(changes, feedback.Version - versionBefore);
        Assert.Equal(model.Count, feedback.VoteCount);
        Assert.All(papers, paper => Assert.Equal(model.Where(m => m.Key.Paper == paper).Sum(m => m.Value), feedback.Votes(paper)));
        Assert.All(papers, paper => Assert.Equal(feedback.Votes(paper), feedback.Votes(PaperOrdinals.Of(paper))));
        Assert.All(voters, voter =>
        {
            var (liked, disliked) = feedback.OpinionsOf(voter);
            Assert.Equal(model.Where(m => m.Key.Voter == voter && m.Value > 0).Select(m => m.Key.Paper).Order(), liked.Order());
            Assert.Equal(model.Where(m => m.Key.Voter == voter && m.Value < 0).Select(m => m.Key.Paper).Order(), disliked.Order());
        });
    }

    [Fact]
    public void Votes_from_many_threads_on_one_paper_are_each_counted_once()
    {
        var feedback = new Feedback();

        Parallel.For(0, 2_000, i =>
        {
            // Every voter votes up twice (the second changes nothing) and one in four then withdraws.
            Assert.True(feedback.Vote("vote-busy-paper", $"busy-voter-{i}", 1));
            Assert.False(feedback.Vote("vote-busy-paper", $"busy-voter-{i}", 1));
            if (i % 4 == 0)
            {
                Assert.True(feedback.Vote("vote-busy-paper", $"busy-voter-{i}", 0));
            }
        });

        Assert.Equal(1_500, feedback.Votes("vote-busy-paper"));
        Assert.Equal(["vote-busy-paper"], feedback.OpinionsOf("busy-voter-1").Liked);
        Assert.Empty(feedback.OpinionsOf("busy-voter-4").Liked);
    }

    [Fact]
    public void Votes_on_papers_never_seen_before_from_many_threads_are_all_counted()
    {
        // Each first vote on a new paper may grow the totals while other threads add to them.
        var feedback = new Feedback();
        var papers = Enumerable.Range(0, 5_000).Select(p => $"vote-new-paper-{Guid.NewGuid():N}-{p}").ToArray();

        Parallel.For(0, 20_000, i => feedback.Vote(papers[i % papers.Length], $"grow-voter-{i / papers.Length}", 1));

        Assert.All(papers, paper => Assert.Equal(4, feedback.Votes(paper)));
    }

    [Fact]
    public void A_voter_who_never_voted_has_no_opinions_and_a_paper_never_voted_on_no_votes()
    {
        var feedback = new Feedback();

        Assert.False(feedback.AnyVotes);
        var (liked, disliked) = feedback.OpinionsOf("nobody");
        Assert.Empty(liked);
        Assert.Empty(disliked);
        Assert.Equal(0, feedback.Votes("vote-never-voted"));
        Assert.Throws<ArgumentOutOfRangeException>(() => feedback.Vote("vote-paper", "voter", 2));
    }
}
