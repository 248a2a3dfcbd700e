using Google.Protobuf.WellKnownTypes;
using Grpc.Core;
using Pipeline.Contracts.Notify.V1;
using Pipeline.Notify.Delivery;
using Pipeline.Notify.Storage;
using Pipeline.ServiceDefaults;
using ProtoSubscriber = Pipeline.Contracts.Notify.V1.Subscriber;
using Subscriber = Pipeline.Notify.Storage.Subscriber;

namespace Pipeline.Notify.Grpc;

public sealed class SubscriptionGrpcService(Subscriptions subscriptions, SubscriberStore store, DeliveryLedger ledger, ApiKeyValidator apiKeys)
    : SubscriptionService.SubscriptionServiceBase
{
    public override async Task<SubscribeResponse> Subscribe(SubscribeRequest request, ServerCallContext context)
    {
        var subscriber = await Guard(() => subscriptions.SubscribeAsync(request.Email, new PreferencesRequest(
            request.Interests, CadenceName(request.Cadence), request.Timezone, request.Hour, request.MaxPapers, request.InstantThreshold),
            context.CancellationToken));
        return new SubscribeResponse { SubscriberId = subscriber.Id, Status = ToProto(subscriber.Status) };
    }

    public override async Task<ProtoSubscriber> Confirm(ConfirmRequest request, ServerCallContext context) =>
        ToProto(await Guard(() => subscriptions.ConfirmAsync(request.Token)));

    public override async Task<ProtoSubscriber> Unsubscribe(UnsubscribeRequest request, ServerCallContext context) =>
        ToProto(await Guard(() => subscriptions.UnsubscribeAsync(request.Token)));

    public override async Task<ProtoSubscriber> GetSubscriber(GetSubscriberRequest request, ServerCallContext context)
    {
        // Subscribers' addresses are personal data: reading them takes the API key.
        apiKeys.Require(context);
        return ToProto(await Find(request.SubscriberId));
    }

    public override async Task<ListDeliveriesResponse> ListDeliveries(ListDeliveriesRequest request, ServerCallContext context)
    {
        apiKeys.Require(context);
        var subscriber = await Find(request.SubscriberId);
        var limit = request.Limit switch
        {
            0 => 50,
            < 0 or > 500 => throw new RpcException(new Status(StatusCode.InvalidArgument, "limit must be between 1 and 500.")),
            var l => l,
        };
        var response = new ListDeliveriesResponse();
        foreach (var d in await ledger.ListAsync(subscriber.Id, limit))
        {
            var delivery = new Contracts.Notify.V1.Delivery { Id = d.Id, SubscriberId = d.SubscriberId, Kind = d.Kind, SentAt = Timestamp.FromDateTimeOffset(d.SentAt), MessageId = d.MessageId };
            delivery.PaperIds.AddRange(d.PaperIds);
            response.Deliveries.Add(delivery);
        }

        return response;
    }

    // Preferences and digests arrive with the notify issue.
    public override Task<ProtoSubscriber> UpdatePreferences(UpdatePreferencesRequest request, ServerCallContext context) =>
        throw new RpcException(new Status(StatusCode.Unimplemented, "Updating preferences is not implemented yet."));

    public override Task<SendDigestNowResponse> SendDigestNow(SendDigestNowRequest request, ServerCallContext context)
    {
        apiKeys.Require(context);
        throw new RpcException(new Status(StatusCode.Unimplemented, "Digests are not implemented yet."));
    }

    private async Task<Subscriber> Find(string id)
    {
        if (string.IsNullOrWhiteSpace(id) || id.Length > 64)
        {
            throw new RpcException(new Status(StatusCode.InvalidArgument, "subscriber_id is required."));
        }

        return await store.GetAsync(id) ?? throw new RpcException(new Status(StatusCode.NotFound, $"No subscriber '{id}'."));
    }

    private static async Task<T> Guard<T>(Func<Task<T>> action)
    {
        try
        {
            return await action();
        }
        catch (SubscriptionException e)
        {
            throw new RpcException(new Status(e.NotFound ? StatusCode.NotFound : StatusCode.InvalidArgument, e.Message));
        }
    }

    private static string CadenceName(Cadence cadence) => cadence switch
    {
        Cadence.Weekly => "weekly",
        Cadence.Instant => "instant",
        _ => "daily",
    };

    private static Cadence ToCadence(string cadence) => cadence switch
    {
        "weekly" => Cadence.Weekly,
        "instant" => Cadence.Instant,
        _ => Cadence.Daily,
    };

    private static SubscriberStatus ToProto(SubscriptionStatus status) => status switch
    {
        SubscriptionStatus.Pending => SubscriberStatus.Pending,
        SubscriptionStatus.Active => SubscriberStatus.Active,
        SubscriptionStatus.Unsubscribed => SubscriberStatus.Unsubscribed,
        _ => SubscriberStatus.Bouncing,
    };

    private static ProtoSubscriber ToProto(Subscriber s)
    {
        var proto = new ProtoSubscriber
        {
            Id = s.Id,
            Email = s.Email,
            Cadence = ToCadence(s.Cadence),
            Timezone = s.TimeZone,
            Hour = s.Hour,
            MaxPapers = s.MaxPapers,
            InstantThreshold = s.InstantThreshold,
            Status = ToProto(s.Status),
            CreatedAt = Timestamp.FromDateTimeOffset(s.CreatedAt),
        };
        proto.Interests.AddRange(s.Interests);
        return proto;
    }
}
