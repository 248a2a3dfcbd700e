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

// Search queries: by default an int8 copy of the model, a query per run (Embedding:QueryPrecision).
// The container owns (and disposes) the second model and its batcher, made only when used.
builder.Services.AddKeyedSingleton(EmbedGrpcService.Queries, (sp, _) => new MiniLmEmbedder(
    sp.GetRequiredService<IOptions<EmbeddingOptions>>().Value.ForQueries(),
    sp.GetRequiredService<ILogger<MiniLmEmbedder>>()));
builder.Services.AddKeyedSingleton(EmbedGrpcService.Queries, (sp, key) => new EmbeddingBatcher(
    sp.GetRequiredKeyedService<MiniLmEmbedder>(key),
    sp.GetRequiredService<IOptions<EmbeddingOptions>>().Value.ForQueries(),
    sp.GetRequiredService<ServiceIdentity>().ActivitySource,
    sp.GetRequiredService<ServiceIdentity>().Meter,
    sp.GetRequiredService<ILogger<EmbeddingBatcher>>()));
builder.Services.AddKeyedSingleton(EmbedGrpcService.Queries, (sp, key) =>
    sp.GetRequiredService<IOptions<EmbeddingOptions>>().Value.SeparateQueryModel
        ? new CachedEmbedder(sp.GetRequiredKeyedService<EmbeddingBatcher>(key), sp.GetRequiredService<EmbeddingCache>())
        : sp.GetRequiredService<CachedEmbedder>());

var app = builder.Build();

// Load the models (about a second each) before the first message or call, not during it.
app.Services.GetRequiredService<EmbeddingBatcher>();
app.Services.GetRequiredKeyedService<CachedEmbedder>(EmbedGrpcService.Queries);
// Loading read each model's bytes (90 MB, and the int8 rewrite's copies) into arrays now garbage:
// hand that memory back once, instead of holding it until the first full collection.
GC.Collect(GC.MaxGeneration, GCCollectionMode.Aggressive, blocking: true, compacting: true);

app.MapGrpcService<EmbedGrpcService>();
app.MapServiceDefaults();

app.Run();
