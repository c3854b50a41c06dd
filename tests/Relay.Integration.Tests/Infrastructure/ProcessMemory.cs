using System.Globalization;

namespace Relay.Integration.Tests.Infrastructure;

/// <summary>Reads a process's memory use from <c>/proc</c>.</summary>
public static class ProcessMemory
{
    /// <summary>The resident set size of process <paramref name="pid"/>, in bytes (VmRSS of /proc/pid/status).</summary>
    public static long ResidentBytes(int pid) =>
        Read(pid, "VmRSS:") ?? throw new InvalidOperationException($"no VmRSS in /proc/{pid}/status");

    /// <summary>The peak resident set size of process <paramref name="pid"/> (VmHWM), in bytes; null where the kernel does not say.</summary>
    public static long? PeakBytes(int pid) => Read(pid, "VmHWM:");

    /// <summary>
    /// Resets the peak (VmHWM) to the current RSS, so <see cref="PeakBytes"/> measures from now on; returns false where
    /// the kernel does not allow it (then only sampling <see cref="ResidentBytes"/> tells the peak).
    /// </summary>
    public static bool ResetPeak(int pid)
    {
        try
        {
            File.WriteAllText($"/proc/{pid}/clear_refs", "5");
            return true;
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            return false;
        }
    }

    private static long? Read(int pid, string field)
    {
        foreach (var line in File.ReadLines($"/proc/{pid}/status"))
        {
            if (line.StartsWith(field, StringComparison.Ordinal))
            {
                var kilobytes = line[field.Length..].Trim().Split(' ')[0];
                return long.Parse(kilobytes, CultureInfo.InvariantCulture) * 1024;
            }
        }

        return null;
    }
}
