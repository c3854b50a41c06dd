#nullable enable
using System.Security.Cryptography;
using System.Text;

namespace Relay.Actors.Documents;

/// <summary>
/// The name of a document: the path clients address it by, without the leading slash. The empty name is the
/// default document (the path <c>/</c>), the one history every Relay before documents had.
/// A name is 1 to 256 characters: path segments of <c>A–Z a–z 0–9 . _ ~ -</c> separated by single
/// slashes, with no empty, <c>.</c> or <c>..</c> segment.
/// </summary>
public readonly record struct DocumentName
{
    /// <summary>The longest name, in characters.</summary>
    public const int MaxLength = 256;

    // Akka.Persistence.Sql's persistence_id columns are 255 characters on PostgreSQL.
    private const int MaxPersistenceIdLength = 255;
    private const string DefaultPersistenceId = "relay-history";
    private const string PersistenceIdPrefix = "relay-history/";
    private const string DefaultTopic = "relay-patches";
    private const string TopicPrefix = "relay-patches/";
    private const string DefaultPresenceTopic = "relay-presence";
    private const string PresenceTopicPrefix = "relay-presence/";

    private readonly string? _value;

    private DocumentName(string value)
    {
        _value = value;
    }

    /// <summary>The default document, <c>/</c>.</summary>
    public static DocumentName Default => default;

    /// <summary>The name; empty for the default document.</summary>
    public string Value => _value ?? string.Empty;

    /// <summary>Whether this is the default document.</summary>
    public bool IsDefault => Value.Length == 0;

    /// <summary>The URL path of the document: <c>/</c> for the default, else <c>/</c> and the name. Unique and never empty.</summary>
    public string Path => "/" + Value;

    /// <summary>
    /// The persistence id of the document's history. The default document keeps the id the single history
    /// always had, so a journal written before documents existed is read as the default document.
    /// </summary>
    public string PersistenceId
    {
        get
        {
            if (IsDefault)
            {
                return DefaultPersistenceId;
            }

            var id = PersistenceIdPrefix + Value;
            if (id.Length <= MaxPersistenceIdLength)
            {
                return id;
            }

            // Too long for the column: keep a readable head and make it unique with a hash of the whole name.
            var hash = Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(Value)));
            return id[..(MaxPersistenceIdLength - hash.Length - 1)] + "#" + hash;
        }
    }

    /// <summary>
    /// The document whose history is journaled under <paramref name="persistenceId"/> (<see cref="PersistenceId"/>
    /// read back). False for ids that are no document's, and for a name too long for the column, which is kept
    /// shortened with a hash and cannot be read back.
    /// </summary>
    public static bool TryFromPersistenceId(string persistenceId, out DocumentName name)
    {
        name = Default;
        if (persistenceId == DefaultPersistenceId)
        {
            return true;
        }

        return persistenceId.StartsWith(PersistenceIdPrefix, StringComparison.Ordinal)
            && TryParse(persistenceId[PersistenceIdPrefix.Length..], out name, out _)
            && !name.IsDefault;
    }

    /// <summary>The start every persistence id of a document under <paramref name="prefix"/> (a name's start) has.</summary>
    public static string PersistenceIdPrefixOf(string prefix) => PersistenceIdPrefix + prefix;

    /// <summary>The DistributedPubSub topic that carries the document's patches and heartbeats.</summary>
    public string Topic => IsDefault ? DefaultTopic : TopicPrefix + Value;

    /// <summary>The DistributedPubSub topic that carries the presence of the document's clients between nodes.</summary>
    public string PresenceTopic => IsDefault ? DefaultPresenceTopic : PresenceTopicPrefix + Value;

    /// <summary>
    /// Parses a URL path that is already percent-decoded, with or without its leading slash: <c>/</c> or an
    /// empty path is the default document.
    /// </summary>
    /// <returns>Whether the path names a document; otherwise <paramref name="error"/> says why in one line.</returns>
    public static bool TryParse(string? path, out DocumentName name, out string error)
    {
        name = Default;
        error = string.Empty;
        var value = path is { Length: > 0 } && path[0] == '/' ? path[1..] : path ?? string.Empty;
        if (value.Length == 0)
        {
            return true;
        }

        if (value.Length > MaxLength)
        {
            error = $"document name longer than {MaxLength} characters";
            return false;
        }

        var segmentStart = 0;
        for (var i = 0; i <= value.Length; i++)
        {
            if (i == value.Length || value[i] == '/')
            {
                var segment = value.AsSpan(segmentStart, i - segmentStart);
                if (segment.Length == 0)
                {
                    error = "document name has an empty path segment";
                    return false;
                }

                if (segment is "." or "..")
                {
                    error = "document name has a '.' or '..' segment";
                    return false;
                }

                segmentStart = i + 1;
            }
            else if (!IsNameChar(value[i]))
            {
                error = $"document name has a character outside A-Z a-z 0-9 . _ ~ - (at {i + 1})";
                return false;
            }
        }

        name = new DocumentName(value);
        return true;
    }

    /// <summary>Parses a name, throwing when it is not one.</summary>
    public static DocumentName Parse(string path) =>
        TryParse(path, out var name, out var error) ? name : throw new ArgumentException(error, nameof(path));

    /// <inheritdoc />
    public override string ToString() => Path;

    private static bool IsNameChar(char c) =>
        c is >= 'a' and <= 'z' or >= 'A' and <= 'Z' or >= '0' and <= '9' or '.' or '_' or '~' or '-';
}
