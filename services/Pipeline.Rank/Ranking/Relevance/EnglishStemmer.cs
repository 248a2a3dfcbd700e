namespace Pipeline.Rank.Ranking.Relevance;

/// <summary>
/// Light English stemming: step 1 of Porter's algorithm (1980), which folds plurals and the -ed
/// and -ing forms ("tests", "tested", "testing" to "test"; "studies" to "studi") but leaves
/// derivations apart ("generation" and "generative" stay different words, which in paper titles
/// they are). Words with digits are left as they are.
/// </summary>
public static class EnglishStemmer
{
    public static string Stem(string word)
    {
        if (word.Length <= 2 || !word.All(char.IsAsciiLetterLower))
        {
            return word;
        }

        var w = Step1A(word);
        w = Step1B(w);
        w = Step1C(w);
        return w;
    }

    private static string Step1A(string w)
    {
        if (w.EndsWith("sses", StringComparison.Ordinal) || w.EndsWith("ies", StringComparison.Ordinal))
        {
            return w[..^2];
        }

        if (w.EndsWith("ss", StringComparison.Ordinal) || w.EndsWith("us", StringComparison.Ordinal) || w.EndsWith("is", StringComparison.Ordinal))
        {
            // "class", "corpus", "analysis" are not plurals (the "us"/"is" guard is from Porter2).
            return w;
        }

        return w.EndsWith('s') && w.Length > 3 ? w[..^1] : w;
    }

    private static string Step1B(string w)
    {
        if (w.EndsWith("eed", StringComparison.Ordinal))
        {
            return Measure(w.AsSpan(0, w.Length - 3)) > 0 ? w[..^1] : w;
        }

        string stem;
        if (w.EndsWith("ed", StringComparison.Ordinal) && HasVowel(w.AsSpan(0, w.Length - 2)))
        {
            stem = w[..^2];
        }
        else if (w.EndsWith("ing", StringComparison.Ordinal) && HasVowel(w.AsSpan(0, w.Length - 3)))
        {
            stem = w[..^3];
        }
        else
        {
            return w;
        }

        if (stem.EndsWith("at", StringComparison.Ordinal) || stem.EndsWith("bl", StringComparison.Ordinal) || stem.EndsWith("iz", StringComparison.Ordinal))
        {
            return stem + "e";
        }

        if (stem.Length >= 2 && stem[^1] == stem[^2] && IsConsonant(stem, stem.Length - 1) && stem[^1] is not ('l' or 's' or 'z'))
        {
            return stem[..^1];
        }

        return Measure(stem) == 1 && EndsConsonantVowelConsonant(stem) ? stem + "e" : stem;
    }

    private static string Step1C(string w) =>
        w.Length > 2 && w[^1] == 'y' && HasVowel(w.AsSpan(0, w.Length - 1)) ? w[..^1] + "i" : w;

    private static bool IsConsonant(ReadOnlySpan<char> w, int i) => w[i] switch
    {
        'a' or 'e' or 'i' or 'o' or 'u' => false,
        'y' => i == 0 || !IsConsonant(w, i - 1),
        _ => true,
    };

    private static bool HasVowel(ReadOnlySpan<char> w)
    {
        for (var i = 0; i < w.Length; i++)
        {
            if (!IsConsonant(w, i))
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>Porter's m: the number of vowel-consonant sequences in [C](VC)^m[V].</summary>
    private static int Measure(ReadOnlySpan<char> w)
    {
        var m = 0;
        var i = 0;
        while (i < w.Length && IsConsonant(w, i))
        {
            i++;
        }

        while (i < w.Length)
        {
            while (i < w.Length && !IsConsonant(w, i))
            {
                i++;
            }

            if (i == w.Length)
            {
                break;
            }

            while (i < w.Length && IsConsonant(w, i))
            {
                i++;
            }

            m++;
        }

        return m;
    }

    private static bool EndsConsonantVowelConsonant(ReadOnlySpan<char> w) =>
        w.Length >= 3 && IsConsonant(w, w.Length - 3) && !IsConsonant(w, w.Length - 2) && IsConsonant(w, w.Length - 1)
        && w[^1] is not ('w' or 'x' or 'y');
}
