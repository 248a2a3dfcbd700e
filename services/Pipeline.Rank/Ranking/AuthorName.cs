using System.Buffers;

namespace Pipeline.Rank.Ranking;

/// <summary>
/// An author's name as compared when a subscriber follows one: papers write one person as "Grace
/// Hopper", "Grace M. Hopper", "G. Hopper", "Hopper, Grace" or "GRACE HOPPER", and with or without
/// accents ("Schölkopf", "Scholkopf"). Two names are the same author when their surnames are equal
/// (case, accents and punctuation ignored; the last word, or the last word before a comma) and their
/// first given names agree: equal, or one is the other's initial. Middle names are ignored, and a
/// name without a given name (a surname alone) matches every given name. So "Grace Hopper" matches
/// "G. M. Hopper" but not "George Hopper"; "G. Hopper" matches both, as arXiv's own author search
/// ("Hopper_G") does.
/// </summary>
public readonly record struct AuthorName(string Surname, string Given)
{
    // words are split at spaces, dots and hyphens (and the Unicode hyphens)
    private static readonly SearchValues<char> Separators = SearchValues.Create(" .-\u2010\u2011\t");

    /// <summary>True for a name with no letters or digits (nothing to compare).</summary>
    public bool IsEmpty => string.IsNullOrEmpty(Surname);

    /// <summary>Parses a name as written; never throws (a name with no letters is <see cref="IsEmpty"/>).</summary>
    public static AuthorName Parse(string? written)
    {
        if (string.IsNullOrWhiteSpace(written))
        {
            return default;
        }

        var text = written.AsSpan();
        Span<char> buffer = text.Length <= 256 ? stackalloc char[2 * text.Length] : new char[2 * text.Length];
        var (surnameRange, givenRange, inverted) = Segments(text);
        var surnameLength = LastWord(text[surnameRange], buffer, out var surnameStart);
        if (surnameLength == 0)
        {
            return default;
        }

        var surname = new string(buffer[..surnameLength]);
        // The given name is the first word: of what follows the comma, or before the surname.
        var givenLength = FirstWord(inverted ? text[givenRange] : text[givenRange][..surnameStart], buffer);
        return new AuthorName(surname, givenLength == 0 ? "" : new string(buffer[..givenLength]));
    }

    /// <summary>
    /// Writes the folded surname of a name as written into <paramref name="buffer"/> (twice the
    /// name's length) and returns its length, 0 when it has none: the surname <see cref="Parse"/>
    /// finds, without allocating, to look a paper's author up before parsing all of it.
    /// </summary>
    public static int SurnameOf(ReadOnlySpan<char> written, Span<char> buffer) =>
        LastWord(written[Segments(written).Surname], buffer, out _);

    /// <summary>Where the surname and the given names are: "Hopper, Grace" puts the surname first; a suffix after a comma ("Grace Hopper, Jr.") does not.</summary>
    private static (Range Surname, Range Given, bool Inverted) Segments(ReadOnlySpan<char> text)
    {
        var comma = text.IndexOf(',');
        if (comma < 0)
        {
            return (.., .., false);
        }

        return IsSuffixOnly(text[(comma + 1)..]) ? (..comma, ..comma, false) : (..comma, (comma + 1).., true);
    }

    /// <summary>
    /// The last word of <paramref name="segment"/> that is not a suffix ("Jr.", "III"), folded into
    /// <paramref name="buffer"/>; the first word when every word is one. Returns its length (0: no
    /// word) and where in the segment it starts.
    /// </summary>
    private static int LastWord(ReadOnlySpan<char> segment, Span<char> buffer, out int start)
    {
        start = 0;
        var firstStart = -1;
        var end = segment.Length;
        while (end > 0)
        {
            var wordEnd = segment[..end].LastIndexOfAnyExcept(Separators) + 1;
            if (wordEnd == 0)
            {
                break;
            }

            var wordStart = segment[..wordEnd].LastIndexOfAny(Separators) + 1;
            end = wordStart;
            var length = Fold(segment[wordStart..wordEnd], buffer);
            if (length == 0)
            {
                continue;
            }

            if (!IsSuffix(buffer[..length]))
            {
                start = wordStart;
                return length;
            }

            firstStart = wordStart;
        }

        if (firstStart < 0)
        {
            return 0;
        }

        // every word is a suffix: the first one is the name
        var first = segment[firstStart..];
        var firstLength = first.IndexOfAny(Separators);
        start = firstStart;
        return Fold(firstLength < 0 ? first : first[..firstLength], buffer);
    }

    /// <summary>The first word of <paramref name="segment"/> with a letter or digit, folded into <paramref name="buffer"/>; its length, 0 when none.</summary>
    private static int FirstWord(ReadOnlySpan<char> segment, Span<char> buffer)
    {
        while (!segment.IsEmpty)
        {
            var wordStart = segment.IndexOfAnyExcept(Separators);
            if (wordStart < 0)
            {
                return 0;
            }

            segment = segment[wordStart..];
            var wordEnd = segment.IndexOfAny(Separators);
            var word = wordEnd < 0 ? segment : segment[..wordEnd];
            var length = Fold(word, buffer);
            if (length > 0)
            {
                return length;
            }

            segment = segment[word.Length..];
        }

        return 0;
    }

    /// <summary>True when both name the same author by the rule above.</summary>
    public bool Matches(AuthorName other)
    {
        if (IsEmpty || other.IsEmpty || !string.Equals(Surname, other.Surname, StringComparison.Ordinal))
        {
            return false;
        }

        if (Given.Length == 0 || other.Given.Length == 0)
        {
            return true;
        }

        return Given.Length == 1 || other.Given.Length == 1
            ? Given[0] == other.Given[0]
            : string.Equals(Given, other.Given, StringComparison.Ordinal);
    }

    /// <summary>True when <paramref name="a"/> and <paramref name="b"/>, as written, name the same author.</summary>
    public static bool Same(string a, string b) => Parse(a).Matches(Parse(b));

    public override string ToString() => IsEmpty ? "" : Given.Length == 0 ? Surname : $"{Given} {Surname}";

    private static bool IsSuffixOnly(ReadOnlySpan<char> text)
    {
        Span<char> buffer = text.Length <= 128 ? stackalloc char[2 * text.Length] : new char[2 * text.Length];
        var any = false;
        foreach (var range in text.SplitAny(Separators))
        {
            var length = Fold(text[range], buffer);
            if (length == 0)
            {
                continue;
            }

            if (!IsSuffix(buffer[..length]))
            {
                return false;
            }

            any = true;
        }

        return any;
    }

    private static bool IsSuffix(ReadOnlySpan<char> word) =>
        word is "jr" or "sr" or "ii" or "iii" or "iv";

    /// <summary>
    /// Folds a word into <paramref name="dest"/> (twice its length): lowercase letters and digits
    /// only, accents dropped ("O'Néill" → "oneill", "Nguyễn" → "nguyen", "Kroiß" → "kroiss").
    /// Returns the length written.
    /// </summary>
    private static int Fold(ReadOnlySpan<char> word, Span<char> dest)
    {
        var n = 0;
        foreach (var c in word)
        {
            // the letters written as two in plain Latin ("Kroiß" is also "Kroiss")
            var pair = c switch
            {
                'ß' or 'ẞ' => "ss",
                'æ' or 'Æ' => "ae",
                'œ' or 'Œ' => "oe",
                _ => null,
            };
            if (pair is not null)
            {
                dest[n++] = pair[0];
                dest[n++] = pair[1];
                continue;
            }

            var plain = Unaccented(c);
            if (plain != '\0')
            {
                dest[n++] = plain;
            }
            else if (char.IsLetterOrDigit(c))
            {
                dest[n++] = char.ToLowerInvariant(c);
            }

            // combining accents (U+0300–U+036F) and punctuation are dropped
        }

        return n;
    }

    // The service runs with invariant globalization, where string.Normalize does not decompose, so
    // the Latin letters with accents map to their base letter by table: U+00C0–U+024F (Latin-1,
    // Extended-A and -B) and U+1E00–U+1EFF (Extended Additional: Vietnamese and others). '.' keeps
    // the letter as it is. Generated with Python's unicodedata: the first character of each code
    // point's NFD decomposition when it is an ASCII letter, and ß→s, æ→a, ø→o, ł→l, đ→d and the
    // like for letters that do not decompose.
    private const string Latin = "aaaaaaaceeeeiiiidnooooo.ouuuuytsaaaaaaaceeeeiiiidnooooo.ouuuuytyaaaaaaccccccccddddeeeeeeeeeegggggggghhhhiiiiiiiiiiiijjkkkllllllllllnnnnnnnnnoooooooorrrrrrssssssssttttttuuuuuuuuuuuuwwyyyzzzzzz.b..........dd....ff....ikkl...n.oo..pp......tt.uu..yyzz......................aaiioouuuuuuuuuu.aaaa..ggggkkoooo..j...gg..nnaa....aaaaeeeeiiiioooorrrruuuusstt..hhn...zzaaeeooooooooyy.........l.sz..bu.eejj..rryy";
    private const string LatinAdditional = "aabbbbbbccddddddddddeeeeeeeeeeffgghhhhhhhhhhiiiikkkkkkllllllllmmmmmmnnnnnnnnoooooooopppprrrrrrrrssssssssssttttttttuuuuuuuuuuvvvvwwwwwwwwwwxxxxyyzzzzzzhtwy....s.aaaaaaaaaaaaaaaaaaaaaaaaeeeeeeeeeeeeeeeeiiiioooooooooooooooooooooooouuuuuuuuuuuuuuyyyyyyyy......";

    /// <summary>The base letter of an accented Latin letter, or '\0'.</summary>
    private static char Unaccented(char c)
    {
        var plain = c switch
        {
            >= '\u00C0' and <= '\u024F' => Latin[c - '\u00C0'],
            >= '\u1E00' and <= '\u1EFF' => LatinAdditional[c - '\u1E00'],
            _ => '.',
        };
        return plain == '.' ? '\0' : plain;
    }
}
