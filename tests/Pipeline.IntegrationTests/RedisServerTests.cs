using Pipeline.Testing;
using Pipeline.Testing.Processes;
using StackExchange.Redis;

namespace Pipeline.IntegrationTests;

public sealed class RedisServerTests
{
    [Fact]
    public async Task A_started_server_stores_and_returns_a_value()
    {
        await using var redis = await RedisServer.StartNewAsync();
        await using var connection = await ConnectionMultiplexer.ConnectAsync(redis.ConnectionString);
        var db = connection.GetDatabase();

        await db.StringSetAsync("paper:2410.17243", "title");

        Assert.Equal("title", (string?)await db.StringGetAsync("paper:2410.17243"));
        Assert.Equal($"127.0.0.1:{redis.Port}", redis.ConnectionString);
    }

    [Fact]
    public async Task A_killed_server_restarts_on_the_same_port_without_its_data_by_default()
    {
        await using var redis = await RedisServer.StartNewAsync();
        await using (var connection = await ConnectionMultiplexer.ConnectAsync(redis.ConnectionString))
        {
            await connection.GetDatabase().StringSetAsync("k", "v");
        }

        var pid = redis.ProcessId;
        await redis.KillAsync();

        Assert.False(redis.IsRunning);
        Assert.False(ProcessTable.IsAlive(pid!.Value));
        Assert.False(await redis.PingAsync());

        await redis.StartAsync();

        await using var again = await ConnectionMultiplexer.ConnectAsync(redis.ConnectionString);
        Assert.Equal($"127.0.0.1:{redis.Port}", redis.ConnectionString);
        Assert.False(await again.GetDatabase().KeyExistsAsync("k"));
    }

    [Fact]
    public async Task With_append_only_on_a_value_survives_a_kill()
    {
        await using var redis = await RedisServer.StartNewAsync(new RedisServerOptions { AppendOnly = true });
        await using (var connection = await ConnectionMultiplexer.ConnectAsync(redis.ConnectionString))
        {
            await connection.GetDatabase().StringSetAsync("durable", "yes");
        }

        await redis.KillAsync();
        await redis.StartAsync();

        await using var again = await ConnectionMultiplexer.ConnectAsync(redis.ConnectionString);
        Assert.Equal("yes", (string?)await again.GetDatabase().StringGetAsync("durable"));
    }

    [Fact]
    public async Task A_client_reconnects_by_itself_after_a_graceful_restart()
    {
        await using var redis = await RedisServer.StartNewAsync();
        var options = ConfigurationOptions.Parse(redis.ConnectionString);
        options.AbortOnConnectFail = false;
        await using var connection = await ConnectionMultiplexer.ConnectAsync(options);
        var db = connection.GetDatabase();
        await db.StringSetAsync("before", "1");

        await redis.RestartAsync();

        var deadline = DateTime.UtcNow.AddSeconds(20);
        while (true)
        {
            try
            {
                await db.StringSetAsync("after", "2");
                break;
            }
            catch (RedisConnectionException) when (DateTime.UtcNow < deadline)
            {
                await Task.Delay(200);
            }
        }

        Assert.Equal("2", (string?)await db.StringGetAsync("after"));
    }

    [Fact]
    public async Task A_paused_server_does_not_answer_until_resumed()
    {
        await using var redis = await RedisServer.StartNewAsync();

        redis.Pause();
        try
        {
            Assert.False(await redis.PingAsync());
        }
        finally
        {
            redis.Resume();
        }

        Assert.True(await redis.PingAsync());
    }
}
