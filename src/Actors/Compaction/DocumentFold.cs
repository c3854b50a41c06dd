#nullable enable
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace Relay.Actors.Compaction;

/// <summary>How a deployment's patches are folded into a document's state (<c>Relay:Compaction:Mode</c>).</summary>
public enum CompactionMode
{
    /// <summary>No folding: every joiner replays the whole history.</summary>
    None = 0,

    /// <summary>Patches are JSON arrays of Immer patches, <c>{op, path: [...], value}</c>.</summary>
    Immer = 1,

    /// <summary>Patches are RFC 6902 JSON Patch documents.</summary>
    JsonPatch = 2,
}

/// <summary>
/// One document's state folded from its patches, in order, from an initial state: what a snapshot stores and a
/// joiner receives instead of the history. The first patch that is not JSON or does not apply makes the document
/// not compactable for good: its state is dropped and the reason kept (see <see cref="ImmerPatches"/> for what
/// counts as applying).
/// </summary>
public sealed class DocumentFold
{
    /// <summary>The deepest state (and patch) the fold takes; deeper makes the document not compactable.</summary>
    public const int MaxDepth = 256;

    private static readonly JsonDocumentOptions ReadOptions = new() { MaxDepth = MaxDepth, AllowDuplicateProperties = false };
    private static readonly JsonSerializerOptions WriteOptions = new() { MaxDepth = MaxDepth };
    private JsonNode? _state;
    private byte[]? _written;

    private DocumentFold(CompactionMode mode, JsonNode? state, string? notCompactableReason)
    {
        Mode = mode;
        _state = state;
        NotCompactableReason = notCompactableReason;
    }

    /// <summary>The patch format folded.</summary>
    public CompactionMode Mode { get; }

    /// <summary>Whether every patch so far applied; false for good once one did not.</summary>
    public bool Compactable => NotCompactableReason is null;

    /// <summary>Why the document is not compactable; null while it is.</summary>
    public string? NotCompactableReason { get; private set; }

    /// <summary>A fold of an empty history: the state is <paramref name="initialState"/> (UTF-8 JSON).</summary>
    public static DocumentFold Start(CompactionMode mode, ReadOnlyMemory<byte> initialState) => Restore(mode, initialState, null);

    /// <summary>A fold restored from a snapshot: its state, or the reason it is not compactable.</summary>
    public static DocumentFold Restore(CompactionMode mode, ReadOnlyMemory<byte> state, string? notCompactableReason)
    {
        if (mode == CompactionMode.None)
        {
            throw new ArgumentException("no fold without a compaction mode", nameof(mode));
        }

        return notCompactableReason is null
            ? new DocumentFold(mode, JsonNode.Parse(state.Span, documentOptions: ReadOptions), null)
            : new DocumentFold(mode, null, notCompactableReason);
    }

    /// <summary>A fold of a document already known not to be compactable.</summary>
    public static DocumentFold NotCompactable(CompactionMode mode, string reason) => new(mode, null, reason);

    /// <summary>
    /// Folds the next patch of the history in. Returns false when this patch made the document not compactable
    /// (the one time to say why); true otherwise, including for every patch after that.
    /// </summary>
    public bool Apply(ReadOnlyMemory<byte> payload, bool isText)
    {
        if (!Compactable)
        {
            return true;
        }

        if (!isText)
        {
            return Reject("a binary frame");
        }

        _written = null;
        try
        {
            var patch = JsonNode.Parse(payload.Span, documentOptions: ReadOptions);
            _state = Mode == CompactionMode.Immer ? ImmerPatches.Apply(_state, patch) : JsonPatches.Apply(_state, patch);
            return true;
        }
        catch (JsonException e)
        {
            return Reject("not JSON: " + e.Message);
        }
        catch (PatchRejectedException e)
        {
            return Reject(e.Message);
        }
    }

    /// <summary>
    /// The state as UTF-8 JSON (written once per state: the snapshot's size check and the snapshot share it); null
    /// when the document is not compactable, which a state that nests too deep to write makes it.
    /// </summary>
    public byte[]? StateUtf8()
    {
        if (!Compactable)
        {
            return null;
        }

        try
        {
            return _written ??= _state is null ? "null"u8.ToArray() : JsonSerializer.SerializeToUtf8Bytes(_state, WriteOptions);
        }
        catch (JsonException e)
        {
            Reject("the state nests deeper than " + MaxDepth + ": " + e.Message);
            return null;
        }
    }

    /// <summary>The one patch that sets a client's whole state to <paramref name="stateUtf8"/>: a replacement of the root.</summary>
    public static byte[] ReplaceRootPatch(CompactionMode mode, ReadOnlySpan<byte> stateUtf8)
    {
        var head = mode == CompactionMode.Immer ? """[{"op":"replace","path":[],"value":"""u8 : """[{"op":"replace","path":"","value":"""u8;
        var patch = new byte[head.Length + stateUtf8.Length + 2];
        head.CopyTo(patch);
        stateUtf8.CopyTo(patch.AsSpan(head.Length));
        "}]"u8.CopyTo(patch.AsSpan(head.Length + stateUtf8.Length));
        return patch;
    }

    /// <summary>Parses a <c>Relay:Compaction:Mode</c> value.</summary>
    public static CompactionMode ParseMode(string? mode) => (mode ?? "none").ToLowerInvariant() switch
    {
        "none" or "" => CompactionMode.None,
        "immer" => CompactionMode.Immer,
        "json-patch" => CompactionMode.JsonPatch,
        _ => throw new InvalidOperationException($"Relay:Compaction:Mode '{mode}' is not supported; use none, immer or json-patch"),
    };

    /// <summary>Checks that <paramref name="json"/> is one JSON value, as <c>Relay:Compaction:InitialState</c> must be, and returns its UTF-8 bytes.</summary>
    public static byte[] ParseInitialState(string json)
    {
        var bytes = Encoding.UTF8.GetBytes(json);
        try
        {
            JsonNode.Parse(bytes, documentOptions: ReadOptions);
        }
        catch (JsonException e)
        {
            throw new InvalidOperationException("Relay:Compaction:InitialState must be JSON: " + e.Message, e);
        }

        return bytes;
    }

    private bool Reject(string reason)
    {
        NotCompactableReason = reason;
        _state = null;
        _written = null;
        return false;
    }
}
