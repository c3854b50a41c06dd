#nullable enable
using System.Globalization;

namespace Relay.Actors.Compaction;

/// <summary>
/// An array index written as text, as both JavaScript (an array's own keys) and RFC 6901 (JSON pointers) write it:
/// decimal digits without a leading zero.
/// </summary>
internal static class ArrayIndex
{
    /// <summary>The index <paramref name="token"/> names, if it is one and below <paramref name="limit"/>; else null.</summary>
    public static int? Parse(string token, int limit) =>
        token.Length is > 0 and <= 10 && token.All(char.IsAsciiDigit) && (token == "0" || token[0] != '0') &&
        long.Parse(token, CultureInfo.InvariantCulture) is var index && index < limit
            ? (int)index
            : null;
}
