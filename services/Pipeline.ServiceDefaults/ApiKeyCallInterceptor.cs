using Grpc.Core;
using Grpc.Core.Interceptors;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;

namespace Pipeline.ServiceDefaults;

/// <summary>
/// Sends this service's API key (<c>Services:&lt;service&gt;:apiKey</c>, else its own first
/// <c>Security:ApiKeys</c> entry) as the <c>x-api-key</c> header on every call of a pipeline gRPC
/// client, for the calls the other service guards (notify asking rank for a subscriber's
/// recommendations). A call that already carries a key keeps it.
/// </summary>
public sealed class ApiKeyCallInterceptor(string? key) : Interceptor
{
    public static string? KeyFor(IConfiguration configuration, string service) =>
        configuration[$"Services:{service}:apiKey"] is { Length: > 0 } own
            ? own
            : configuration.GetSection("Security:ApiKeys").GetChildren().Select(c => c.Value).FirstOrDefault(v => !string.IsNullOrWhiteSpace(v));

    public override AsyncUnaryCall<TResponse> AsyncUnaryCall<TRequest, TResponse>(
        TRequest request, ClientInterceptorContext<TRequest, TResponse> context, AsyncUnaryCallContinuation<TRequest, TResponse> continuation) =>
        continuation(request, WithKey(context));

    public override AsyncServerStreamingCall<TResponse> AsyncServerStreamingCall<TRequest, TResponse>(
        TRequest request, ClientInterceptorContext<TRequest, TResponse> context, AsyncServerStreamingCallContinuation<TRequest, TResponse> continuation) =>
        continuation(request, WithKey(context));

    public override AsyncClientStreamingCall<TRequest, TResponse> AsyncClientStreamingCall<TRequest, TResponse>(
        ClientInterceptorContext<TRequest, TResponse> context, AsyncClientStreamingCallContinuation<TRequest, TResponse> continuation) =>
        continuation(WithKey(context));

    private ClientInterceptorContext<TRequest, TResponse> WithKey<TRequest, TResponse>(ClientInterceptorContext<TRequest, TResponse> context)
        where TRequest : class
        where TResponse : class
    {
        if (string.IsNullOrEmpty(key) || context.Options.Headers?.GetValue(ApiKeyValidator.HeaderName) is { Length: > 0 })
        {
            return context;
        }

        var headers = new Metadata();
        foreach (var entry in context.Options.Headers ?? [])
        {
            headers.Add(entry);
        }

        headers.Add(ApiKeyValidator.HeaderName, key);
        return new ClientInterceptorContext<TRequest, TResponse>(context.Method, context.Host, context.Options.WithHeaders(headers));
    }
}

public static class ApiKeyCallInterceptorExtensions
{
    /// <summary>Every call of this client carries the service's API key (<see cref="ApiKeyCallInterceptor"/>).</summary>
    public static IHttpClientBuilder WithPipelineApiKey(this IHttpClientBuilder client, string service) =>
        client.AddInterceptor(sp => new ApiKeyCallInterceptor(ApiKeyCallInterceptor.KeyFor(sp.GetRequiredService<IConfiguration>(), service)));
}
