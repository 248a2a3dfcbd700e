using System.Diagnostics;

namespace Pipeline.Ingest.Papers;

/// <summary>
/// A trace of its own for one batch of papers from a source's poll or a streamed import, linked to
/// the poll's or the call's span. Under one trace, a poll of a few thousand papers or an import of a
/// hundred thousand (each paper's hops through embed, rank and notify, with their Redis commands)
/// would be one trace of hundreds of thousands of spans, which trace viewers cannot open and which
/// stays incomplete until the poll or the import ends; a batch keeps each trace to one page or
/// <see cref="Grpc.IngestGrpcService.ImportBatchSize"/> papers. <c>SubmitPapers</c> (at most 1,000
/// papers) stays one trace, from the call to each inbox.
/// </summary>
public static class BatchTrace
{
    /// <summary>
    /// Starts the batch's root span (<paramref name="name"/>, tag <c>ingest.papers</c>), with a link
    /// to the current span, and makes it current. Call it in the async method that submits the
    /// batch: the caller's current span is back once that method returns.
    /// </summary>
    public static Activity? Start(ActivitySource source, string name, int papers)
    {
        var caller = Activity.Current;
        Activity.Current = null;
        var activity = source.StartActivity(name, ActivityKind.Internal, parentContext: default,
            links: caller is null ? null : [new ActivityLink(caller.Context)]);
        activity?.SetTag("ingest.papers", papers);
        return activity;
    }
}
