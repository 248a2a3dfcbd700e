using Grpc.Core;
using Pipeline.Contracts.Rank.V1;
using Pipeline.Notify.Storage;

namespace Pipeline.Notify.Delivery;

/// <summary>Where digests get their papers; rank in the service, canned papers in the benchmark.</summary>
public interface IPaperSource
{
    /// <summary>The subscriber's recommendations since <paramref name="since"/>, best first, without <paramref name="exclude"/>.</summary>
    Task<IReadOnlyList<DigestPaper>> RecommendAsync(Subscriber subscriber, DateTimeOffset since, int limit, IReadOnlyCollection<string> exclude, CancellationToken cancellationToken);

    /// <summary>
    /// What is trending over a day or (weekly digests) a week, without what <paramref name="subscriber"/>
    /// was sent or voted down; the page everyone sees when <paramref name="subscriber"/> is null.
    /// </summary>
    Task<IReadOnlyList<DigestPaper>> TrendingAsync(Subscriber? subscriber, bool week, int limit, CancellationToken cancellationToken);
}

/// <summary>
/// Rank's Recommend and Trending. A digest asks for its subscriber's trending page (rank leaves out
/// what they were sent, however long ago, and what they voted down); for a subscriber rank does not
/// know (yet), the page everyone sees, asked once a minute and shared by every such digest. Both
/// have deadlines well inside a digest's claim (<see cref="DigestSender.SendLease"/>, 5 minutes),
/// so a rank that hangs fails the digest (retried later) instead of holding it past its lease.
/// </summary>
public sealed class RankPaperSource(RankingService.RankingServiceClient rank, TimeProvider clock) : IPaperSource
{
    private static readonly TimeSpan TrendingFresh = TimeSpan.FromMinutes(1);

    /// <summary>How long one digest's Recommend may take, both of its calls together (the second asks by interests).</summary>
    public static readonly TimeSpan DefaultRecommendTimeout = TimeSpan.FromSeconds(60);

    /// <summary><see cref="DefaultRecommendTimeout"/>; tests shorten it.</summary>
    public TimeSpan RecommendTimeout { get; internal set; } = DefaultRecommendTimeout;
    private readonly Lock _gate = new();
    private readonly Dictionary<bool, (DateTimeOffset At, Task<IReadOnlyList<DigestPaper>> Papers)> _trending = [];

    public async Task<IReadOnlyList<DigestPaper>> RecommendAsync(Subscriber subscriber, DateTimeOffset since, int limit, IReadOnlyCollection<string> exclude, CancellationToken cancellationToken)
    {
        var request = new RecommendRequest { SubscriberId = subscriber.Id, Since = Google.Protobuf.WellKnownTypes.Timestamp.FromDateTimeOffset(since), Limit = limit };
        request.ExcludePaperIds.AddRange(exclude);
        var deadline = DateTime.UtcNow + RecommendTimeout;
        try
        {
            return Map(await rank.RecommendAsync(request, deadline: deadline, cancellationToken: cancellationToken));
        }
        catch (RpcException e) when (e.StatusCode == StatusCode.Unauthenticated)
        {
            throw KeyRefused(e);
        }
        catch (RpcException e) when (e.StatusCode == StatusCode.NotFound)
        {
            // Rank has not (yet) heard of the subscriber, e.g. its Redis was rebuilt: ask by interests.
            request.SubscriberId = "";
            request.Interests.AddRange(subscriber.Interests);
            request.Authors.AddRange(subscriber.Authors);
            request.Categories.AddRange(subscriber.Categories);
            return Map(await rank.RecommendAsync(request, deadline: deadline, cancellationToken: cancellationToken));
        }
    }

    public async Task<IReadOnlyList<DigestPaper>> TrendingAsync(Subscriber? subscriber, bool week, int limit, CancellationToken cancellationToken)
    {
        if (subscriber is not null)
        {
            var request = new TrendingRequest { Window = Window(week), Limit = limit, SubscriberId = subscriber.Id };
            try
            {
                return Map(await rank.TrendingAsync(request, deadline: DateTime.UtcNow.AddSeconds(30), cancellationToken: cancellationToken));
            }
            catch (RpcException e) when (e.StatusCode == StatusCode.Unauthenticated)
            {
                throw KeyRefused(e);
            }
            catch (RpcException e) when (e.StatusCode == StatusCode.NotFound)
            {
                // Rank has not (yet) heard of the subscriber: the shared page (notify leaves out its own recent deliveries).
            }
        }

        return await SharedTrendingAsync(week, limit);
    }

    private static TrendingWindow Window(bool week) => week ? TrendingWindow.Week : TrendingWindow.Day;

    private Task<IReadOnlyList<DigestPaper>> SharedTrendingAsync(bool week, int limit)
    {
        var now = clock.GetUtcNow();
        lock (_gate)
        {
            if (_trending.TryGetValue(week, out var cached) && now - cached.At < TrendingFresh && !cached.Papers.IsFaulted)
            {
                return cached.Papers;
            }

            var papers = AskTrendingAsync(week, limit);
            _trending[week] = (now, papers);
            return papers;
        }
    }

    private async Task<IReadOnlyList<DigestPaper>> AskTrendingAsync(bool week, int limit)
    {
        var request = new TrendingRequest { Window = Window(week), Limit = limit };
        return Map(await rank.TrendingAsync(request, deadline: DateTime.UtcNow.AddSeconds(30)));
    }

    /// <summary>Rank refused notify's key: a digest failure that says what to fix.</summary>
    private static RankKeyRefusedException KeyRefused(RpcException e) =>
        new($"rank refused notify's API key ({e.Status.Detail}): give notify a key rank accepts, in Services__rank__apiKey or as its first Security__ApiKeys entry.", e);

    private static IReadOnlyList<DigestPaper> Map(RankedPapers answer) =>
        answer.Papers.Select(p => new DigestPaper(p.Id, p.Title, p.Authors, p.Categories, p.Url, p.Abstract, p.Reason,
            p.PublishedAt?.ToDateTimeOffset(), p.TraceParent is { Length: > 0 } t ? t : null)).ToArray();
}

/// <summary>Rank refused the API key notify sends: a configuration to fix, not an outage to wait out.</summary>
public sealed class RankKeyRefusedException(string message, Exception inner) : InvalidOperationException(message, inner);
