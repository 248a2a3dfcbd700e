using Pipeline.Ingest.Papers;
using static Pipeline.Ingest.Tests.Intake.IntakeHarness;

namespace Pipeline.Ingest.Tests.Intake;

/// <summary>
/// <see cref="PaperIntake"/> against a real redis-server and an in-memory bus: what a batch of
/// SubmitPapers, ImportPapers or a source's page stores and announces, paper by paper.
/// </summary>
public sealed class PaperIntakeSpecs : IAsyncLifetime
{
    private readonly IntakeHarness _ingest = new();

    public Task InitializeAsync() => _ingest.InitializeAsync();

    public Task DisposeAsync() => _ingest.DisposeAsync();

    [Fact]
    public async Task A_malformed_id_is_rejected_alone_and_the_rest_of_the_batch_is_stored_and_announced()
    {
        var results = await _ingest.Intake.SubmitAsync(
            [Paper("2410.00001"), Paper("2410.17243v\u0661"), Paper("2410.00003")], CancellationToken.None);

        Assert.Equal([IntakeOutcome.Accepted, IntakeOutcome.Rejected, IntakeOutcome.Accepted], results.Select(r => r.Outcome));
        Assert.StartsWith("id '2410.17243v\u0661' is neither an arXiv id", results[1].Reason);
        Assert.NotNull(await _ingest.Store.GetAsync("2410.00001"));
        Assert.NotNull(await _ingest.Store.GetAsync("2410.00003"));
        Assert.Equal(["2410.00001", "2410.00003"], _ingest.Published.Select(p => p.Paper.Id));
    }
}
