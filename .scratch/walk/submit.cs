#:project /work/main/services/Pipeline.Ingest/Pipeline.Ingest.csproj
#:package Grpc.Net.Client
using System.Text.Json;
using Grpc.Core;
using Grpc.Net.Client;
using Google.Protobuf.WellKnownTypes;
using Pipeline.Contracts.Ingest.V1;
using Pipeline.Ingest.Sources.Parsing;

var ingest = new IngestService.IngestServiceClient(GrpcChannel.ForAddress("http://127.0.0.1:5101"));
var key = File.ReadAllLines("/work/main/deploy/local/.run/secrets.env").First(l => l.StartsWith("PIPELINE_API_KEY=")).Split('=', 2)[1];
var headers = new Metadata { { "x-api-key", key } };
var now = DateTimeOffset.UtcNow;
var random = new Random(3);
var request = new SubmitPapersRequest();
using (var xml = File.OpenRead("/work/shared/data/arxiv-api/query-testing-start0-max100.xml"))
{
    var feed = ArxivApiParser.Parse(xml);
    var i = 0;
    foreach (var p in feed.Papers)
    {
        var paper = new Paper { Id = p.Id, Version = p.Version, Title = p.Title, Abstract = p.Abstract, Url = p.Url ?? "", Source = "arxiv-api",
            // Spread over the last 30 days.
            PublishedAt = Timestamp.FromDateTimeOffset(now.AddHours(-(i++ * 7.2) - 1)) };
        paper.Authors.AddRange(p.Authors);
        paper.Categories.AddRange(p.Categories);
        request.Papers.Add(paper);
    }
}
var seeds = JsonDocument.Parse(File.ReadAllText("/work/shared/data/seed/trending-papers.json")).RootElement;
var k = 0;
foreach (var s in seeds.EnumerateArray())
{
    // A daily-papers page: published over the last 3 days, with upvotes.
    var paper = new Paper { Id = $"hf:walk-{k}", Title = s.GetProperty("title").GetString(), Abstract = s.GetProperty("abstract").GetString(), Source = "hf-daily",
        PublishedAt = Timestamp.FromDateTimeOffset(now.AddHours(-(k * 1.4) - 0.5)), Upvotes = (int)(200 * Math.Pow(random.NextDouble(), 3)) };
    paper.Authors.Add($"Author {k % 7}");
    paper.Categories.Add(k % 3 == 0 ? "cs.CV" : k % 3 == 1 ? "cs.CL" : "cs.LG");
    request.Papers.Add(paper);
    k++;
}
var response = await ingest.SubmitPapersAsync(request, headers);
Console.WriteLine($"accepted {response.Accepted} updated {response.Updated} dup {response.Duplicates} rejected {response.Rejected}");
foreach (var r in response.Results.Where(r => r.Outcome == SubmitOutcome.Rejected)) Console.WriteLine($"  {r.Id}: {r.Reason}");
