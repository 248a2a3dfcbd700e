using System.Text.Json;
using Pipeline.Ingest.Papers;
using Pipeline.Ingest.Sources.Parsing;

namespace Pipeline.Ingest.Sources;

/// <summary>
/// A JSON Lines file of papers (<see cref="JsonLinesReader"/>). The cursor is the byte offset and
/// line number after the last line taken, with a fingerprint of the kilobyte before that offset:
/// appending lines and polling takes only the new ones; a file that got shorter, or whose bytes
/// before the offset are no longer those read (replaced by another file, as an export that is
/// rewritten newest first), is read from the start (de-duplication keeps that cheap).
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
        if (file.Length < cursor.Offset || (cursor.Tail is { } tail && await TailAsync(file, cursor.Offset, cancellationToken) != tail))
        {
            cursor = new JsonLinesCursor(0, 1);
        }

        // The last poll took an unterminated last line: the newline written after it ends that
        // line, not a blank one, so this read counts from one line back. The cursor itself keeps its
        // line: a poll that reads nothing saves it unchanged.
        var firstLine = cursor.Offset > 0 && await ByteBeforeAsync(file, cursor.Offset, cancellationToken) != '\n' ? cursor.Line - 1 : cursor.Line;
        file.Seek(cursor.Offset, SeekOrigin.Begin);
        var batch = new List<PaperSubmission>(options.BatchSize);
        var rejections = new List<EntryRejection>();
        var lines = new List<string>(options.BatchSize);
        var position = cursor;
        using var activity = poll.ActivitySource.StartActivity($"parse {Name}");
        await foreach (var line in JsonLinesReader.ReadAsync(file, Name, cursor.Offset, firstLine, options.MaxLineBytes, cancellationToken))
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
            // Rejections count toward the batch too: a file of a million bad lines is handed on a
            // batch at a time, not held in memory whole.
            if (batch.Count + rejections.Count >= Math.Max(1, options.BatchSize))
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
            // From the file being read (the reader waits here between its reads), not the path:
            // a file moved over it meanwhile is the next poll's to find.
            position = position with { Tail = await TailAsync(file, position.Offset, cancellationToken) };
            await poll.SaveCursorAsync(position.Write());
        }
    }

    private static async Task<int> ByteBeforeAsync(FileStream file, long offset, CancellationToken cancellationToken)
    {
        var one = new byte[1];
        file.Seek(offset - 1, SeekOrigin.Begin);
        await file.ReadExactlyAsync(one, cancellationToken);
        return one[0];
    }

    /// <summary>A fingerprint of the (up to) 1 KB of <paramref name="file"/> that ends at <paramref name="offset"/>; the file is left where it was.</summary>
    private static async Task<string?> TailAsync(FileStream file, long offset, CancellationToken cancellationToken)
    {
        if (offset <= 0 || offset > file.Length)
        {
            return null;
        }

        var length = (int)Math.Min(offset, 1024);
        var bytes = new byte[length];
        var was = file.Position;
        file.Seek(offset - length, SeekOrigin.Begin);
        await file.ReadExactlyAsync(bytes, cancellationToken);
        file.Seek(was, SeekOrigin.Begin);
        return Convert.ToHexString(System.Security.Cryptography.SHA256.HashData(bytes), 0, 16);
    }
}

/// <summary>Where the last poll stopped: byte offset, line number, and <see cref="Tail"/>, the fingerprint of the bytes before the offset (null in cursors saved before it).</summary>
public sealed record JsonLinesCursor(long Offset, long Line, string? Tail = null)
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
