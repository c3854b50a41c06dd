namespace Relay.Testing;

/// <summary>
/// How what one client received compares with what another client sent: each sent patch should arrive
/// exactly once and in the sender's order. Received messages that were never sent count as unknown.
/// </summary>
/// <param name="Sent">Patches sent.</param>
/// <param name="Delivered">Distinct sent patches that arrived.</param>
/// <param name="Missing">Sent patches that never arrived.</param>
/// <param name="Doubled">Arrivals of a patch that had already arrived.</param>
/// <param name="OutOfOrder">First arrivals of a patch sent before one that had already arrived.</param>
/// <param name="Unknown">Arrivals of something that was not sent.</param>
public sealed record DeliveryTally(int Sent, int Delivered, int Missing, int Doubled, int OutOfOrder, int Unknown)
{
    /// <summary>Compares <paramref name="received"/> (in arrival order) with <paramref name="sent"/> (in sending order, distinct).</summary>
    public static DeliveryTally Of(IReadOnlyList<string> sent, IEnumerable<string> received)
    {
        var position = new Dictionary<string, int>(sent.Count, StringComparer.Ordinal);
        for (var i = 0; i < sent.Count; i++)
        {
            position.TryAdd(sent[i], i);
        }

        var seen = new HashSet<string>(StringComparer.Ordinal);
        var (doubled, outOfOrder, unknown, furthest) = (0, 0, 0, -1);
        foreach (var text in received)
        {
            if (!position.TryGetValue(text, out var at))
            {
                unknown++;
            }
            else if (!seen.Add(text))
            {
                doubled++;
            }
            else if (at < furthest)
            {
                outOfOrder++;
            }
            else
            {
                furthest = at;
            }
        }

        return new DeliveryTally(sent.Count, seen.Count, sent.Count - seen.Count, doubled, outOfOrder, unknown);
    }

    /// <summary>Every sent patch arrived once, in order, and nothing else did.</summary>
    public bool IsExact => Missing == 0 && Doubled == 0 && OutOfOrder == 0 && Unknown == 0;

    /// <inheritdoc />
    public override string ToString() =>
        $"sent {Sent}, delivered {Delivered}, missing {Missing}, doubled {Doubled}, out of order {OutOfOrder}, unknown {Unknown}";
}
