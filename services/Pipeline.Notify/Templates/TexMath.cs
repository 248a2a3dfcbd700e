using System.Collections.Frozen;
using System.Text;

namespace Pipeline.Notify.Templates;

/// <summary>
/// Writes the inline TeX math of titles and abstracts (<c>$\tilde{O}(\varepsilon^{-2})$</c>) as
/// Unicode text (<c>Õ(ε⁻²)</c>) for emails, which cannot run a math renderer. Only what is sure is
/// changed: a span is math by pandoc's rule (the opening <c>$</c> followed by a non-space, the
/// closing one preceded by a non-space and not followed by a digit, so "$20 and $30" is money), and
/// a span with any command this class does not know stays exactly as written, dollars included.
/// Scripts without a Unicode form are written <c>^(…)</c> and <c>_(…)</c>.
/// </summary>
public static class TexMath
{
    private const int MaxSpan = 300;

    private static readonly FrozenDictionary<string, string> Symbols = new Dictionary<string, string>
    {
        ["alpha"] = "α", ["beta"] = "β", ["gamma"] = "γ", ["delta"] = "δ", ["epsilon"] = "ϵ", ["varepsilon"] = "ε",
        ["zeta"] = "ζ", ["eta"] = "η", ["theta"] = "θ", ["vartheta"] = "ϑ", ["iota"] = "ι", ["kappa"] = "κ",
        ["lambda"] = "λ", ["mu"] = "μ", ["nu"] = "ν", ["xi"] = "ξ", ["pi"] = "π", ["varpi"] = "ϖ", ["rho"] = "ρ",
        ["varrho"] = "ϱ", ["sigma"] = "σ", ["varsigma"] = "ς", ["tau"] = "τ", ["upsilon"] = "υ", ["phi"] = "ϕ",
        ["varphi"] = "φ", ["chi"] = "χ", ["psi"] = "ψ", ["omega"] = "ω",
        ["Gamma"] = "Γ", ["Delta"] = "Δ", ["Theta"] = "Θ", ["Lambda"] = "Λ", ["Xi"] = "Ξ", ["Pi"] = "Π",
        ["Sigma"] = "Σ", ["Upsilon"] = "Υ", ["Phi"] = "Φ", ["Psi"] = "Ψ", ["Omega"] = "Ω",
        ["le"] = "≤", ["leq"] = "≤", ["ge"] = "≥", ["geq"] = "≥", ["ne"] = "≠", ["neq"] = "≠", ["approx"] = "≈",
        ["sim"] = "∼", ["simeq"] = "≃", ["cong"] = "≅", ["equiv"] = "≡", ["propto"] = "∝", ["ll"] = "≪", ["gg"] = "≫",
        ["in"] = "∈", ["notin"] = "∉", ["ni"] = "∋", ["subset"] = "⊂", ["subseteq"] = "⊆", ["supset"] = "⊃",
        ["supseteq"] = "⊇", ["cup"] = "∪", ["cap"] = "∩", ["setminus"] = "∖", ["emptyset"] = "∅", ["varnothing"] = "∅",
        ["times"] = "×", ["cdot"] = "·", ["pm"] = "±", ["mp"] = "∓", ["div"] = "÷", ["circ"] = "∘", ["ast"] = "∗",
        ["star"] = "⋆", ["oplus"] = "⊕", ["otimes"] = "⊗", ["wedge"] = "∧", ["land"] = "∧", ["vee"] = "∨", ["lor"] = "∨",
        ["neg"] = "¬", ["lnot"] = "¬", ["forall"] = "∀", ["exists"] = "∃", ["top"] = "⊤", ["perp"] = "⊥", ["bot"] = "⊥",
        ["to"] = "→", ["rightarrow"] = "→", ["leftarrow"] = "←", ["gets"] = "←", ["leftrightarrow"] = "↔",
        ["Rightarrow"] = "⇒", ["Leftarrow"] = "⇐", ["Leftrightarrow"] = "⇔", ["implies"] = "⇒", ["iff"] = "⇔",
        ["mapsto"] = "↦", ["uparrow"] = "↑", ["downarrow"] = "↓",
        ["infty"] = "∞", ["partial"] = "∂", ["nabla"] = "∇", ["sum"] = "∑", ["prod"] = "∏", ["int"] = "∫",
        ["ell"] = "ℓ", ["hbar"] = "ħ", ["aleph"] = "ℵ", ["prime"] = "′", ["dagger"] = "†",
        ["dots"] = "…", ["ldots"] = "…", ["cdots"] = "⋯", ["vdots"] = "⋮",
        ["langle"] = "⟨", ["rangle"] = "⟩", ["lfloor"] = "⌊", ["rfloor"] = "⌋", ["lceil"] = "⌈", ["rceil"] = "⌉",
        ["mid"] = "|", ["vert"] = "|", ["lvert"] = "|", ["rvert"] = "|", ["Vert"] = "‖", ["lVert"] = "‖", ["rVert"] = "‖",
        ["colon"] = ": ", ["quad"] = " ", ["qquad"] = " ",
        ["log"] = "log", ["ln"] = "ln", ["exp"] = "exp", ["sin"] = "sin", ["cos"] = "cos", ["tan"] = "tan",
        ["max"] = "max", ["min"] = "min", ["sup"] = "sup", ["inf"] = "inf", ["lim"] = "lim", ["arg"] = "arg",
        ["argmax"] = "argmax", ["argmin"] = "argmin", ["det"] = "det", ["dim"] = "dim", ["Pr"] = "Pr", ["poly"] = "poly",
        ["polylog"] = "polylog",
        // One-character commands: escapes and spacing.
        ["{"] = "{", ["}"] = "}", ["%"] = "%", ["&"] = "&", ["_"] = "_", ["#"] = "#", ["$"] = "$", ["|"] = "‖",
        [","] = " ", [";"] = " ", [":"] = " ", [" "] = " ", ["!"] = "",
    }.ToFrozenDictionary(StringComparer.Ordinal);

    /// <summary>Symbols set between spaces: relations, arrows, binary operators.</summary>
    private static readonly FrozenSet<string> Spaced = new[]
    {
        "≤", "≥", "≠", "≈", "∼", "≃", "≅", "≡", "∝", "≪", "≫", "∈", "∉", "∋", "⊂", "⊆", "⊃", "⊇", "∪", "∩", "∖",
        "×", "·", "±", "∓", "÷", "⊕", "⊗", "∧", "∨", "→", "←", "↔", "⇒", "⇐", "⇔", "↦",
    }.ToFrozenSet(StringComparer.Ordinal);

    private static bool EndsTerm(char c) =>
        char.IsLetterOrDigit(c) || c == ')' || char.GetUnicodeCategory(c) is System.Globalization.UnicodeCategory.OtherNumber
            or System.Globalization.UnicodeCategory.ModifierLetter or System.Globalization.UnicodeCategory.NonSpacingMark;

    /// <summary>Commands whose one argument is written as it is (<c>\mathbf{x}</c> is x).</summary>
    private static readonly FrozenSet<string> Plain = new[]
    {
        "mathbf", "mathrm", "mathit", "mathsf", "mathtt", "mathcal", "mathscr", "boldsymbol", "bm", "text", "textrm",
        "textbf", "textit", "texttt", "emph", "operatorname", "mbox", "left", "right", "big", "Big", "bigg", "Bigg",
    }.ToFrozenSet(StringComparer.Ordinal);

    /// <summary>Accents, written as the combining character after their argument.</summary>
    private static readonly FrozenDictionary<string, char> Accents = new Dictionary<string, char>
    {
        ["tilde"] = '\u0303', ["widetilde"] = '\u0303', ["hat"] = '\u0302', ["widehat"] = '\u0302', ["bar"] = '\u0304',
        ["overline"] = '\u0305', ["vec"] = '\u20D7', ["dot"] = '\u0307', ["ddot"] = '\u0308',
    }.ToFrozenDictionary(StringComparer.Ordinal);

    private static readonly FrozenDictionary<char, string> Blackboard = new Dictionary<char, string>
    {
        ['R'] = "ℝ", ['N'] = "ℕ", ['Z'] = "ℤ", ['Q'] = "ℚ", ['C'] = "ℂ", ['P'] = "ℙ", ['E'] = "𝔼", ['F'] = "𝔽", ['H'] = "ℍ",
    }.ToFrozenDictionary();

    private const string SuperFrom = "0123456789+-=()nijkTtabcdeghlmoprsuvwxyz";
    private const string SuperTo = "⁰¹²³⁴⁵⁶⁷⁸⁹⁺⁻⁼⁽⁾ⁿⁱʲᵏᵀᵗᵃᵇᶜᵈᵉᵍʰˡᵐᵒᵖʳˢᵘᵛʷˣʸᶻ";
    private const string SubFrom = "0123456789+-=()aehijklmnoprstuvx";
    private const string SubTo = "₀₁₂₃₄₅₆₇₈₉₊₋₌₍₎ₐₑₕᵢⱼₖₗₘₙₒₚᵣₛₜᵤᵥₓ";

    /// <summary>The text with each inline math span it can write in Unicode written so; the rest unchanged.</summary>
    public static string ToUnicode(string text)
    {
        if (string.IsNullOrEmpty(text) || !text.Contains('$'))
        {
            return text;
        }

        var result = new StringBuilder(text.Length);
        var at = 0;
        while (at < text.Length)
        {
            var open = FindOpening(text, at);
            if (open < 0)
            {
                break;
            }

            var close = FindClosing(text, open + 1);
            if (close < 0)
            {
                // Not math (money, a lone dollar): the dollar stays, the search goes on after it.
                result.Append(text, at, open + 1 - at);
                at = open + 1;
                continue;
            }

            result.Append(text, at, open - at);
            var converted = Convert(text.AsSpan(open + 1, close - open - 1));
            if (converted is null)
            {
                result.Append(text, open, close - open + 1);
            }
            else
            {
                result.Append(converted);
            }

            at = close + 1;
        }

        result.Append(text, at, text.Length - at);
        return result.ToString();
    }

    private static int FindOpening(string text, int from)
    {
        for (var i = from; i < text.Length - 1; i++)
        {
            if (text[i] == '$' && (i == 0 || text[i - 1] != '\\') && text[i + 1] != '$' && !char.IsWhiteSpace(text[i + 1]))
            {
                return i;
            }

            if (text[i] == '$' && text[i + 1] == '$')
            {
                i++; // display math, or "$$": not inline math
            }
        }

        return -1;
    }

    private static int FindClosing(string text, int from)
    {
        for (var i = from; i < text.Length && i - from <= MaxSpan; i++)
        {
            if (text[i] == '\\')
            {
                i++;
                continue;
            }

            if (text[i] == '$')
            {
                var ok = !char.IsWhiteSpace(text[i - 1]) && (i + 1 == text.Length || !char.IsAsciiDigit(text[i + 1]));
                return ok ? i : -1;
            }
        }

        return -1;
    }

    /// <summary>A span's math as Unicode, or null when it holds anything not understood.</summary>
    private static string? Convert(ReadOnlySpan<char> math)
    {
        var output = new StringBuilder(math.Length);
        var at = 0;
        return Sequence(math, ref at, output, closing: false) && at == math.Length ? Collapse(output) : null;
    }

    private static string Collapse(StringBuilder output) =>
        string.Join(' ', output.ToString().Split(' ', StringSplitOptions.RemoveEmptyEntries));

    /// <summary>Items up to the end, or up to a closing brace when <paramref name="closing"/> (which is consumed).</summary>
    private static bool Sequence(ReadOnlySpan<char> math, ref int at, StringBuilder output, bool closing)
    {
        while (at < math.Length)
        {
            if (math[at] == '}')
            {
                if (!closing)
                {
                    return false;
                }

                at++;
                return true;
            }

            if (!Item(math, ref at, output))
            {
                return false;
            }
        }

        return !closing;
    }

    /// <summary>One item: a command with its arguments, a group, a script, or a character.</summary>
    private static bool Item(ReadOnlySpan<char> math, ref int at, StringBuilder output)
    {
        var c = math[at];
        switch (c)
        {
            case '{':
                at++;
                return Sequence(math, ref at, output, closing: true);
            case '^' or '_':
            {
                at++;
                var script = new StringBuilder();
                if (!Argument(math, ref at, script))
                {
                    return false;
                }

                output.Append(Script(script.ToString(), superscript: c == '^'));
                return true;
            }

            case '\\':
                return Command(math, ref at, output);
            case '~':
                at++;
                output.Append(' ');
                return true;
            case '&':
                return false; // alignment: not inline math a line can hold
            default:
                at++;
                output.Append(c);
                return true;
        }
    }

    /// <summary>A command's argument: a group, a command, or one character (spaces before it skipped).</summary>
    private static bool Argument(ReadOnlySpan<char> math, ref int at, StringBuilder output)
    {
        while (at < math.Length && math[at] == ' ')
        {
            at++;
        }

        if (at >= math.Length || math[at] is '}' or '^' or '_')
        {
            return false;
        }

        return Item(math, ref at, output);
    }

    private static bool Command(ReadOnlySpan<char> math, ref int at, StringBuilder output)
    {
        var start = ++at;
        if (at >= math.Length)
        {
            return false;
        }

        if (char.IsAsciiLetter(math[at]))
        {
            while (at < math.Length && char.IsAsciiLetter(math[at]))
            {
                at++;
            }
        }
        else
        {
            at++;
        }

        var name = math[start..at].ToString();
        if (Symbols.TryGetValue(name, out var symbol))
        {
            if (Spaced.Contains(symbol))
            {
                // Relations, arrows and operators stand between spaces, as TeX sets them.
                output.Append(' ').Append(symbol).Append(' ');
            }
            else
            {
                // An operator name after a letter, digit or closing parenthesis: "n log n", not "nlog n".
                if (char.IsAsciiLetter(symbol[0]) && output.Length > 0 && EndsTerm(output[^1]))
                {
                    output.Append(' ');
                }

                output.Append(symbol);

                // The space that ends a sign's command is TeX syntax, not spacing: "\nabla f" is "∇f".
                while (!char.IsAsciiLetter(symbol[0]) && char.IsAsciiLetter(name[0]) && at < math.Length && math[at] == ' ')
                {
                    at++;
                }
            }

            return true;
        }

        var argument = new StringBuilder();
        if (Plain.Contains(name))
        {
            if (name is "left" or "right" or "big" or "Big" or "bigg" or "Bigg")
            {
                // A delimiter follows: written as it is ("\left(" is "(", "\left." is nothing).
                while (at < math.Length && math[at] == ' ')
                {
                    at++;
                }

                if (at < math.Length && math[at] == '.')
                {
                    at++;
                    return true;
                }

                return at < math.Length && Item(math, ref at, output);
            }

            if (!Argument(math, ref at, argument))
            {
                return false;
            }

            output.Append(argument);
            return true;
        }

        if (name == "mathbb" || name == "mathbbm")
        {
            if (!Argument(math, ref at, argument) || argument.Length != 1 || !Blackboard.TryGetValue(argument[0], out var letter))
            {
                return false;
            }

            output.Append(letter);
            return true;
        }

        if (Accents.TryGetValue(name, out var accent))
        {
            if (!Argument(math, ref at, argument) || argument.Length == 0)
            {
                return false;
            }

            // On one letter the combining mark; on more, the mark on each would mislead: "tilde(…)".
            if (argument.Length == 1)
            {
                output.Append(argument).Append(accent);
            }
            else
            {
                output.Append(name).Append('(').Append(argument).Append(')');
            }

            return true;
        }

        if (name == "sqrt")
        {
            if (!Argument(math, ref at, argument))
            {
                return false;
            }

            output.Append('√').Append(Grouped(argument.ToString()));
            return true;
        }

        if (name is "frac" or "dfrac" or "tfrac")
        {
            var denominator = new StringBuilder();
            if (!Argument(math, ref at, argument) || !Argument(math, ref at, denominator))
            {
                return false;
            }

            output.Append(Grouped(argument.ToString())).Append('/').Append(Grouped(denominator.ToString()));
            return true;
        }

        return false;
    }

    /// <summary>One symbol as it is; more in parentheses (for √, fractions and scripts).</summary>
    private static string Grouped(string text) =>
        text.Trim().Length <= 1 || (text.StartsWith('(') && text.EndsWith(')') && text.IndexOf(')') == text.Length - 1) ? text.Trim() : $"({text.Trim()})";

    private static string Script(string text, bool superscript)
    {
        var (from, to) = superscript ? (SuperFrom, SuperTo) : (SubFrom, SubTo);
        var written = new StringBuilder(text.Length);
        foreach (var c in text.Trim())
        {
            var index = from.IndexOf(c);
            if (index < 0)
            {
                return (superscript ? "^" : "_") + Grouped(text);
            }

            written.Append(to[index]);
        }

        return written.ToString();
    }
}
