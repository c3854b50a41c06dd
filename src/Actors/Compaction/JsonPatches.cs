#nullable enable
using System.Text.Json.Nodes;

namespace Relay.Actors.Compaction;

/// <summary>
/// RFC 6902 JSON Patch over JSON: a patch is an array of operations (<c>add</c>, <c>remove</c>, <c>replace</c>,
/// <c>move</c>, <c>copy</c>, <c>test</c>) whose <c>path</c> and <c>from</c> are RFC 6901 JSON pointers. An
/// operation that fails (a path that does not resolve, a failed <c>test</c>) throws
/// <see cref="PatchRejectedException"/>; the RFC makes the whole patch fail then.
/// </summary>
public static class JsonPatches
{
    /// <summary>Applies the operation array <paramref name="patch"/> to <paramref name="root"/> and returns the new root.</summary>
    public static JsonNode? Apply(JsonNode? root, JsonNode? patch)
    {
        if (patch is not JsonArray operations)
        {
            throw new PatchRejectedException("a JSON Patch must be a JSON array of operations");
        }

        foreach (var operation in operations)
        {
            if (operation is not JsonObject op)
            {
                throw new PatchRejectedException("a JSON Patch operation must be an object");
            }

            var path = Pointer(op, "path");
            switch (Text(op, "op"))
            {
                case "add":
                    root = Add(root, path, Value(op));
                    break;
                case "remove":
                    root = Remove(root, path, out _);
                    break;
                case "replace":
                    root = Remove(root, path, out _);
                    root = Add(root, path, Value(op));
                    break;
                case "move":
                    var from = Pointer(op, "from");
                    if (path.Count > from.Count && path.Take(from.Count).SequenceEqual(from))
                    {
                        throw new PatchRejectedException("a move into its own child");
                    }

                    root = Remove(root, from, out var moved);
                    root = Add(root, path, moved);
                    break;
                case "copy":
                    root = Add(root, path, Get(root, Pointer(op, "from"))?.DeepClone());
                    break;
                case "test":
                    if (!JsonEquality.AreEqual(Get(root, path), Value(op)))
                    {
                        throw new PatchRejectedException("test failed at " + op["path"]);
                    }

                    break;
                case var other:
                    throw new PatchRejectedException("unsupported JSON Patch operation: " + other);
            }
        }

        return root;
    }

    private static JsonNode? Add(JsonNode? root, List<string> path, JsonNode? value)
    {
        if (path.Count == 0)
        {
            return value;
        }

        switch (Get(root, path.Take(path.Count - 1)))
        {
            case JsonObject obj:
                obj[path[^1]] = value;
                return root;
            case JsonArray array:
                var index = path[^1] == "-" ? array.Count : Index(path[^1], array.Count + 1);
                array.Insert(index, value);
                return root;
            default:
                throw new PatchRejectedException("path doesn't resolve: " + Render(path));
        }
    }

    private static JsonNode? Remove(JsonNode? root, List<string> path, out JsonNode? removed)
    {
        if (path.Count == 0)
        {
            removed = root;
            return null;
        }

        switch (Get(root, path.Take(path.Count - 1)))
        {
            case JsonObject obj when obj.TryGetPropertyValue(path[^1], out removed):
                obj.Remove(path[^1]);
                return root;
            case JsonArray array:
                var index = Index(path[^1], array.Count);
                removed = array[index];
                array.RemoveAt(index);
                return root;
            default:
                throw new PatchRejectedException("path doesn't resolve: " + Render(path));
        }
    }

    private static JsonNode? Get(JsonNode? root, IEnumerable<string> path)
    {
        var node = root;
        foreach (var token in path)
        {
            node = node switch
            {
                JsonObject obj when obj.TryGetPropertyValue(token, out var child) => child,
                JsonArray array => array[Index(token, array.Count)],
                _ => throw new PatchRejectedException("path doesn't resolve at " + token),
            };
        }

        return node;
    }

    // RFC 6901: digits without a leading zero; "-" (past the end) only where add allows it.
    private static int Index(string token, int limit) =>
        ArrayIndex.Parse(token, limit) ?? throw new PatchRejectedException("array index out of range or not a number: " + token);

    private static List<string> Pointer(JsonObject op, string member)
    {
        var pointer = Text(op, member);
        if (pointer.Length == 0)
        {
            return [];
        }

        if (pointer[0] != '/')
        {
            throw new PatchRejectedException($"'{member}' must be a JSON pointer: " + pointer);
        }

        return pointer[1..].Split('/').Select(token => token.Replace("~1", "/", StringComparison.Ordinal).Replace("~0", "~", StringComparison.Ordinal)).ToList();
    }

    private static string Text(JsonObject op, string member) =>
        op.TryGetPropertyValue(member, out var node) && node is JsonValue value && value.TryGetValue<string>(out var text)
            ? text
            : throw new PatchRejectedException($"a JSON Patch operation needs a string '{member}'");

    private static JsonNode? Value(JsonObject op) =>
        op.TryGetPropertyValue("value", out var value) ? value?.DeepClone() : throw new PatchRejectedException("an operation without a value");

    private static string Render(List<string> path) => "/" + string.Join('/', path);
}
