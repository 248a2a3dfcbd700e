using MassTransit;
using Pipeline.Contracts.Rank.V1;
using Pipeline.Notify.Consumers;
using Pipeline.Notify.Delivery;
using Pipeline.Notify.Grpc;
using Pipeline.Notify.Pages;
using Pipeline.Notify.Storage;
using Pipeline.ServiceDefaults;
using StackExchange.Redis;

var builder = WebApplication.CreateBuilder(args);
builder.AddServiceDefaults("notify", bus => bus.AddConsumer<PaperMatchedConsumer, PaperMatchedConsumerDefinition>());
// Notify asks rank for its subscribers' pages, which rank gives only with an API key.
builder.AddPipelineGrpcClient<RankingService.RankingServiceClient>("rank").WithPipelineApiKey("rank");
builder.Services.AddOptions<SmtpOptions>().Bind(builder.Configuration.GetSection("Smtp")).ValidateOnStart();
builder.Services.AddSingleton<Microsoft.Extensions.Options.IValidateOptions<SmtpOptions>, SmtpOptionsValidator>();
builder.Services.Configure<NotifyOptions>(builder.Configuration.GetSection("Notify"));
// An alert's last attempt after waiting out an outage may be a whole SMTP send (six of its
// timeouts): the waits leave room for it inside the consumer watchdog's patience.
builder.Services.AddSingleton(sp => new Pipeline.ServiceDefaults.Messaging.OutageRetry(
    Pipeline.ServiceDefaults.Messaging.BusRetry.OutageIntervals(builder.Configuration),
    Pipeline.ServiceDefaults.Messaging.BusRetry.MaxHold(builder.Configuration,
        longestAttempt: TimeSpan.FromSeconds(6 * Math.Max(1, builder.Configuration.GetValue("Smtp:TimeoutSeconds", 30)))),
    sp.GetRequiredService<ILogger<Pipeline.ServiceDefaults.Messaging.OutageRetry>>()));
builder.Services.AddSingleton(TimeProvider.System);

// Storage: subscribers, the delivery ledger and log, the digest schedule, papers' traces, alerts kept through SMTP outages.
builder.Services.AddSingleton<SubscriberStore>();
builder.Services.AddSingleton<NotifyInstance>();
builder.Services.AddHostedService<NotifyInstanceHeartbeat>();
builder.Services.AddSingleton<DeliveryLedger>();
builder.Services.AddSingleton<DigestSchedule>();
builder.Services.AddSingleton<PaperTraceStore>();
builder.Services.AddSingleton<DeferredAlerts>();
builder.Services.AddSingleton(sp => new SubscriptionTokens(
    TokenKey.Resolve(sp.GetRequiredService<IConfiguration>(), sp.GetRequiredService<IDatabase>()),
    sp.GetRequiredService<TimeProvider>(),
    TokenKey.Previous(sp.GetRequiredService<IConfiguration>(), sp.GetRequiredService<IDatabase>())));

// Delivery: subscriptions, SMTP over pooled connections, digests from rank on a schedule, alerts (kept ones retried).
builder.Services.AddSingleton<SmtpConnectionPool>();
builder.Services.AddSingleton<SmtpOutage>();
builder.Services.AddSingleton<MailSender>();
builder.Services.AddSingleton<SubscribeRateLimits>();
builder.Services.AddSingleton<Subscriptions>();
builder.Services.AddSingleton<IPaperSource, RankPaperSource>();
builder.Services.AddSingleton<DigestSender>();
builder.Services.AddHostedService<DigestScheduler>();
builder.Services.AddSingleton<AlertSender>();
builder.Services.AddHostedService<DeferredAlertSender>();
builder.Services.AddHealthChecks().AddCheck<SmtpHealthCheck>("smtp", tags: ["ready"]);

var app = builder.Build();
app.MapGrpcService<SubscriptionGrpcService>();
app.MapSubscriptionPages();
app.MapServiceDefaults();
app.Run();
