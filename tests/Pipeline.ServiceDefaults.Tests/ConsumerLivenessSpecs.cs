using Pipeline.ServiceDefaults.Messaging;

namespace Pipeline.ServiceDefaults.Tests;

public sealed class ConsumerLivenessSpecs
{
    private static readonly DateTimeOffset T0 = new(2026, 11, 26, 12, 0, 0, TimeSpan.Zero);
    private readonly ConsumerLiveness _liveness = new(TimeSpan.FromSeconds(30));

    [Fact]
    public void A_ready_queue_unconsumed_for_the_whole_grace_period_is_lost()
    {
        _liveness.Ready("rank-digest-sent", T0);

        Assert.False(_liveness.Observe("rank-digest-sent", QueueConsumers.NoConsumer, T0.AddSeconds(10)));
        Assert.False(_liveness.Observe("rank-digest-sent", QueueConsumers.NoConsumer, T0.AddSeconds(20)));
        Assert.False(_liveness.Observe("rank-digest-sent", QueueConsumers.NoConsumer, T0.AddSeconds(39)));
        Assert.True(_liveness.Observe("rank-digest-sent", QueueConsumers.NoConsumer, T0.AddSeconds(40)));
    }

    [Fact]
    public void A_queue_that_no_longer_exists_counts_as_unconsumed()
    {
        _liveness.Ready("rank-digest-sent", T0);

        Assert.False(_liveness.Observe("rank-digest-sent", QueueConsumers.Missing, T0.AddSeconds(1)));
        Assert.True(_liveness.Observe("rank-digest-sent", QueueConsumers.Missing, T0.AddSeconds(31)));
    }

    [Fact]
    public void One_look_that_finds_a_consumer_starts_the_clock_again()
    {
        _liveness.Ready("q", T0);
        _liveness.Observe("q", QueueConsumers.NoConsumer, T0.AddSeconds(10));
        _liveness.Observe("q", QueueConsumers.Consumed, T0.AddSeconds(20));

        Assert.False(_liveness.Observe("q", QueueConsumers.NoConsumer, T0.AddSeconds(45)));
        Assert.True(_liveness.Observe("q", QueueConsumers.NoConsumer, T0.AddSeconds(75)));
    }

    [Fact]
    public void A_broker_out_of_reach_decides_nothing_and_the_looks_start_over()
    {
        _liveness.Ready("q", T0);
        _liveness.Observe("q", QueueConsumers.NoConsumer, T0.AddSeconds(10));

        Assert.False(_liveness.Observe("q", QueueConsumers.Unknown, T0.AddSeconds(60)));
        Assert.False(_liveness.Observe("q", QueueConsumers.NoConsumer, T0.AddSeconds(70)));
        Assert.True(_liveness.Observe("q", QueueConsumers.NoConsumer, T0.AddSeconds(100)));
    }

    [Fact]
    public void An_endpoint_the_bus_reports_faulted_or_stopping_is_the_bus_s_to_recover()
    {
        _liveness.Ready("q", T0);
        _liveness.Observe("q", QueueConsumers.NoConsumer, T0.AddSeconds(10));
        _liveness.NotReady("q");

        Assert.False(_liveness.Observe("q", QueueConsumers.NoConsumer, T0.AddSeconds(100)));
        Assert.Empty(_liveness.ReadyQueues);
    }

    [Fact]
    public void After_the_bus_restarts_an_endpoint_its_new_consumer_gets_a_whole_grace_period()
    {
        // Unconsumed for 25 s, then the endpoint restarts: the clock starts again at the next look.
        _liveness.Ready("q", T0);
        _liveness.Observe("q", QueueConsumers.NoConsumer, T0.AddSeconds(10));
        _liveness.Observe("q", QueueConsumers.NoConsumer, T0.AddSeconds(35));
        _liveness.Ready("q", T0.AddSeconds(36));

        Assert.False(_liveness.Observe("q", QueueConsumers.NoConsumer, T0.AddSeconds(40)));
        Assert.False(_liveness.Observe("q", QueueConsumers.NoConsumer, T0.AddSeconds(69)));
        Assert.True(_liveness.Observe("q", QueueConsumers.NoConsumer, T0.AddSeconds(70)));
    }

    [Fact]
    public void A_queue_the_bus_never_reported_ready_is_never_lost()
    {
        Assert.False(_liveness.Observe("other", QueueConsumers.NoConsumer, T0));
        Assert.False(_liveness.Observe("other", QueueConsumers.NoConsumer, T0.AddHours(1)));
    }

    [Fact]
    public void The_grace_period_must_be_positive()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => new ConsumerLiveness(TimeSpan.Zero));
    }
}
