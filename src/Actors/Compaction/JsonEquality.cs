#nullable enable
using System.Text.Json;
using System.Text.Json.Nodes;

namespace Relay.Actors.Compaction;

/// <summary>JSON values compared as JSON means them: numbers by value, objects whatever their members' order.</summary>
public static class JsonEquality
{
    /// <summary>Whether <paramref name="a"/> and <paramref name="b"/> are the same JSON value.</summary>
    public static bool AreEqual(JsonNode? a, JsonNode? b) => (a, b) switch
    {
        (null, null) => true,
        (JsonObject x, JsonObject y) => x.Count == y.Count &&
            x.All(member => y.TryGetPropertyValue(member.Key, out var other) && AreEqual(member.Value, other)),
        (JsonArray x, JsonArray y) => x.Count == y.Count && Enumerable.Range(0, x.Count).All(i => AreEqual(x[i], y[i])),
        (JsonValue x, JsonValue y) => x.GetValueKind() == y.GetValueKind() && x.GetValueKind() switch
        {
            JsonValueKind.Number => x.GetValue<double>() == y.GetValue<double>(),
            JsonValueKind.String => x.GetValue<string>() == y.GetValue<string>(),
            _ => true,
        },
        _ => false,
    };
}
