using System.Globalization;
using Grpc.Core;
using Pipeline.Contracts.Ingest.V1;
using Pipeline.Ingest.Papers;
using Pipeline.Ingest.Storage;
using Pipeline.ServiceDefaults;

namespace Pipeline.Ingest.Grpc;

public sealed class IngestGrpcService(PaperIntake intake, PaperStore store, ApiKeyValidator apiKeys) : IngestService.IngestServiceBase
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
        var results = await intake.SubmitAsync(submissions, context.CancellationToken);

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
                Reason = r.Reason ?? "",
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

        var stored = await store.GetAsync(request.Id.Trim())
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

    // Sources arrive with the ingest-sources issue.
    public override Task<PollSourceResponse> PollSource(PollSourceRequest request, ServerCallContext context)
    {
        apiKeys.Require(context);
        throw new RpcException(new Status(StatusCode.Unimplemented, "Polling sources is not implemented yet."));
    }

    public override Task<ListSourcesResponse> ListSources(ListSourcesRequest request, ServerCallContext context) =>
        throw new RpcException(new Status(StatusCode.Unimplemented, "Sources are not implemented yet."));
}
