using System.Diagnostics;
using Pipeline.Contracts.Messages;
using Pipeline.Ingest.Papers;
using Pipeline.Ingest.Storage;
using Pipeline.ServiceDefaults.Messaging;
using Pipeline.Testing;
using StackExchange.Redis;
using static Pipeline.Ingest.Tests.Intake.IntakeHarness;

namespace Pipeline.Ingest.Tests.Intake;

/// <summary>
/// Papers stored while the broker did not confirm their events are announced by ingest itself
/// once it is back, whether or not anyone sends them again (real redis-server, in-memory bus).
/// </summary>
public sealed class UnpublishedPaperSweeperSpecs : IAsyncLifetime
{
    // Append-only, so a Redis stopped and started again still holds what it held.
    private readonly IntakeHarness _ingest = new(new RedisServerOptions { AppendOnly = true });

    public Task InitializeAsync() => _ingest.InitializeAsync();

    public Task DisposeAsync() => _ingest.DisposeAsync();

    private async Task<bool> IsPublishedAsync(string id) => (await _ingest.Store.GetAsync(id))?.Published == true;

    [Fact]
    public async Task A_paper_announced_by_the_sweep_goes_out_in_the_trace_of_the_call_that_stored_it()
    {
        // After a broker outage the operator follows the paper from the call that brought it in,
        // not from a bare span of the sweep.
        using var listener = new ActivityListener
        {
            ShouldListenTo = s => s.Name == _ingest.Identity.ActivitySource.Name,
            Sample = (ref ActivityCreationOptions<ActivityContext> _) => ActivitySamplingResult.AllDataAndRecorded,
        };
        ActivitySource.AddActivityListener(listener);
        using var callSource = new ActivitySource("sweeper-spec-call");
        using var callListener = new ActivityListener
        {
            ShouldListenTo = s => s.Name == callSource.Name,
            Sample = (ref ActivityCreationOptions<ActivityContext> _) => ActivitySamplingResult.AllDataAndRecorded,
        };
        ActivitySource.AddActivityListener(callListener);

        _ingest.BrokerUp = false;
        ActivityTraceId call;
        using (var submit = callSource.StartActivity("SubmitPapers"))
        {
            call = submit!.TraceId;
            await Assert.ThrowsAsync<PublishNotConfirmedException>(() => _ingest.Intake.SubmitAsync([Paper("2410.00031")], CancellationToken.None));
        }

        Assert.Null(Activity.Current);
        _ingest.BrokerUp = true;
        Assert.Equal(1, await _ingest.Intake.RepublishAsync(DateTimeOffset.UtcNow, 500, CancellationToken.None));

        Assert.Equal("2410.00031", Assert.Single(_ingest.Published).Paper.Id);
        Assert.Equal(call, Assert.Single(_ingest.PublishedTraces));
    }

    [Fact]
    public async Task Papers_stored_while_the_broker_was_down_are_announced_once_by_the_sweep_when_it_is_back()
    {
        _ingest.BrokerUp = false;
        await Assert.ThrowsAsync<PublishNotConfirmedException>(() =>
            _ingest.Intake.SubmitAsync([Paper("2410.00001"), Paper("2410.00002v2")], CancellationToken.None));
        Assert.False(await IsPublishedAsync("2410.00001"));

        var sweeper = _ingest.Sweeper();
        await sweeper.StartAsync(CancellationToken.None);
        try
        {
            // Down for several sweeps: nothing goes out, and the sweep goes on.
            await Task.Delay(1_000);
            Assert.Empty(_ingest.Published);
            Assert.False(sweeper.ExecuteTask!.IsCompleted);

            _ingest.BrokerUp = true;
            await EventuallyAsync(async () => await IsPublishedAsync("2410.00001") && await IsPublishedAsync("2410.00002"), "both papers marked published");
            await Task.Delay(500);
        }
        finally
        {
            await sweeper.StopAsync(CancellationToken.None);
        }

        Assert.Equal(["2410.00001", "2410.00002"], _ingest.Published.Select(p => p.Paper.Id).Order(StringComparer.Ordinal));
        Assert.Equal(2, _ingest.Published.Single(p => p.Paper.Id == "2410.00002").Paper.Version);
        Assert.Equal(0, await _ingest.Store.CountUnpublishedAsync());
        // Announced later, still dated by when ingest first stored it.
        var stored = await _ingest.Store.GetAsync("2410.00001");
        Assert.Equal(stored!.IngestedAt, _ingest.Published.Single(p => p.Paper.Id == "2410.00001").FirstIngestedAt);
    }

    [Fact]
    public async Task The_sweep_outlives_a_redis_outage_and_announces_afterwards()
    {
        _ingest.BrokerUp = false;
        await Assert.ThrowsAsync<PublishNotConfirmedException>(() => _ingest.Intake.SubmitAsync([Paper("2410.00001")], CancellationToken.None));
        _ingest.BrokerUp = true;
        await _ingest.Redis.StopAsync();

        var sweeper = _ingest.Sweeper();
        await sweeper.StartAsync(CancellationToken.None);
        try
        {
            await Task.Delay(1_000);
            Assert.False(sweeper.ExecuteTask!.IsCompleted);
            Assert.Empty(_ingest.Published);

            await _ingest.Redis.StartAsync();
            await EventuallyAsync(() => IsPublishedAsync("2410.00001"), "the paper marked published after Redis came back");
        }
        finally
        {
            await sweeper.StopAsync(CancellationToken.None);
        }

        Assert.Equal("2410.00001", Assert.Single(_ingest.Published).Paper.Id);
    }

    [Fact]
    public async Task Papers_stored_unpublished_before_the_list_existed_are_found_at_start_and_announced()
    {
        // As an earlier version left them: the paper's hash with published = 0 and the index, no list.
        var earlier = new StoredPaper(PaperValidator.Validate(Paper("2410.00007")).Paper!, "content", "fingerprint", DateTimeOffset.UtcNow.AddDays(-3), Published: false);
        await _ingest.Store.SaveAsync([earlier], DateTimeOffset.UtcNow.AddDays(-3));
        await _ingest.Database.KeyDeleteAsync("ingest:unpublished");
        await _ingest.Intake.SubmitAsync([Paper("2410.00008")], CancellationToken.None);

        var sweeper = _ingest.Sweeper();
        await sweeper.StartAsync(CancellationToken.None);
        try
        {
            await EventuallyAsync(() => IsPublishedAsync("2410.00007"), "the paper stored unpublished by an earlier version marked published");
        }
        finally
        {
            await sweeper.StopAsync(CancellationToken.None);
        }

        Assert.Equal(["2410.00008", "2410.00007"], _ingest.Published.Select(p => p.Paper.Id));
    }

    [Fact]
    public async Task A_paper_still_being_published_by_its_call_is_left_to_the_call()
    {
        _ingest.BrokerUp = false;
        await Assert.ThrowsAsync<PublishNotConfirmedException>(() => _ingest.Intake.SubmitAsync([Paper("2410.00001")], CancellationToken.None));
        _ingest.BrokerUp = true;

        var tooRecent = await _ingest.Intake.RepublishAsync(DateTimeOffset.UtcNow.AddSeconds(-30), 500, CancellationToken.None);
        var due = await _ingest.Intake.RepublishAsync(DateTimeOffset.UtcNow, 500, CancellationToken.None);

        Assert.Equal((0, 1), (tooRecent, due));
        Assert.True(await IsPublishedAsync("2410.00001"));
    }

    [Fact]
    public async Task Marking_an_announced_record_published_leaves_a_newer_record_stored_meanwhile_unannounced()
    {
        StoredPaper Record(string title) =>
            new(PaperValidator.Validate(Paper("2410.00001", title: title)).Paper!, "hash of " + title, "fingerprint of " + title, DateTimeOffset.UtcNow, Published: false);
        var announced = Record("First title");
        var newer = Record("Corrected title");
        await _ingest.Store.SaveAsync([announced], DateTimeOffset.UtcNow);
        // Another call stores a newer record while the first one's event is on its way.
        await _ingest.Store.SaveAsync([newer], DateTimeOffset.UtcNow);

        Assert.Equal(0, await _ingest.Store.MarkPublishedAsync([announced]));

        var stored = await _ingest.Store.GetAsync("2410.00001");
        Assert.Equal(("Corrected title", false), (stored!.Paper.Title, stored.Published));
        Assert.Equal("Corrected title", Assert.Single(await _ingest.Store.GetUnpublishedAsync(await _ingest.Store.GetDueUnpublishedAsync(DateTimeOffset.UtcNow, 10))).Paper.Title);
        Assert.Equal(1, await _ingest.Store.MarkPublishedAsync([newer]));
        Assert.Equal(0, await _ingest.Store.CountUnpublishedAsync());
    }
}
