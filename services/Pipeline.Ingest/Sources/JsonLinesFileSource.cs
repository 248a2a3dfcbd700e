using System.Text.Json;
using Pipeline.Ingest.Papers;
using Pipeline.Ingest.Sources.Parsing;

namespace Pipeline.Ingest.Sources;

/// <summary>
/// A JSON Lines file of papers (<see cref="JsonLinesReader"/>). The cursor is the byte offset and
/// line number after the last line taken: appending lines and polling takes only the new ones; a
/// file that got shorter was replaced and is read from the start (de-duplication keeps that cheap).
/// </summary>
public sealed class JsonLinesFileSource(JsonLinesOptions options) : IPaperSource
{
    public const string SourceName = "jsonl";

    public string Name => SourceName;

    public SourceOptions Options => options;

    public async Task PollAsync(SourcePoll poll, CancellationToken cancellationToken)
    {
        if (string.IsNullOrWhiteSpace(options.Path))
        {
            throw new InvalidOperationException("Sources:JsonLines needs a Path.");
        }

        var cursor = JsonLinesCursor.Read(poll.Cursor);
        await using var file = new FileStream(options.Path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete, 64 * 1024, useAsync: true);
        if (file.Length < cursor.Offset)
        {
            cursor = new JsonLinesCursor(0, 1);
        }

        file.Seek(cursor.Offset, SeekOrigin.Begin);
        var batch = new List<PaperSubmission>(options.BatchSize);
        var rejections = new List<EntryRejection>();
        var lines = new List<string>(options.BatchSize);
        var position = cursor;
        using var activity = poll.ActivitySource.StartActivity($"parse {Name}");
        await foreach (var line in JsonLinesReader.ReadAsync(file, Name, cursor.Offset, cursor.Line, options.MaxLineBytes, cancellationToken))
        {
            if (line.Paper is { } paper)
            {
                batch.Add(paper);
                lines.Add($"line {line.LineNumber}");
            }
            else
            {
                rejections.Add(new EntryRejection($"line {line.LineNumber}", line.Rejection!));
            }

            position = new JsonLinesCursor(line.EndOffset, line.LineNumber + 1);
            if (batch.Count >= Math.Max(1, options.BatchSize))
            {
                await FlushAsync();
            }
        }

        await FlushAsync();

        async Task FlushAsync()
        {
            await poll.RejectAsync(rejections);
            await poll.SubmitAsync(batch, cancellationToken, lines);
            batch.Clear();
            lines.Clear();
            rejections.Clear();
            await poll.SaveCursorAsync(position.Write());
        }
    }
}

public sealed record JsonLinesCursor(long Offset, long Line)
{
    public static JsonLinesCursor Read(string? text)
    {
        try
        {
            return text is { Length: > 0 } ? JsonSerializer.Deserialize<JsonLinesCursor>(text) ?? new(0, 1) : new(0, 1);
        }
        catch (JsonException)
        {
            return new(0, 1);
        }
    }

    public string Write() => JsonSerializer.Serialize(this);
}
