#:project /work/main/contracts/Pipeline.Contracts/Pipeline.Contracts.csproj
#:package Grpc.Net.Client
using Grpc.Core;
using Grpc.Net.Client;
using Pipeline.Contracts.Rank.V1;
using Google.Protobuf.WellKnownTypes;

var rank = new RankingService.RankingServiceClient(GrpcChannel.ForAddress("http://127.0.0.1:5103"));
var key = File.ReadAllLines("/work/main/deploy/local/.run/secrets.env").First(l => l.StartsWith("PIPELINE_API_KEY=")).Split('=', 2)[1];
var headers = new Metadata { { "x-api-key", key } };
void Print(RankedPapers r)
{
    foreach (var p in r.Papers)
        Console.WriteLine($"{p.Score:F3} [rel {p.Parts.Relevance:F2} tr {p.Parts.Trending:F2} rec {p.Parts.Recency:F2}] up {p.Upvotes} votes {p.Votes} {p.PublishedAt?.ToDateTime():u} {p.Id} | {Trunc(p.Title, 70)}\n      cats {string.Join(",", p.Categories)} | {p.Reason}");
}
string Trunc(string s, int n) => s.Length <= n ? s : s[..n] + "…";
try
{
switch (args[0])
{
    case "trending":
        Print(await rank.TrendingAsync(new TrendingRequest { Window = System.Enum.Parse<TrendingWindow>(args[1]), Limit = int.Parse(args[2]), Category = args.Length > 3 ? args[3] : "" }));
        break;
    case "search":
        Print(await rank.SearchAsync(new SearchRequest { Query = args[1], Limit = int.Parse(args[2]) }));
        break;
    case "similar":
        Print(await rank.SimilarAsync(new SimilarRequest { PaperId = args[1], Limit = int.Parse(args[2]) }));
        break;
    case "recommend":
        var req = new RecommendRequest { Limit = int.Parse(args[2]) };
        req.Interests.AddRange(args[1].Split('|'));
        Print(await rank.RecommendAsync(req));
        break;
    case "vote":
        var v = await rank.VoteAsync(new VoteRequest { PaperId = args[1], VoterId = args[2], Value = int.Parse(args[3]) }, headers);
        Console.WriteLine(v);
        break;
    case "vote-nokey":
        Console.WriteLine(await rank.VoteAsync(new VoteRequest { PaperId = args[1], VoterId = args[2], Value = int.Parse(args[3]) }));
        break;
}
}
catch (RpcException e) { Console.WriteLine($"{e.StatusCode}: {e.Status.Detail}"); }
