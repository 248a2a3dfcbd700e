using MassTransit;
using Microsoft.Extensions.Options;
using Pipeline.Embed.Consumers;
using Pipeline.Embed.Embedding;
using Pipeline.Embed.Grpc;
using Pipeline.Embed.Storage;
using Pipeline.ServiceDefaults;

var builder = WebApplication.CreateBuilder(args);

// Telemetry, embed's Redis, the bus (PaperIngested in), gRPC, health.
builder.AddServiceDefaults("embed", bus => bus.AddConsumer<PaperIngestedConsumer, PaperIngestedConsumerDefinition>());

// The model, the queue that batches callers into shared runs, the vector cache, and the three put together.
builder.Services.Configure<EmbeddingOptions>(builder.Configuration.GetSection(EmbeddingOptions.SectionName));
builder.Services.AddSingleton(sp => new MiniLmEmbedder(
    sp.GetRequiredService<IOptions<EmbeddingOptions>>().Value,
    sp.GetRequiredService<ILogger<MiniLmEmbedder>>()));
builder.Services.AddSingleton(sp => new EmbeddingBatcher(
    sp.GetRequiredService<MiniLmEmbedder>(),
    sp.GetRequiredService<IOptions<EmbeddingOptions>>().Value,
    sp.GetRequiredService<ServiceIdentity>().ActivitySource,
    sp.GetRequiredService<ServiceIdentity>().Meter,
    sp.GetRequiredService<ILogger<EmbeddingBatcher>>()));
builder.Services.AddSingleton<EmbeddingCache>();
builder.Services.AddSingleton<CachedEmbedder>();

var app = builder.Build();

// Load the model (about a second) before the first message or call, not during it.
app.Services.GetRequiredService<EmbeddingBatcher>();

app.MapGrpcService<EmbedGrpcService>();
app.MapServiceDefaults();

app.Run();
