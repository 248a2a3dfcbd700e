using System.Globalization;
using Grpc.Core;
using Pipeline.Contracts.Ingest.V1;
using Google.Protobuf.WellKnownTypes;
using Pipeline.Ingest.Papers;
using Pipeline.Ingest.Sources;
using Pipeline.Ingest.Storage;
using Pipeline.ServiceDefaults;
using Pipeline.ServiceDefaults.Messaging;

namespace Pipeline.Ingest.Grpc;

public sealed class IngestGrpcService(PaperIntake intake, PaperStore store, SourceRunner sources, ApiKeyValidator apiKeys, IConfiguration configuration, ServiceIdentity identity)
    : IngestService.IngestServiceBase
{
    /// <summary>Papers per SubmitPapers call; larger imports go in several calls.</summary>
    public const int MaxPapersPerCall = 1_000;

    public override async Task<SubmitPapersResponse> SubmitPapers(SubmitPapersRequest request, ServerCallContext context)
    {
        apiKeys.Require(context);
        if (request.Papers.Count == 0)
        {
            throw new RpcException(new Status(StatusCode.InvalidArgument, "papers is empty: send at least one paper."));
        }

        if (request.Papers.Count > MaxPapersPerCall)
        {
            throw new RpcException(new Status(StatusCode.InvalidArgument, $"At most {MaxPapersPerCall} papers per call; this call has {request.Papers.Count}."));
        }

        var submissions = request.Papers.Select(PaperMapping.ToSubmission).ToArray();
        // The call's span: how many papers it brought (each paper's id is on embed's and rank's spans).
        System.Diagnostics.Activity.Current?.SetTag("ingest.papers", submissions.Length);
        var results = await SubmitAsync(submissions, context.CancellationToken);
        return ToResponse(results);
    }

    /// <summary>The intake, with a broker that did not confirm the events answered as UNAVAILABLE: a repeat is safe.</summary>
    private async Task<IReadOnlyList<IntakeResult>> SubmitAsync(IReadOnlyList<PaperSubmission> submissions, CancellationToken cancellationToken)
    {
        try
        {
            return await intake.SubmitAsync(submissions, cancellationToken);
        }
        catch (PublishNotConfirmedException e)
        {
            throw new RpcException(new Status(StatusCode.Unavailable,
                $"The papers are stored, but the broker did not confirm their events ({e.Message}). Send the same call again: papers stored but not yet announced are announced then, and a paper announced twice is taken once. Ingest also announces them by itself once the broker is back."));
        }
    }

    /// <summary>Papers per intake batch of the streaming import.</summary>
    public const int ImportBatchSize = 500;

    /// <summary>
    /// The streaming import: any number of papers, taken in batches of <see cref="ImportBatchSize"/>
    /// as they arrive, answered at the end with the counts and, per paper, up to
    /// <c>Ingest:ImportListedResults</c> (10,000) papers; past that only the rejected ones, as many,
    /// so memory and the answer stay bounded however long the stream.
    /// </summary>
    public override async Task<SubmitPapersResponse> ImportPapers(IAsyncStreamReader<Paper> requestStream, ServerCallContext context)
    {
        apiKeys.Require(context);
        var listedMost = Math.Max(1, configuration.GetValue("Ingest:ImportListedResults", 10_000));
        var listed = new List<IntakeResult>();
        var counts = new Dictionary<IntakeOutcome, int>();
        var taken = 0;
        var limited = false;
        var batch = new List<PaperSubmission>(ImportBatchSize);
        async Task FlushAsync()
        {
            // Each batch is a trace of its own, linked to the call (BatchTrace).
            using var batchTrace = BatchTrace.Start(identity.ActivitySource, "import batch", batch.Count);
            var offset = taken;
            var results = await SubmitAsync(batch, context.CancellationToken);
            taken += batch.Count;
            foreach (var result in results)
            {
                counts[result.Outcome] = counts.GetValueOrDefault(result.Outcome) + 1;
                if (!limited && listed.Count == listedMost)
                {
                    // More papers than are listed: from here on only the rejected ones.
                    limited = true;
                    listed.RemoveAll(r => r.Outcome != IntakeOutcome.Rejected);
                }

                if ((!limited || result.Outcome == IntakeOutcome.Rejected) && listed.Count < listedMost)
                {
                    listed.Add(result with { Index = result.Index + offset });
                }
            }

            batch.Clear();
        }

        await foreach (var paper in requestStream.ReadAllAsync(context.CancellationToken))
        {
            batch.Add(PaperMapping.ToSubmission(paper));
            if (batch.Count == ImportBatchSize)
            {
                await FlushAsync();
            }
        }

        if (batch.Count > 0)
        {
            await FlushAsync();
        }

        var response = ToResponse(listed);
        response.Accepted = counts.GetValueOrDefault(IntakeOutcome.Accepted);
        response.Updated = counts.GetValueOrDefault(IntakeOutcome.Updated);
        response.Duplicates = counts.GetValueOrDefault(IntakeOutcome.Duplicate);
        response.Rejected = counts.GetValueOrDefault(IntakeOutcome.Rejected);
        response.ResultsLimited = limited;
        return response;
    }

    private static SubmitPapersResponse ToResponse(IReadOnlyList<IntakeResult> results)
    {
        var response = new SubmitPapersResponse();
        foreach (var r in results)
        {
            response.Results.Add(new SubmitResult
            {
                Index = r.Index,
                Id = r.Id,
                Outcome = r.Outcome switch
                {
                    IntakeOutcome.Accepted => SubmitOutcome.Accepted,
                    IntakeOutcome.Updated => SubmitOutcome.Updated,
                    IntakeOutcome.Duplicate => SubmitOutcome.Duplicate,
                    _ => SubmitOutcome.Rejected,
                },
                Reason = r.Outcome == IntakeOutcome.Rejected ? r.Reason ?? "" : "",
            });
        }

        response.Accepted = results.Count(r => r.Outcome == IntakeOutcome.Accepted);
        response.Updated = results.Count(r => r.Outcome == IntakeOutcome.Updated);
        response.Duplicates = results.Count(r => r.Outcome == IntakeOutcome.Duplicate);
        response.Rejected = results.Count(r => r.Outcome == IntakeOutcome.Rejected);
        return response;
    }

    public override async Task<Paper> GetPaper(GetPaperRequest request, ServerCallContext context)
    {
        if (string.IsNullOrWhiteSpace(request.Id))
        {
            throw new RpcException(new Status(StatusCode.InvalidArgument, "id is required."));
        }

        if (request.Id.Length > PaperValidator.MaxIdLength)
        {
            // No stored id is longer, and the answer does not echo megabytes back.
            throw new RpcException(new Status(StatusCode.InvalidArgument, $"id is longer than {PaperValidator.MaxIdLength} characters."));
        }

        // As a user copies it: "2410.17243v2" or "arxiv:2410.17243" finds 2410.17243.
        var stored = await store.GetAsync(PaperValidator.StoredId(request.Id))
            ?? throw new RpcException(new Status(StatusCode.NotFound, $"No paper with id '{request.Id}'."));
        return PaperMapping.ToProto(stored);
    }

    public override async Task<ListPapersResponse> ListPapers(ListPapersRequest request, ServerCallContext context)
    {
        var limit = request.Limit switch
        {
            0 => 100,
            < 0 or > 1_000 => throw new RpcException(new Status(StatusCode.InvalidArgument, "limit must be between 1 and 1000.")),
            var l => l,
        };
        long offset = 0;
        if (request.PageToken.Length > 0 && (!long.TryParse(request.PageToken, NumberStyles.None, CultureInfo.InvariantCulture, out offset)))
        {
            throw new RpcException(new Status(StatusCode.InvalidArgument, "page_token is not one this service gave out."));
        }

        var (papers, next) = await store.ListAsync(offset, limit);
        var response = new ListPapersResponse { NextPageToken = next?.ToString(CultureInfo.InvariantCulture) ?? "" };
        response.Papers.AddRange(papers.Select(PaperMapping.ToProto));
        return response;
    }

    /// <summary>Runs one source now (after a run under way) and answers its status.</summary>
    public override async Task<PollSourceResponse> PollSource(PollSourceRequest request, ServerCallContext context)
    {
        apiKeys.Require(context);
        if (string.IsNullOrWhiteSpace(request.Source))
        {
            throw new RpcException(new Status(StatusCode.InvalidArgument, $"source is required; sources: {string.Join(", ", sources.Sources.Select(s => s.Name))}."));
        }

        var source = sources.Find(request.Source.Trim())
            ?? throw new RpcException(new Status(StatusCode.NotFound, $"No source '{request.Source}'; sources: {string.Join(", ", sources.Sources.Select(s => s.Name))}."));
        if (!source.Options.Enabled)
        {
            throw new RpcException(new Status(StatusCode.FailedPrecondition, $"Source '{source.Name}' is disabled; enable it under Sources in configuration."));
        }

        var state = await sources.RunAsync(source, context.CancellationToken);
        return new PollSourceResponse { Status = ToProto(source, state, includeBodies: false) };
    }

    public override async Task<ListSourcesResponse> ListSources(ListSourcesRequest request, ServerCallContext context)
    {
        var response = new ListSourcesResponse();
        foreach (var source in sources.Sources)
        {
            response.Sources.Add(ToProto(source, await sources.StateAsync(source.Name), request.IncludeBodies));
        }

        return response;
    }

    private SourceStatus ToProto(IPaperSource source, SourceState state, bool includeBodies)
    {
        static Timestamp? At(DateTimeOffset? at) => at is { } t ? Timestamp.FromDateTimeOffset(t) : null;
        var status = new SourceStatus
        {
            Name = source.Name,
            Enabled = source.Options.Enabled,
            LastRun = At(state.LastRun),
            LastRunOk = state.LastRunOk,
            LastSuccess = At(state.LastSuccess),
            NewPapers = state.Counts.New,
            Updated = state.Counts.Updated,
            Duplicates = state.Counts.Duplicate,
            Rejected = state.Counts.Rejected,
            Skipped = state.Counts.Skipped,
            LastError = state.LastError ?? "",
            LastErrorAt = At(state.LastErrorAt),
            Cursor = state.Cursor ?? "",
            NextRun = source.Options.Enabled && sources.Options.SchedulerEnabled
                ? At(state.LastRun is { } last ? last + source.Options.Interval : DateTimeOffset.UtcNow)
                : null,
        };
        status.RecentRejections.AddRange(state.Rejections.Select(r => new SourceRejection { At = At(r.At), Entry = r.Entry, Reason = r.Reason }));
        status.KeptBodies.AddRange(state.Bodies.Select(b => new KeptBody { At = At(b.At), Url = b.Url, Reason = b.Reason, Size = b.Size, Body = includeBodies ? b.Body : "" }));
        return status;
    }
}
