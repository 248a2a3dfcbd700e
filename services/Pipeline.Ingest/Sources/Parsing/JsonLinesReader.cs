using System.Runtime.CompilerServices;
using System.Text;
using System.Text.Json;
using Google.Protobuf;
using Pipeline.Ingest.Grpc;
using Pipeline.Ingest.Papers;
using Paper = Pipeline.Contracts.Ingest.V1.Paper;

namespace Pipeline.Ingest.Sources.Parsing;

/// <summary>One line of a JSON Lines import: a paper, or why the line was refused (its number is <see cref="LineNumber"/>).</summary>
/// <param name="LineNumber">1-based, counted from the start of the file.</param>
/// <param name="EndOffset">Byte offset just after this line: where a resumed read starts.</param>
public sealed record JsonLine(long LineNumber, long EndOffset, PaperSubmission? Paper, string? Rejection);

/// <summary>
/// Reads papers from JSON Lines, one JSON object per line in the gRPC <c>Paper</c> JSON form
/// (<c>{"id": "2410.17243v2", "title": ..., "abstract": ..., "authors": [...], "publishedAt": "2024-10-22T00:00:00Z"}</c>;
/// proto field names such as <c>published_at</c> work too, unknown fields are ignored). Line by
/// line with a bound on line length, so a huge or broken line is rejected alone, with its number;
/// so is a line that is not valid UTF-8 or nests deeper than <see cref="MaxDepth"/>.
/// </summary>
public static class JsonLinesReader
{
    public const int DefaultMaxLineBytes = 1024 * 1024;

    private static readonly JsonParser Parser = new(JsonParser.Settings.Default.WithIgnoreUnknownFields(true).WithRecursionLimit(16));

    /// <summary>
    /// Reads from <paramref name="stream"/>, which is positioned at byte <paramref name="startOffset"/>
    /// of the file, the start of line <paramref name="firstLineNumber"/>. A last line without a
    /// newline is taken only if it parses: otherwise it may still be being written, and is left for
    /// the next read.
    /// </summary>
    public static async IAsyncEnumerable<JsonLine> ReadAsync(
        Stream stream,
        string source,
        long startOffset = 0,
        long firstLineNumber = 1,
        int maxLineBytes = DefaultMaxLineBytes,
        [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        var buffer = new byte[64 * 1024];
        var line = new MemoryStream();
        var tooLong = false;
        var lineNumber = firstLineNumber;
        var offset = startOffset;
        var lineStart = startOffset;
        int read;
        while ((read = await stream.ReadAsync(buffer, cancellationToken)) > 0)
        {
            var from = 0;
            while (from < read)
            {
                var newline = Array.IndexOf(buffer, (byte)'\n', from, read - from);
                var end = newline < 0 ? read : newline;
                if (!tooLong)
                {
                    if (line.Length + (end - from) > maxLineBytes)
                    {
                        tooLong = true;
                        line.SetLength(0);
                    }
                    else
                    {
                        line.Write(buffer, from, end - from);
                    }
                }

                offset += end - from;
                if (newline < 0)
                {
                    break;
                }

                offset++; // the newline
                if (Complete(line, tooLong, lineNumber, offset, source, maxLineBytes, lineStart == 0) is { } result)
                {
                    yield return result;
                }

                lineStart = offset;
                lineNumber++;
                line.SetLength(0);
                tooLong = false;
                from = newline + 1;
            }
        }

        // An unterminated last line: taken if whole, else left where it is.
        if (line.Length > 0 && !tooLong)
        {
            var last = Complete(line, false, lineNumber, offset, source, maxLineBytes, lineStart == 0);
            if (last is { Paper: not null })
            {
                yield return last;
            }
        }

    }

    private static JsonLine? Complete(MemoryStream line, bool tooLong, long lineNumber, long endOffset, string source, int maxLineBytes, bool fileStart)
    {
        if (tooLong)
        {
            return new JsonLine(lineNumber, endOffset, null, $"longer than {maxLineBytes} bytes");
        }

        var span = line.GetBuffer().AsSpan(0, (int)line.Length);
        // A UTF-8 byte order mark (Windows PowerShell's and Python's utf-8-sig files) is no part of the first paper.
        if (fileStart && span.StartsWith("\uFEFF"u8))
        {
            span = span[3..];
        }

        if (span.Length > 0 && span[^1] == (byte)'\r')
        {
            span = span[..^1];
        }

        if (span.IsEmpty || span.IndexOfAnyExcept((byte)' ', (byte)'\t') < 0)
        {
            return null; // blank lines are allowed
        }

        string text;
        try
        {
            text = StrictUtf8.GetString(span);
        }
        catch (DecoderFallbackException e)
        {
            return new JsonLine(lineNumber, endOffset, null, $"not valid UTF-8 (byte {e.Index} of the line)");
        }

        // Checked before parsing: unknown fields are skipped, but never nested without bound.
        var depth = new Utf8JsonReader(span, new JsonReaderOptions { MaxDepth = MaxDepth });
        try
        {
            while (depth.Read())
            {
            }
        }
        catch (JsonException e)
        {
            return new JsonLine(lineNumber, endOffset, null, $"not a paper in JSON: {AtomXml.Short(e.Message)}");
        }

        return Parse(text, lineNumber, endOffset, source);
    }

    /// <summary>How deep JSON may nest on one line (a paper needs 3 levels).</summary>
    public const int MaxDepth = 32;

    private static readonly UTF8Encoding StrictUtf8 = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);

    /// <summary>One line of text as a paper (also used for each message of the streaming import).</summary>
    public static JsonLine Parse(string text, long lineNumber, long endOffset, string source)
    {
        try
        {
            var paper = Parser.Parse<Paper>(text);
            var submission = PaperMapping.ToSubmission(paper);
            if (string.IsNullOrWhiteSpace(submission.Source))
            {
                submission = submission with { Source = source };
            }

            return new JsonLine(lineNumber, endOffset, submission, null);
        }
        catch (Exception e) when (e is InvalidProtocolBufferException or InvalidJsonException or FormatException or InvalidOperationException)
        {
            return new JsonLine(lineNumber, endOffset, null, $"not a paper in JSON: {AtomXml.Short(e.Message)}");
        }
    }
}
