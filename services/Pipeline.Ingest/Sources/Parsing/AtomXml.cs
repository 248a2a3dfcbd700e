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
    /// memory at a time. XML errors (truncation, undeclared entities, an entry nested deeper than
    /// <see cref="SafeXml.MaxEntryDepth"/>) surface as <see cref="FeedFormatException"/>.
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
                    onEntry(ReadEntry(reader));
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

    /// <summary>
    /// The element the reader is on as a tree of its own, built without recursion and refused when
    /// it nests more than <see cref="SafeXml.MaxEntryDepth"/> levels: XNode.ReadFrom takes time in the
    /// square of the depth (a title of 100,000 nested elements, 700 KB, took minutes). Leaves the
    /// reader on the node after the element, as ReadFrom does.
    /// </summary>
    private static XElement ReadEntry(XmlReader reader)
    {
        var top = reader.Depth;
        XElement? root = null;
        XElement? current = null;
        do
        {
            switch (reader.NodeType)
            {
                case XmlNodeType.Element:
                    if (reader.Depth - top > SafeXml.MaxEntryDepth)
                    {
                        throw new FeedFormatException(
                            $"an entry nests elements more than {SafeXml.MaxEntryDepth} levels deep (line {(reader as IXmlLineInfo)?.LineNumber})");
                    }

                    var element = new XElement(XName.Get(reader.LocalName, reader.NamespaceURI));
                    if (reader.MoveToFirstAttribute())
                    {
                        do
                        {
                            // Namespace declarations are already in the element names.
                            if (reader.NamespaceURI != XNamespace.Xmlns.NamespaceName)
                            {
                                element.Add(new XAttribute(XName.Get(reader.LocalName, reader.NamespaceURI), reader.Value));
                            }
                        }
                        while (reader.MoveToNextAttribute());
                        reader.MoveToElement();
                    }

                    if (root is null)
                    {
                        root = element;
                    }
                    else
                    {
                        current!.Add(element);
                    }

                    if (!reader.IsEmptyElement)
                    {
                        current = element;
                    }
                    else if (element == root)
                    {
                        reader.Read();
                        return root;
                    }

                    break;
                case XmlNodeType.EndElement:
                    if (current == root)
                    {
                        reader.Read();
                        return root!;
                    }

                    current = current!.Parent;
                    break;
                case XmlNodeType.Text or XmlNodeType.Whitespace or XmlNodeType.SignificantWhitespace:
                    current!.Add(new XText(reader.Value));
                    break;
                case XmlNodeType.CDATA:
                    current!.Add(new XCData(reader.Value));
                    break;
            }
        }
        while (reader.Read());

        throw new FeedFormatException("the body ends inside an entry");
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
