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
        if (word.Length <= 2)
        {
            return word;
        }

        Span<char> buffer = word.Length <= 128 ? stackalloc char[word.Length] : new char[word.Length];
        var length = Stem(word, buffer);
        return length == word.Length && buffer[..length].SequenceEqual(word) ? word : new string(buffer[..length]);
    }

    /// <summary>
    /// Writes the stem of <paramref name="word"/> into <paramref name="stem"/> (at least as long as
    /// the word) and returns its length; allocates nothing. The same stems as <see cref="Stem(string)"/>.
    /// </summary>
    public static int Stem(ReadOnlySpan<char> word, Span<char> stem)
    {
        word.CopyTo(stem);
        var n = word.Length;
        if (n <= 2)
        {
            return n;
        }

        foreach (var c in word)
        {
            if (!char.IsAsciiLetterLower(c))
            {
                return n;
            }
        }

        n = Step1A(stem, n);
        n = Step1B(stem, n);
        return Step1C(stem, n);
    }

    private static int Step1A(Span<char> w, int n)
    {
        var word = w[..n];
        if (word.EndsWith("sses") || word.EndsWith("ies"))
        {
            return n - 2;
        }

        if (word.EndsWith("ss") || word.EndsWith("us") || word.EndsWith("is"))
        {
            // "class", "corpus", "analysis" are not plurals (the "us"/"is" guard is from Porter2).
            return n;
        }

        return word[^1] == 's' && n > 3 ? n - 1 : n;
    }

    private static int Step1B(Span<char> w, int n)
    {
        var word = w[..n];
        if (word.EndsWith("eed"))
        {
            return Measure(word[..^3]) > 0 ? n - 1 : n;
        }

        int stem;
        if (word.EndsWith("ed") && HasVowel(word[..^2]))
        {
            stem = n - 2;
        }
        else if (word.EndsWith("ing") && HasVowel(word[..^3]))
        {
            stem = n - 3;
        }
        else
        {
            return n;
        }

        var s = w[..stem];
        if (s.EndsWith("at") || s.EndsWith("bl") || s.EndsWith("iz"))
        {
            w[stem] = 'e';
            return stem + 1;
        }

        if (stem >= 2 && s[^1] == s[^2] && IsConsonant(s, stem - 1) && s[^1] is not ('l' or 's' or 'z'))
        {
            return stem - 1;
        }

        if (Measure(s) == 1 && EndsConsonantVowelConsonant(s))
        {
            w[stem] = 'e';
            return stem + 1;
        }

        return stem;
    }

    private static int Step1C(Span<char> w, int n)
    {
        if (n > 2 && w[n - 1] == 'y' && HasVowel(w[..(n - 1)]))
        {
            w[n - 1] = 'i';
        }

        return n;
    }

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
