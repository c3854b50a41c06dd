#nullable enable
using System.Globalization;
using System.Text.Json.Nodes;

namespace Relay.Actors.Compaction;

/// <summary>
/// Immer's <c>applyPatches</c> (immer 11, <c>src/plugins/patches.ts</c> and <c>src/core/immerClass.ts</c>) over JSON:
/// the last patch that replaces the root (<c>path: []</c>) wins and the patches before it are not looked at; every
/// later one walks its path through objects and arrays, and a step that does not land on an object or array fails.
/// Where Immer's result depends on JavaScript's loose rules rather than on JSON (an array index past the end that
/// leaves holes, <c>splice</c> clamping or counting from the end, a non-numeric array key, a missing <c>value</c>,
/// a root <c>add</c>), this throws <see cref="PatchRejectedException"/> instead of guessing: those documents are
/// replayed in full rather than folded wrongly.
/// </summary>
public static class ImmerPatches
{
    /// <summary>Applies the patch array <paramref name="patches"/> to <paramref name="root"/> and returns the new root.</summary>
    public static JsonNode? Apply(JsonNode? root, JsonNode? patches)
    {
        if (patches is not JsonArray list)
        {
            throw new PatchRejectedException("a patch must be a JSON array of Immer patches");
        }

        // Immer scans backwards for the last root replacement and starts from its value.
        var start = 0;
        for (var i = list.Count - 1; i >= 0; i--)
        {
            var patch = Shape(list[i]);
            if (patch.Path.Count == 0 && patch.Op == "replace")
            {
                root = ValueOf(patch.Node);
                start = i + 1;
                break;
            }
        }

        for (var i = start; i < list.Count; i++)
        {
            root = ApplyOne(root, Shape(list[i]));
        }

        return root;
    }

    private static JsonNode? ApplyOne(JsonNode? root, Patch patch)
    {
        if (patch.Path.Count == 0)
        {
            throw new PatchRejectedException($"an Immer '{patch.Op}' of the root (path []) has no JSON meaning");
        }

        var node = root;
        for (var i = 0; i < patch.Path.Count - 1; i++)
        {
            var step = patch.Path[i];
            node = node switch
            {
                JsonObject obj => obj.TryGetPropertyValue(ObjectKey(step, intermediate: true), out var child) ? child : null,
                JsonArray array => IndexOf(step, array.Count) is { } index && index < array.Count ? array[index] : null,
                _ => null,
            };
            if (node is not (JsonObject or JsonArray))
            {
                throw new PatchRejectedException("path doesn't resolve: " + Describe(patch.Path));
            }
        }

        var key = patch.Path[^1];
        switch (node)
        {
            case JsonObject obj:
                var name = ObjectKey(key, intermediate: false);
                switch (patch.Op)
                {
                    case "add":
                    case "replace":
                        obj[name] = ValueOf(patch.Node);
                        return root;
                    case "remove":
                        obj.Remove(name);
                        return root;
                }

                break;
            case JsonArray array:
                switch (patch.Op)
                {
                    case "add" when key is JsonValue v && v.TryGetValue<string>(out var dash) && dash == "-":
                        array.Add(ValueOf(patch.Node));
                        return root;
                    case "add":
                        array.Insert(Index(key, array.Count + 1, patch), ValueOf(patch.Node));
                        return root;
                    case "replace":
                        array[Index(key, array.Count, patch)] = ValueOf(patch.Node);
                        return root;
                    case "remove":
                        array.RemoveAt(Index(key, array.Count, patch));
                        return root;
                }

                break;
            default:
                throw new PatchRejectedException("path doesn't resolve: " + Describe(patch.Path));
        }

        throw new PatchRejectedException("Unsupported patch operation: " + patch.Op);
    }

    private static Patch Shape(JsonNode? node)
    {
        if (node is not JsonObject obj || !obj.TryGetPropertyValue("path", out var path) || path is not JsonArray steps)
        {
            throw new PatchRejectedException("an Immer patch must be an object with a path array");
        }

        var op = obj.TryGetPropertyValue("op", out var opNode) && opNode is JsonValue opValue && opValue.TryGetValue<string>(out var text)
            ? text
            : throw new PatchRejectedException("an Immer patch must have a string op");
        return new Patch(op, steps, obj);
    }

    private static JsonNode? ValueOf(JsonObject patch) =>
        patch.TryGetPropertyValue("value", out var value)
            ? value?.DeepClone()
            : throw new PatchRejectedException("an add or replace without a value");

    // JavaScript turns a number key into its decimal string; only whole numbers are certain to match that here.
    private static string ObjectKey(JsonNode? step, bool intermediate)
    {
        string key;
        if (step is JsonValue value && value.TryGetValue<string>(out var text))
        {
            key = text;
        }
        else if (step is JsonValue number && number.TryGetValue<long>(out var whole))
        {
            key = whole.ToString(CultureInfo.InvariantCulture);
        }
        else
        {
            throw new PatchRejectedException("a path element must be a string or a whole number");
        }

        // Immer refuses these on the way; as the last key they would reach an object's prototype in JavaScript.
        if (key is "__proto__" or "constructor" or "prototype")
        {
            throw new PatchRejectedException(intermediate
                ? "Patching reserved attributes like __proto__, prototype and constructor is not allowed"
                : "a patch of the reserved key " + key);
        }

        return key;
    }

    private static int? IndexOf(JsonNode? step, int limit)
    {
        if (step is JsonValue value)
        {
            if (value.TryGetValue<long>(out var number))
            {
                return number >= 0 && number < limit ? (int)number : null;
            }

            // An array's own keys are the canonical decimal strings of its indices.
            if (value.TryGetValue<string>(out var text))
            {
                return ArrayIndex.Parse(text, limit);
            }
        }

        return null;
    }

    private static int Index(JsonNode? step, int limit, Patch patch) =>
        IndexOf(step, limit) ?? throw new PatchRejectedException($"array index out of range or not a number in a '{patch.Op}': " + Describe(patch.Path));

    private static string Describe(JsonArray path) => string.Join('/', path.Select(step => step?.ToJsonString() ?? "null"));

    private sealed record Patch(string Op, JsonArray Path, JsonObject Node);
}
