using Grpc.Core;
using Grpc.Core.Interceptors;
using StackExchange.Redis;

namespace Pipeline.ServiceDefaults;

/// <summary>
/// Answers a call that failed because the service's own Redis could not be reached (connection
/// lost, a command that timed out, or Redis still loading its data after a restart) with
/// <c>UNAVAILABLE</c>, the status gRPC clients and their retry policies treat as "try again", and a
/// message saying so, instead of <c>UNKNOWN</c> and "Exception was thrown by handler". The
/// service's <c>/health/ready</c> reports the same outage.
/// </summary>
public sealed class StoreUnavailableInterceptor(ServiceIdentity identity) : Interceptor
{
    public override async Task<TResponse> UnaryServerHandler<TRequest, TResponse>(
        TRequest request, ServerCallContext context, UnaryServerMethod<TRequest, TResponse> continuation)
    {
        try
        {
            return await continuation(request, context);
        }
        catch (Exception e) when (Unavailable(e) is { } status)
        {
            throw new RpcException(status);
        }
    }

    public override async Task<TResponse> ClientStreamingServerHandler<TRequest, TResponse>(
        IAsyncStreamReader<TRequest> requestStream, ServerCallContext context, ClientStreamingServerMethod<TRequest, TResponse> continuation)
    {
        try
        {
            return await continuation(requestStream, context);
        }
        catch (Exception e) when (Unavailable(e) is { } status)
        {
            throw new RpcException(status);
        }
    }

    public override async Task ServerStreamingServerHandler<TRequest, TResponse>(
        TRequest request, IServerStreamWriter<TResponse> responseStream, ServerCallContext context, ServerStreamingServerMethod<TRequest, TResponse> continuation)
    {
        try
        {
            await continuation(request, responseStream, context);
        }
        catch (Exception e) when (Unavailable(e) is { } status)
        {
            throw new RpcException(status);
        }
    }

    /// <summary>The status for an exception that means the store is out of reach; null for any other.</summary>
    public Status? Unavailable(Exception exception)
    {
        var cause = exception switch
        {
            RedisConnectionException => "the connection is down",
            RedisTimeoutException => "a command timed out",
            RedisServerException e when e.Message.StartsWith("LOADING", StringComparison.Ordinal) => "it is loading its data after a restart",
            _ => null,
        };
        return cause is null
            ? null
            : new Status(StatusCode.Unavailable, $"{identity.Name}'s Redis cannot be reached now ({cause}); the call may not have completed. Try again shortly.");
    }
}
