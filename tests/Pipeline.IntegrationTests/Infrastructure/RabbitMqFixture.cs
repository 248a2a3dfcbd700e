using System.Collections.Concurrent;
using Pipeline.Testing;

namespace Pipeline.IntegrationTests.Infrastructure;

/// <summary>One RabbitMQ node for the whole test run (starting one takes seconds), and a virtual host per test class.</summary>
public sealed class RabbitMqFixture : IAsyncLifetime
{
    private readonly ConcurrentDictionary<Type, Lazy<Task<string>>> _virtualHosts = new();
    private RabbitMqBroker? _broker;

    public RabbitMqBroker Broker => _broker ?? throw new InvalidOperationException("The broker has not started.");

    /// <summary>The virtual host of <paramref name="testClass"/>, created on first use (xunit makes a class instance per test).</summary>
    public Task<string> VirtualHostFor(Type testClass) =>
        _virtualHosts.GetOrAdd(testClass, t => new Lazy<Task<string>>(async () =>
        {
            var name = $"{t.Name}-{Guid.NewGuid().ToString("N")[..6]}";
            await Broker.CreateVirtualHostAsync(name);
            return name;
        })).Value;

    public async Task InitializeAsync() => _broker = await RabbitMqBroker.StartNewAsync();

    public async Task DisposeAsync()
    {
        if (_broker is not null)
        {
            await _broker.DisposeAsync();
        }
    }
}

/// <summary>
/// Every test class that uses the shared broker joins this collection (and shares one running
/// pipeline, started by the first class that asks for it); xunit runs them one after
/// another, so a test may stop, kill or restart the broker as long as it leaves it running.
/// </summary>
[CollectionDefinition(Name)]
public sealed class RabbitMqCollection : ICollectionFixture<RabbitMqFixture>, ICollectionFixture<Flow.PipelineFixture>
{
    public const string Name = "RabbitMQ";
}

/// <summary>A test class on the shared broker with a virtual host of its own.</summary>
[Collection(RabbitMqCollection.Name)]
public abstract class RabbitMqTestBase(RabbitMqFixture fixture) : IAsyncLifetime
{
    protected RabbitMqBroker Broker => fixture.Broker;

    /// <summary>This class's virtual host (the same for all its tests).</summary>
    protected string VirtualHost { get; private set; } = "";

    protected string ConnectionString => Broker.ConnectionString(VirtualHost);

    public virtual async Task InitializeAsync()
    {
        if (!Broker.IsRunning)
        {
            // An earlier test left it down (a failed fault test): bring it back.
            await Broker.StartAsync();
        }

        VirtualHost = await fixture.VirtualHostFor(GetType());
    }

    public virtual Task DisposeAsync() => Task.CompletedTask;
}
