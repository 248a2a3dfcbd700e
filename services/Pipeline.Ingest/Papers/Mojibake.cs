using System.Buffers;
using System.Text;
using System.Text.Unicode;

namespace Pipeline.Ingest.Papers;

/// <summary>
/// Repairs text whose UTF-8 bytes were once decoded as Latin-1 and encoded again: real arXiv
/// records carry names such as "Florian KroiÃ\u009f" for "Florian Kroiß" (the API serves the
/// doubled bytes as they were stored). Each run of characters U+0080–U+00FF is read back as the
/// bytes it came from; when those bytes are valid UTF-8 holding a multi-byte character, the run is
/// replaced by what they say. Text written in Latin-1 letters stays as it is: "é" alone, "São",
/// "SÃO" and "©" are no valid UTF-8 sequence as bytes, and the runs that are ("Ã©", "Ã\u009f",
/// "Â°": a capital A with tilde or circumflex followed by a symbol or a C1 control) do not occur in
/// text written on purpose. Other mix-ups (Windows-1252's "â€™") are left alone.
/// </summary>
public static class Mojibake
{
    /// <summary>The text with every doubly encoded run repaired; the same instance when there is none.</summary>
    public static string Repair(string text)
    {
        // The first byte of a multi-byte UTF-8 character read as Latin-1 is U+00C2–U+00F4.
        if (text.AsSpan().IndexOfAnyInRange('\u00C2', '\u00F4') < 0)
        {
            return text;
        }

        StringBuilder? repaired = null;
        var copied = 0;
        var i = 0;
        while (i < text.Length)
        {
            if (text[i] is < '\u0080' or > '\u00FF')
            {
                i++;
                continue;
            }

            var start = i;
            while (i < text.Length && text[i] is >= '\u0080' and <= '\u00FF')
            {
                i++;
            }

            if (Decode(text.AsSpan(start, i - start)) is { } decoded)
            {
                repaired ??= new StringBuilder(text.Length);
                repaired.Append(text, copied, start - copied).Append(decoded);
                copied = i;
            }
        }

        return repaired is null ? text : repaired.Append(text, copied, text.Length - copied).ToString();
    }

    /// <summary>What a run of U+0080–U+00FF says as UTF-8, or null when it is not valid UTF-8.</summary>
    private static string? Decode(ReadOnlySpan<char> run)
    {
        Span<byte> bytes = run.Length <= 256 ? stackalloc byte[run.Length] : new byte[run.Length];
        for (var i = 0; i < run.Length; i++)
        {
            bytes[i] = (byte)run[i];
        }

        // UTF-8 never takes more UTF-16 units than bytes
        Span<char> chars = run.Length <= 256 ? stackalloc char[run.Length] : new char[run.Length];
        return Utf8.ToUtf16(bytes, chars, out _, out var written, replaceInvalidSequences: false) == OperationStatus.Done
            ? new string(chars[..written])
            : null;
    }
}
