using Google.Protobuf.WellKnownTypes;
using Grpc.Core;
using Pipeline.Contracts.Notify.V1;
using Pipeline.Notify.Delivery;
using Pipeline.Notify.Storage;
using Pipeline.ServiceDefaults;
using ProtoSubscriber = Pipeline.Contracts.Notify.V1.Subscriber;
using Subscriber = Pipeline.Notify.Storage.Subscriber;

namespace Pipeline.Notify.Grpc;

public sealed class SubscriptionGrpcService(
    Subscriptions subscriptions,
    SubscriberStore store,
    DeliveryLedger ledger,
    DigestSender digests,
    ApiKeyValidator apiKeys,
    TimeProvider clock)
    : SubscriptionService.SubscriptionServiceBase
{
    public override async Task<SubscribeResponse> Subscribe(SubscribeRequest request, ServerCallContext context)
    {
        // A wrong key is refused before anything is stored or sent.
        var operatorCall = apiKeys.Presented(context);
        // The client as the connection shows it; behind a proxy, configure forwarded headers.
        var client = context.GetHttpContext().Connection.RemoteIpAddress?.ToString() ?? context.Peer;
        var subscriber = await Guard(() => subscriptions.SubscribeAsync(request.Email, new PreferencesRequest(
            request.Interests, CadenceName(request.Cadence), request.Timezone, request.Hour, request.MaxPapers, request.InstantThreshold,
            request.Weekday, request.NoteWhenEmpty, request.SeedPaperIds, request.Authors, request.Categories),
            client, context.CancellationToken));
        // Anyone may call Subscribe: every address gets the same answer (PENDING, no id), so the
        // answer tells nobody whether an address is subscribed, and a subscription's id stays its
        // owner's. An operator's tool (the API key) gets the id and the state.
        return operatorCall
            ? new SubscribeResponse { SubscriberId = subscriber.Id, Status = ToProto(subscriber.Status) }
            : new SubscribeResponse { Status = SubscriberStatus.Pending };
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
            response.Deliveries.Add(ToProto(d));
        }

        return response;
    }

    /// <summary>Takes the preferences link's token (from any digest), not the API key: the subscriber's own call.</summary>
    public override async Task<ProtoSubscriber> UpdatePreferences(UpdatePreferencesRequest request, ServerCallContext context) =>
        ToProto(await Guard(() => subscriptions.UpdatePreferencesAsync(request.Token, new PreferencesRequest(
            request.Interests, request.Cadence == Cadence.Unspecified ? "" : CadenceName(request.Cadence), request.Timezone, request.Hour,
            request.MaxPapers, request.InstantThreshold, request.Weekday, request.NoteWhenEmpty, request.SeedPaperIds, request.Authors, request.Categories))));

    /// <summary>Republishes every subscriber and their deliveries for a rank that lost its Redis.</summary>
    public override async Task<RepublishSubscribersResponse> RepublishSubscribers(RepublishSubscribersRequest request, ServerCallContext context)
    {
        apiKeys.Require(context);
        var (subscribers, deliveries) = await Guard(() => subscriptions.RepublishAllAsync(ledger, context.CancellationToken));
        return new RepublishSubscribersResponse { Subscribers = subscribers, Deliveries = deliveries };
    }

    /// <summary>
    /// The digest of the subscriber's current period, now, through the same once-only path as the
    /// scheduler: a second call in the same period sends nothing and answers already_sent.
    /// </summary>
    public override async Task<SendDigestNowResponse> SendDigestNow(SendDigestNowRequest request, ServerCallContext context)
    {
        apiKeys.Require(context);
        var subscriber = await Find(request.SubscriberId);
        if (subscriber.Status is not SubscriptionStatus.Active)
        {
            throw new RpcException(new Status(StatusCode.FailedPrecondition, $"Subscriber '{subscriber.Id}' is {subscriber.Status.ToString().ToLowerInvariant()}, not active."));
        }

        // Instant subscribers have no digest calendar; theirs is a daily period at their hour.
        var timing = Subscriptions.Timing(subscriber) is { Cadence: "instant" } t ? t with { Cadence = "daily" } : Subscriptions.Timing(subscriber);
        var period = DigestCalendar.Current(timing, clock.GetUtcNow());
        DigestOutcome outcome;
        try
        {
            outcome = await digests.SendAsync(subscriber, period, context.CancellationToken);
        }
        catch (SmtpUnavailableException e)
        {
            throw new RpcException(new Status(StatusCode.Unavailable, $"The SMTP server cannot take the digest now ({e.Message}); nothing was sent, try again later."));
        }
        catch (SmtpMessageRejectedException e)
        {
            throw new RpcException(new Status(StatusCode.FailedPrecondition, $"{e.Message}; nothing was sent."));
        }
        catch (SmtpSendClaimCheckFailedException e)
        {
            throw new RpcException(new Status(StatusCode.Unavailable, $"{e.Message} Try again shortly."));
        }
        catch (RankKeyRefusedException e)
        {
            // Retrying cannot help: the keys need fixing.
            throw new RpcException(new Status(StatusCode.FailedPrecondition, e.Message + " Nothing was sent."));
        }
        catch (RpcException e) when (e.StatusCode is StatusCode.Unavailable or StatusCode.DeadlineExceeded or StatusCode.ResourceExhausted or StatusCode.Aborted)
        {
            throw new RpcException(new Status(StatusCode.Unavailable, $"Rank did not answer ({e.Status.Detail}); nothing was sent, try again later."));
        }
        catch (RpcException e)
        {
            throw new RpcException(new Status(StatusCode.Internal, $"Rank refused the digest's call ({e.StatusCode}: {e.Status.Detail}); nothing was sent."));
        }

        if (outcome.Kind is DigestOutcomeKind.InProgress)
        {
            throw new RpcException(new Status(StatusCode.Aborted, $"The {period.Id} digest is being sent right now."));
        }

        var response = new SendDigestNowResponse
        {
            Period = period.Id,
            Outcome = outcome.Kind switch
            {
                DigestOutcomeKind.Sent => "sent",
                DigestOutcomeKind.AlreadySent => "already_sent",
                DigestOutcomeKind.NothingNew => "nothing_new",
                _ => "bounced",
            },
        };
        if (outcome.Delivery is { } delivery)
        {
            response.Delivery = ToProto(delivery);
        }

        return response;
    }

    private async Task<Subscriber> Find(string id)
    {
        if (string.IsNullOrWhiteSpace(id))
        {
            throw new RpcException(new Status(StatusCode.InvalidArgument, "subscriber_id is required."));
        }

        if (id.Length > 64)
        {
            throw new RpcException(new Status(StatusCode.InvalidArgument, "subscriber_id is longer than 64 characters; no subscriber has such an id."));
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
            var code = e switch
            {
                { NotFound: true } => StatusCode.NotFound,
                { Unavailable: true } => StatusCode.Unavailable,
                { RateLimited: true } => StatusCode.ResourceExhausted,
                { NotActive: true } => StatusCode.FailedPrecondition,
                _ => StatusCode.InvalidArgument,
            };
            throw new RpcException(new Status(code, e.Message));
        }
    }

    /// <summary>Unset is daily; a value this version does not know is refused, not taken as daily.</summary>
    private static string CadenceName(Cadence cadence) => cadence switch
    {
        Cadence.Unspecified or Cadence.Daily => "daily",
        Cadence.Weekly => "weekly",
        Cadence.Instant => "instant",
        _ => throw new RpcException(new Status(StatusCode.InvalidArgument, $"cadence {(int)cadence} is not a Cadence: send CADENCE_DAILY, CADENCE_WEEKLY or CADENCE_INSTANT.")),
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
            Weekday = s.Weekday,
            NoteWhenEmpty = s.NoteWhenEmpty,
            LastDigestPeriod = s.LastDigestPeriod ?? "",
            BounceReason = s.BounceReason ?? "",
        };
        proto.Interests.AddRange(s.Interests);
        proto.SeedPaperIds.AddRange(s.SeedPaperIds);
        proto.Authors.AddRange(s.Authors);
        proto.Categories.AddRange(s.Categories);
        return proto;
    }

    private static Contracts.Notify.V1.Delivery ToProto(DeliveryRecord d)
    {
        var delivery = new Contracts.Notify.V1.Delivery
        {
            Id = d.Id, SubscriberId = d.SubscriberId, Kind = d.Kind, SentAt = Timestamp.FromDateTimeOffset(d.SentAt), MessageId = d.MessageId,
            Status = d.Status, Period = d.Period,
        };
        delivery.PaperIds.AddRange(d.PaperIds);
        return delivery;
    }
}
