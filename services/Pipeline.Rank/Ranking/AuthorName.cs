using System.Text;

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
    private static readonly HashSet<string> Suffixes = new(StringComparer.Ordinal) { "jr", "sr", "ii", "iii", "iv" };

    /// <summary>True for a name with no letters or digits (nothing to compare).</summary>
    public bool IsEmpty => string.IsNullOrEmpty(Surname);

    /// <summary>Parses a name as written; never throws (a name with no letters is <see cref="IsEmpty"/>).</summary>
    public static AuthorName Parse(string? written)
    {
        if (string.IsNullOrWhiteSpace(written))
        {
            return default;
        }

        // "Hopper, Grace M." puts the surname first; a suffix after a comma ("Grace Hopper, Jr.") does not
        var comma = written.IndexOf(',');
        var inverted = comma >= 0 && !IsSuffixOnly(written[(comma + 1)..]);
        var words = Words(inverted ? written[(comma + 1)..] : comma >= 0 ? written[..comma] : written);
        var surnameWords = inverted ? Words(written[..comma]) : words;
        while (surnameWords.Count > 1 && Suffixes.Contains(surnameWords[^1]))
        {
            surnameWords.RemoveAt(surnameWords.Count - 1);
        }

        if (surnameWords.Count == 0)
        {
            return default;
        }

        var surname = surnameWords[^1];
        if (!inverted)
        {
            words.RemoveAt(words.Count - 1);
        }

        return new AuthorName(surname, words.Count > 0 ? words[0] : "");
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

    private static bool IsSuffixOnly(string text)
    {
        var words = Words(text);
        return words.Count > 0 && words.TrueForAll(Suffixes.Contains);
    }

    /// <summary>The name's words: lowercased, accents dropped, split at spaces, dots and hyphens, other punctuation removed.</summary>
    private static List<string> Words(string text)
    {
        var words = new List<string>();
        foreach (var part in text.Split([' ', '.', '-', '\u2010', '\u2011', '\t'], StringSplitOptions.RemoveEmptyEntries))
        {
            var word = Fold(part);
            if (word.Length > 0)
            {
                words.Add(word);
            }
        }

        return words;
    }

    /// <summary>Lowercase letters and digits only, accents dropped ("O'Néill" → "oneill", "Nguyễn" → "nguyen", "Kroiß" → "kroiss").</summary>
    private static string Fold(string text)
    {
        var folded = new StringBuilder(text.Length);
        foreach (var c in text)
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
                folded.Append(pair);
                continue;
            }

            var plain = Unaccented(c);
            if (plain != '\0')
            {
                folded.Append(plain);
            }
            else if (char.IsLetterOrDigit(c))
            {
                folded.Append(char.ToLowerInvariant(c));
            }

            // combining accents (U+0300–U+036F) and punctuation are dropped
        }

        return folded.ToString();
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
