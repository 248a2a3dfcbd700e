using System.Xml;

namespace Pipeline.Ingest.Sources.Parsing;

/// <summary>
/// The only way sources read XML. Feeds come from the network, so: DTDs are ignored (a DOCTYPE is
/// skipped, its entities are never declared, so a reference to one is an error instead of an
/// expansion: no billion laughs), no resolver (no file or URL is ever opened for an external
/// entity), entity expansion capped anyway, the document size capped, and entries read at most
/// <see cref="MaxEntryDepth"/> elements deep (<see cref="AtomXml"/>).
/// </summary>
public static class SafeXml
{
    public static XmlReaderSettings Settings(long maxCharacters) => new()
    {
        DtdProcessing = DtdProcessing.Ignore,
        XmlResolver = null,
        MaxCharactersFromEntities = 1_024,
        MaxCharactersInDocument = maxCharacters,
        IgnoreComments = true,
        IgnoreProcessingInstructions = true,
        IgnoreWhitespace = true,
        CloseInput = false,
        Async = false,
    };

    /// <summary>How deep elements may nest inside one entry (arXiv's go 3 deep); deeper refuses the body.</summary>
    public const int MaxEntryDepth = 32;

    /// <summary>Default cap: 16 M characters, beyond any real feed page.</summary>
    public const long DefaultMaxCharacters = 16L * 1024 * 1024;

    public static XmlReader Create(Stream body, long maxCharacters = DefaultMaxCharacters) =>
        XmlReader.Create(body, Settings(maxCharacters));
}
