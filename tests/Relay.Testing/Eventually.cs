namespace Relay.Testing;

/// <summary>Waits on a condition read from the system, never for a fixed time.</summary>
public static class Eventually
{
    /// <summary>Polls <paramref name="condition"/> until it holds (true) or <paramref name="timeout"/> passed (false, after one last look).</summary>
    public static async Task<bool> HoldsAsync(Func<Task<bool>> condition, TimeSpan timeout)
    {
        using var deadline = new CancellationTokenSource(timeout);
        while (!deadline.IsCancellationRequested)
        {
            if (await condition())
            {
                return true;
            }

            await Task.Delay(200, CancellationToken.None);
        }

        return await condition();
    }
}
