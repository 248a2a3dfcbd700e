using Grpc.Core;
using Microsoft.Extensions.Options;
using Pipeline.Contracts.Embed.V1;
using Pipeline.Embed.Embedding;

namespace Pipeline.Embed.Grpc;

/// <summary>
/// pipeline.embed.v1.EmbedService: embeds interest and query text for rank and any client;
/// TEXT_KIND_QUERY texts through <paramref name="queries"/> (an int8 model by default).
/// </summary>
public sealed class EmbedGrpcService(
    CachedEmbedder embedder,
    [FromKeyedServices(EmbedGrpcService.Queries)] CachedEmbedder queries,
    IOptions<EmbeddingOptions> options) : EmbedService.EmbedServiceBase
{
    /// <summary>The service key of the embedder for TEXT_KIND_QUERY texts.</summary>
    public const string Queries = "queries";

    private readonly int _maxTextsPerCall = options.Value.MaxTextsPerCall;

    public override async Task<EmbedResponse> Embed(EmbedRequest request, ServerCallContext context)
    {
        if (request.Texts.Count == 0)
        {
            throw new RpcException(new Status(StatusCode.InvalidArgument, "texts is empty: send at least one text to embed."));
        }

        if (request.Texts.Count > _maxTextsPerCall)
        {
            throw new RpcException(new Status(StatusCode.InvalidArgument,
                $"texts has {request.Texts.Count} entries; at most {_maxTextsPerCall} are allowed per call (see GetModel.max_texts_per_call)."));
        }

        var chosen = request.Kind switch
        {
            TextKind.Query => queries,
            TextKind.Unspecified or TextKind.Document => embedder,
            _ => throw new RpcException(new Status(StatusCode.InvalidArgument,
                $"kind {(int)request.Kind} is not a TextKind: send TEXT_KIND_DOCUMENT (or leave it unset) or TEXT_KIND_QUERY.")),
        };
        float[][] vectors;
        try
        {
            (vectors, _) = await chosen.EmbedAsync(request.Texts, context.CancellationToken);
        }
        catch (EmbeddingQueueFullException e)
        {
            throw new RpcException(new Status(StatusCode.ResourceExhausted, e.Message));
        }

        var response = new EmbedResponse { Model = chosen.ModelId };
        foreach (var vector in vectors)
        {
            var embedding = new Pipeline.Contracts.Embed.V1.Embedding();
            embedding.Values.Add(vector);
            response.Embeddings.Add(embedding);
        }

        return response;
    }

    public override Task<ModelInfo> GetModel(GetModelRequest request, ServerCallContext context) =>
        Task.FromResult(new ModelInfo
        {
            Id = embedder.ModelId,
            Dimensions = MiniLmEmbedder.Dimensions,
            MaxWordPieces = MiniLmEmbedder.MaxWordPieces,
            MaxTextsPerCall = _maxTextsPerCall,
            QueryModel = queries.ModelId,
        });
}
