using Grpc.Core;
using StackExchange.Redis;

namespace Pipeline.ServiceDefaults.Tests;

/// <summary>
/// A call that fails because the service's Redis is out of reach answers UNAVAILABLE with a message
/// naming the service; any other failure reaches the client as the handler threw it.
/// </summary>
public sealed class StoreUnavailableSpecs
{
    private readonly StoreUnavailableInterceptor _interceptor = new(new ServiceIdentity("rank"));

    public static TheoryData<Exception, string> OutOfReach => new()
    {
        { new RedisConnectionException(ConnectionFailureType.UnableToConnect, "No connection is active/available to service this operation"), "the connection is down" },
        { new RedisTimeoutException("Timeout awaiting response (outbound=0KiB, inbound=0KiB, 5000ms elapsed)", CommandStatus.Sent), "a command timed out" },
        { new RedisServerException("LOADING Redis is loading the dataset in memory"), "loading its data" },
    };

    [Theory]
    [MemberData(nameof(OutOfReach))]
    public async Task A_redis_out_of_reach_answers_unavailable_naming_the_service(Exception thrown, string cause)
    {
        var unary = await Assert.ThrowsAsync<RpcException>(() => _interceptor.UnaryServerHandler<string, string>("request", null!, (_, _) => throw thrown));
        var streaming = await Assert.ThrowsAsync<RpcException>(() => _interceptor.ServerStreamingServerHandler<string, string>("request", null!, null!, (_, _, _) => throw thrown));

        foreach (var e in new[] { unary, streaming })
        {
            Assert.Equal(StatusCode.Unavailable, e.StatusCode);
            Assert.StartsWith("rank's Redis cannot be reached now", e.Status.Detail);
            Assert.Contains(cause, e.Status.Detail);
        }
    }

    public static TheoryData<Exception> OtherFailures => new()
    {
        new RpcException(new Status(StatusCode.NotFound, "No active subscriber 'x' is known to rank.")),
        new RedisServerException("WRONGTYPE Operation against a key holding the wrong kind of value"),
        new InvalidOperationException("a bug"),
    };

    [Theory]
    [MemberData(nameof(OtherFailures))]
    public async Task Any_other_failure_is_left_as_it_was_thrown(Exception thrown)
    {
        var caught = await Assert.ThrowsAnyAsync<Exception>(() => _interceptor.UnaryServerHandler<string, string>("request", null!, (_, _) => throw thrown));

        Assert.Same(thrown, caught);
    }

    [Fact]
    public async Task A_call_that_succeeds_answers_as_it_did()
    {
        var answer = await _interceptor.UnaryServerHandler<string, string>("ping", null!, (request, _) => Task.FromResult(request + " pong"));

        Assert.Equal("ping pong", answer);
    }
}
