using Pipeline.Contracts.Embed.V1;
using Pipeline.Contracts.Ingest.V1;
using Pipeline.Rank.Consumers;
using Pipeline.Rank.Grpc;
using Pipeline.Rank.Ranking;
using Pipeline.Rank.Ranking.Relevance;
using Pipeline.Rank.Storage;
using Pipeline.ServiceDefaults;

var builder = WebApplication.CreateBuilder(args);
builder.AddServiceDefaults("rank", bus =>
{
    bus.AddConsumer<PaperEmbeddedConsumer>();
    bus.AddConsumer<SubscriberChangedConsumer>();
    bus.AddConsumer<DigestSentConsumer>();
});
builder.AddPipelineGrpcClient<EmbedService.EmbedServiceClient>("embed");
// Only for rebuilding rank's state from upstream when its Redis was lost.
builder.AddPipelineGrpcClient<IngestService.IngestServiceClient>("ingest");
builder.AddPipelineGrpcClient<Pipeline.Contracts.Notify.V1.SubscriptionService.SubscriptionServiceClient>("notify");
builder.Services.AddSingleton(TimeProvider.System);
builder.Services.AddSingleton<RankStore>();
builder.Services.AddSingleton<PaperIndex>();
builder.Services.AddSingleton(sp => new RelevanceRanker(sp.GetRequiredService<PaperIndex>())
{
    ConcurrentSides = builder.Configuration.GetValue("Ranking:ConcurrentSides", true),
});
builder.Services.AddSingleton<ProfileIndex>();
builder.Services.AddSingleton<Feedback>();
builder.Services.AddSingleton<FeedbackStore>();
// Votes, written to Redis and counted in memory one (voter, paper) at a time.
builder.Services.AddSingleton<VoteRecorder>();
builder.Services.AddSingleton<SentHistoryLoader>();
builder.Services.AddSingleton<TextEmbedder>();
builder.Services.AddSingleton<TrendingBoard>();
builder.Services.AddSingleton<InstantMatcher>();
builder.Services.AddSingleton<RankingGate>();
builder.Services.AddSingleton<SubscriberQueries>();
// Each subscriber's last ranking, kept until the papers, the profile, the votes or the history change.
builder.Services.AddSingleton<KeptRankings>();
builder.Services.AddSingleton<UpstreamRebuild>();
// Fills the in-memory indexes from rank's Redis before the service takes traffic.
builder.Services.AddHostedService<IndexLoader>();
builder.Services.AddHostedService<FeedbackLoader>();
// Opens when both loads are done (hosted services start in order); the consumers wait for it.
builder.Services.AddSingleton<StartupGate>();
builder.Services.AddHostedService(sp => sp.GetRequiredService<StartupGate>());
// Ranks every subscriber ahead of their next Recommend once the papers are quiet.
builder.Services.AddHostedService<KeptRankingsWarmer>();

var app = builder.Build();
app.MapGrpcService<RankingGrpcService>();
app.MapServiceDefaults();
app.Run();
