using Pipeline.Notify.Consumers;
using Pipeline.Notify.Delivery;
using Pipeline.Notify.Grpc;
using Pipeline.Notify.Pages;
using Pipeline.Notify.Storage;
using Pipeline.ServiceDefaults;
using StackExchange.Redis;

var builder = WebApplication.CreateBuilder(args);
builder.AddServiceDefaults("notify", bus => bus.AddConsumer<PaperMatchedConsumer>());
builder.Services.Configure<SmtpOptions>(builder.Configuration.GetSection("Smtp"));
builder.Services.Configure<NotifyOptions>(builder.Configuration.GetSection("Notify"));
builder.Services.AddSingleton(TimeProvider.System);
builder.Services.AddSingleton<SubscriberStore>();
builder.Services.AddSingleton<DeliveryLedger>();
builder.Services.AddSingleton(sp => new SubscriptionTokens(
    TokenKey.Resolve(sp.GetRequiredService<IConfiguration>(), sp.GetRequiredService<IDatabase>()),
    sp.GetRequiredService<TimeProvider>()));
builder.Services.AddSingleton<MailSender>();
builder.Services.AddSingleton<Subscriptions>();

var app = builder.Build();
app.MapGrpcService<SubscriptionGrpcService>();
app.MapSubscriptionPages();
app.MapServiceDefaults();
app.Run();
