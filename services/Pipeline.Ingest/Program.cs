using Pipeline.Ingest.Grpc;
using Pipeline.Ingest.Papers;
using Pipeline.Ingest.Sources;
using Pipeline.Ingest.Storage;
using Pipeline.ServiceDefaults;

var builder = WebApplication.CreateBuilder(args);
builder.AddServiceDefaults("ingest");
builder.Services.AddSingleton(TimeProvider.System);
builder.Services.AddSingleton<PaperStore>();
builder.Services.AddSingleton<PaperIntake>();
builder.Services.Configure<RepublishOptions>(builder.Configuration.GetSection("Republish"));
builder.Services.AddHostedService<UnpublishedPaperSweeper>();
builder.AddPaperSources();

var app = builder.Build();
app.MapGrpcService<IngestGrpcService>();
app.MapServiceDefaults();
app.Run();
