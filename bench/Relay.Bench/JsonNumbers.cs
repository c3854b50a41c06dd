using System.Globalization;
using System.Text.Json.Nodes;

namespace Relay.Bench;

/// <summary>Reads any JSON number as a double (a <see cref="JsonValue"/> built from a long refuses <c>GetValue&lt;double&gt;</c>).</summary>
public static class JsonNumbers
{
    /// <summary>The number, or null for a missing or non-numeric node.</summary>
    public static double? AsDouble(this JsonNode? node) =>
        node is JsonValue && double.TryParse(node.ToJsonString(), NumberStyles.Float, CultureInfo.InvariantCulture, out var value) ? value : null;
}
