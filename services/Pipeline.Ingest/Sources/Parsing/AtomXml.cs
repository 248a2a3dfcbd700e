using System.Globalization;
using System.Xml;
using System.Xml.Linq;

namespace Pipeline.Ingest.Sources.Parsing;

/// <summary>Helpers shared by the XML parsers: namespaces, reading entries one at a time, dates.</summary>
internal static class AtomXml
{
    public static readonly XNamespace Atom = "http://www.w3.org/2005/Atom";
    public static readonly XNamespace Arxiv = "http://arxiv.org/schemas/atom";
    public static readonly XNamespace OpenSearch = "http://a9.com/-/spec/opensearch/1.1/";
    public static readonly XNamespace Dc = "http://purl.org/dc/elements/1.1/";

    /// <summary>
    /// Walks the document and hands every entry element to <paramref name="onEntry"/> as a small
    /// tree of its own, and the text of the feed-level elements <paramref name="wantsValue"/> picks
    /// to <paramref name="onValue"/>. Only one entry is in
    /// memory at a time. XML errors (truncation, undeclared entities) surface as
    /// <see cref="FeedFormatException"/>.
    /// </summary>
    public static string ReadEntries(
        Stream body,
        Func<XName, bool> isEntry,
        Action<XElement> onEntry,
        Func<XName, bool>? wantsValue = null,
        Action<XName, string>? onValue = null,
        long maxCharacters = SafeXml.DefaultMaxCharacters)
    {
        try
        {
            using var reader = SafeXml.Create(body, maxCharacters);
            if (reader.MoveToContent() != XmlNodeType.Element)
            {
                throw new FeedFormatException("the body has no root element");
            }

            var root = XName.Get(reader.LocalName, reader.NamespaceURI);
            if (reader.IsEmptyElement)
            {
                return root.LocalName;
            }

            reader.Read();
            while (!reader.EOF)
            {
                if (reader.NodeType != XmlNodeType.Element)
                {
                    reader.Read();
                    continue;
                }

                var name = XName.Get(reader.LocalName, reader.NamespaceURI);
                if (isEntry(name))
                {
                    // ReadFrom leaves the reader on the node after the entry.
                    onEntry((XElement)XNode.ReadFrom(reader));
                }
                else if (onValue is not null && reader.Depth == 1 && wantsValue!(name))
                {
                    // Leaves the reader on the node after the element.
                    onValue(name, reader.ReadElementContentAsString());
                }
                else
                {
                    reader.Read();
                }
            }

            return root.LocalName;
        }
        catch (XmlException e)
        {
            throw new FeedFormatException($"the body is not well-formed XML (line {e.LineNumber}, position {e.LinePosition}): {e.Message}", e);
        }
    }

    public static string? Text(this XElement entry, XName name) => entry.Element(name)?.Value;

    public static DateTimeOffset? Date(string? text)
    {
        if (string.IsNullOrWhiteSpace(text))
        {
            return null;
        }

        return DateTimeOffset.TryParse(text.Trim(), CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal | DateTimeStyles.AllowWhiteSpaces, out var at)
            ? at.ToUniversalTime()
            : throw new FormatException($"'{Short(text)}' is not a date");
    }

    public static string Short(string text) => text.Length <= 60 ? text : text[..60] + "…";
}
