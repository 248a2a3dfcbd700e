using Grpc.Core;
using Pipeline.Contracts.Embed.V1;

namespace Pipeline.Rank.Ranking;

/// <summary>Embeds query and interest text through the embed service's gRPC API.</summary>
public sealed class TextEmbedder(EmbedService.EmbedServiceClient client)
{
    public async Task<IReadOnlyList<float[]>> EmbedAsync(IReadOnlyList<string> texts, CancellationToken cancellationToken)
    {
        if (texts.Count == 0)
        {
            return [];
        }

        var request = new EmbedRequest();
        request.Texts.AddRange(texts);
        var response = await client.EmbedAsync(request, deadline: DateTime.UtcNow.AddSeconds(30), cancellationToken: cancellationToken);
        if (response.Embeddings.Count != texts.Count)
        {
            throw new RpcException(new Status(StatusCode.Internal, $"embed answered {response.Embeddings.Count} vectors for {texts.Count} texts"));
        }

        return response.Embeddings.Select(e => e.Values.ToArray()).ToArray();
    }
}
