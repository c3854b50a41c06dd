namespace Relay.Bench.SignalRRelay;

/// <summary>
/// Every patch the relay has seen, in the one order everybody receives them, and the gate that orders an append
/// and its broadcast against a joiner's last catch-up step and its entry into the live group.
/// </summary>
public sealed class PatchLog : IDisposable
{
    private readonly List<string> _patches = [];

    /// <summary>
    /// Held around "append, then broadcast to the live group" and around "send the last of the history, then join
    /// the live group". An async gate, since both hold it across awaited sends.
    /// </summary>
    public SemaphoreSlim Gate { get; } = new(1, 1);

    /// <summary>Appends a patch; the caller holds <see cref="Gate"/>.</summary>
    public void Append(string patch) => _patches.Add(patch);

    /// <summary>The patches from <paramref name="start"/> on, copied; the caller holds <see cref="Gate"/>.</summary>
    public string[] CopyFrom(int start) => _patches.GetRange(start, _patches.Count - start).ToArray();

    /// <inheritdoc />
    public void Dispose() => Gate.Dispose();
}
