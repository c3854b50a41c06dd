using System.Globalization;

namespace Relay.Integration.Tests.Infrastructure;

/// <summary>Reads a process's memory use from <c>/proc</c>.</summary>
public static class ProcessMemory
{
    /// <summary>The resident set size of process <paramref name="pid"/>, in bytes (VmRSS of /proc/pid/status).</summary>
    public static long ResidentBytes(int pid)
    {
        foreach (var line in File.ReadLines($"/proc/{pid}/status"))
        {
            if (line.StartsWith("VmRSS:", StringComparison.Ordinal))
            {
                var kilobytes = line["VmRSS:".Length..].Trim().Split(' ')[0];
                return long.Parse(kilobytes, CultureInfo.InvariantCulture) * 1024;
            }
        }

        throw new InvalidOperationException($"no VmRSS in /proc/{pid}/status");
    }
}
