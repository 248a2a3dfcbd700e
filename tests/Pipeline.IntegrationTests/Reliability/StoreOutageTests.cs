using System.Net;
using Grpc.Core;
using Pipeline.Contracts.Embed.V1;
using Pipeline.Contracts.Ingest.V1;
using Pipeline.Contracts.Rank.V1;
using Pipeline.IntegrationTests.Flow;
using Xunit.Abstractions;

namespace Pipeline.IntegrationTests.Reliability;

/// <summary>
/// A service's own Redis stops answering while clients call it (frozen with SIGSTOP, as a hung or
/// swapping server is; the fixture's Redis keeps no AOF, so a stopped one would come back empty):
/// its calls answer UNAVAILABLE (what gRPC clients retry), its readiness says so, and once Redis
/// answers again a client's retry completes the call, and the write it made survives a restart.
/// (A connection refused outright is answered the same way: <c>StoreUnavailableSpecs</c>.)
/// </summary>
public sealed class StoreOutageTests(ReliabilityFixture fixture, ITestOutputHelper output) : ReliabilityTestBase(fixture, output)
{
    [Fact]
    public async Task While_ranks_redis_is_down_calls_answer_unavailable_and_a_retried_vote_is_kept()
    {
        var category = SyntheticPapers.NewCategory();
        var paper = SyntheticPapers.OnTopic(category);
        await SubmitAllAsync([paper]);
        await WaitUntilAsync(async () => (await IndexedAsync(category)).Contains(paper.Id), "rank indexed the paper");
        var vote = new VoteRequest { PaperId = paper.Id, VoterId = $"voter-{Guid.NewGuid():N}", Value = 1 };
        var redis = Pipeline.Redis["rank"];
        using var http = new HttpClient();
        var ready = new Uri(Pipeline.HttpBase("rank"), "/health/ready");

        redis.Pause();
        Log("froze rank's Redis");
        try
        {
            // Search reads the abstracts of what it returns from Redis; Vote writes there. Each waits
            // for Redis up to StackExchange.Redis's timeout (5 s), then answers.
            var search = await Assert.ThrowsAsync<RpcException>(() => Pipeline.Rank.SearchAsync(
                new SearchRequest { Query = "protein structure prediction", Category = category, Limit = 5 }, deadline: DateTime.UtcNow.AddSeconds(30)).ResponseAsync);
            var voted = await Assert.ThrowsAsync<RpcException>(() => Pipeline.Rank.VoteAsync(vote, PipelineFixture.WithApiKey, deadline: DateTime.UtcNow.AddSeconds(30)).ResponseAsync);
            foreach (var e in new[] { search, voted })
            {
                Log($"{e.StatusCode}: {e.Status.Detail}");
                Assert.Equal(StatusCode.Unavailable, e.StatusCode);
                Assert.StartsWith("rank's Redis cannot be reached now", e.Status.Detail);
            }

            Assert.Equal(HttpStatusCode.ServiceUnavailable, (await http.GetAsync(ready)).StatusCode);
        }
        finally
        {
            redis.Resume();
            Log("rank's Redis answers again");
        }

        // A client retries an UNAVAILABLE call until it is answered.
        VoteResponse? answer = null;
        await WaitUntilAsync(async () =>
        {
            try
            {
                answer = await Pipeline.Rank.VoteAsync(vote, PipelineFixture.WithApiKey, deadline: DateTime.UtcNow.AddSeconds(10));
                return true;
            }
            catch (RpcException e) when (e.StatusCode == StatusCode.Unavailable)
            {
                return false;
            }
        }, "the retried vote is answered");
        Assert.True(answer!.Changed);
        Assert.Equal(1, answer.Votes);
        await WaitUntilAsync(async () => (await http.GetAsync(ready)).StatusCode == HttpStatusCode.OK, "rank is ready again");
        var found = await Pipeline.Rank.SearchAsync(new SearchRequest { Query = "protein structure prediction", Category = category, Limit = 5 });
        Assert.Equal(paper.Abstract, found.Papers.Single(p => p.Id == paper.Id).Abstract);

        // The vote was written to Redis, not only counted in memory: a restarted rank still counts it.
        await Pipeline.Services["rank"].RestartAsync();
        await Pipeline.Services["rank"].WaitUntilReadyAsync(ready, TimeSpan.FromSeconds(90));
        var again = await Pipeline.Rank.VoteAsync(vote, PipelineFixture.WithApiKey);
        Assert.False(again.Changed);
        Assert.Equal(1, again.Votes);
    }

    [Fact]
    public async Task While_embeds_redis_is_frozen_embedding_goes_on_at_speed_and_embed_reports_itself_degraded()
    {
        // Embed's Redis is only a cache of vectors: without it every text is embedded again, and
        // nothing should wait for it (the client's command timeout is 5 s).
        var redis = Pipeline.Redis["embed"];
        using var http = new HttpClient();
        var ready = new Uri(Pipeline.HttpBase("embed"), "/health/ready");
        var category = SyntheticPapers.NewCategory();
        var paper = SyntheticPapers.OnTopic(category);

        redis.Pause();
        Log("froze embed's Redis");
        try
        {
            for (var i = 0; i < 3; i++)
            {
                var answer = await Pipeline.Embed.EmbedAsync(new EmbedRequest { Texts = { $"a query embedded while the cache is frozen {Guid.NewGuid():N}" } },
                    deadline: DateTime.UtcNow.AddSeconds(4.5)); // under the 5 s each lookup once waited
                Assert.Equal(384, answer.Embeddings.Single().Values.Count);
            }

            // A paper goes through to rank meanwhile.
            await SubmitAllAsync([paper]);
            await WaitUntilAsync(async () => (await IndexedAsync(category)).Contains(paper.Id), "rank indexed a paper embedded while embed's Redis was frozen");

            var health = await http.GetAsync(ready);
            var body = await health.Content.ReadAsStringAsync();
            Log($"embed /health/ready: {(int)health.StatusCode} {body}");
            Assert.Equal(HttpStatusCode.OK, health.StatusCode);
            Assert.Contains("Degraded", body);
        }
        finally
        {
            redis.Resume();
            Log("embed's Redis answers again");
        }

        await WaitUntilAsync(async () => !(await (await http.GetAsync(ready)).Content.ReadAsStringAsync()).Contains("Degraded"), "embed is healthy again");
    }
}
