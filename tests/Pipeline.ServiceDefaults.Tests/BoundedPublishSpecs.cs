using System.Diagnostics;
using MassTransit;
using Microsoft.Extensions.Configuration;
using Pipeline.ServiceDefaults.Messaging;

namespace Pipeline.ServiceDefaults.Tests;

/// <summary>
/// A publish the broker never confirms (RabbitMQ.Client issue #1930: a confirmation lost with its
/// channel) ends after its deadline with an error that says so, on a real MassTransit bus whose
/// publish pipe waits for ever, as the client's wait for the lost confirmation does.
/// </summary>
public sealed class BoundedPublishSpecs : IAsyncLifetime
{
    private readonly TaskCompletionSource _release = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly TaskCompletionSource<Announced> _received = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private IBusControl _bus = null!;

    /// <summary>Publishes of <see cref="Stuck"/> wait until the test ends, whatever their token says.</summary>
    public async Task InitializeAsync()
    {
        _bus = MassTransit.Bus.Factory.CreateUsingInMemory(cfg =>
        {
            cfg.ConfigurePublish(p => p.UseInlineFilter(async (context, next) =>
            {
                if (context is PublishContext<Stuck>)
                {
                    await _release.Task;
                }

                await next.Send(context);
            }));
            cfg.ReceiveEndpoint("announced", e => e.Handler<Announced>(context =>
            {
                _received.TrySetResult(context.Message);
                return Task.CompletedTask;
            }));
        });
        await _bus.StartAsync(new CancellationTokenSource(TimeSpan.FromSeconds(30)).Token);
    }

    public async Task DisposeAsync()
    {
        _release.TrySetResult();
        await _bus.StopAsync(new CancellationTokenSource(TimeSpan.FromSeconds(30)).Token);
    }

    [Fact]
    public async Task A_publish_that_is_never_confirmed_ends_after_its_deadline_and_says_what_was_not_confirmed()
    {
        var waited = Stopwatch.StartNew();

        var refused = await Assert.ThrowsAsync<PublishNotConfirmedException>(() =>
            _bus.PublishWithinAsync(new Stuck(1), new PublishDeadline(TimeSpan.FromMilliseconds(300))));

        Assert.InRange(waited.Elapsed, TimeSpan.FromMilliseconds(250), TimeSpan.FromSeconds(10));
        Assert.Equal(nameof(Stuck), refused.MessageType);
        Assert.Contains("did not confirm the publish of Stuck within 0.3 s", refused.Message);
        Assert.IsAssignableFrom<TimeoutException>(refused);
    }

    [Fact]
    public async Task A_batch_that_is_never_confirmed_ends_the_same_way()
    {
        await Assert.ThrowsAsync<PublishNotConfirmedException>(() =>
            _bus.PublishBatchWithinAsync([new Stuck(1), new Stuck(2)], new PublishDeadline(TimeSpan.FromMilliseconds(300))));
    }

    [Fact]
    public async Task A_caller_that_gives_up_first_gets_its_cancellation_not_a_timeout()
    {
        using var caller = new CancellationTokenSource(TimeSpan.FromMilliseconds(200));

        var cancelled = await Assert.ThrowsAnyAsync<OperationCanceledException>(() =>
            _bus.PublishWithinAsync(new Stuck(1), new PublishDeadline(TimeSpan.FromSeconds(30)), caller.Token));

        Assert.IsNotType<PublishNotConfirmedException>(cancelled);
    }

    [Fact]
    public async Task A_confirmed_publish_returns_and_its_message_arrives()
    {
        await _bus.PublishWithinAsync(new Announced("paper 2611.00001"), new PublishDeadline(TimeSpan.FromSeconds(10)));

        Assert.Equal(new Announced("paper 2611.00001"), await _received.Task.WaitAsync(TimeSpan.FromSeconds(10)));
    }

    [Theory]
    [InlineData(0)]
    [InlineData(-1)]
    public void A_deadline_must_be_positive(double seconds)
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => new PublishDeadline(TimeSpan.FromSeconds(seconds)));
    }

    [Fact]
    public void The_deadline_comes_from_Bus_PublishTimeoutSeconds_and_is_15_s_without_it()
    {
        var set = new ConfigurationBuilder()
            .AddInMemoryCollection(new Dictionary<string, string?> { ["Bus:PublishTimeoutSeconds"] = "4.5" }).Build();
        var unset = new ConfigurationBuilder().Build();

        Assert.Equal(TimeSpan.FromSeconds(4.5), PublishDeadline.From(set).Timeout);
        Assert.Equal(TimeSpan.FromSeconds(15), PublishDeadline.From(unset).Timeout);
    }

    public sealed record Stuck(int N);

    public sealed record Announced(string Text);
}
