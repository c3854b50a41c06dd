namespace Relay.Bench;

/// <summary>Resident memory and CPU time of a process, read from /proc (Linux).</summary>
public static class ProcStats
{
    private static readonly double TicksPerSecond = 100.0; // USER_HZ on every Linux this runs on

    /// <summary>VmRSS of <paramref name="pid"/> in KB; null when unreadable.</summary>
    public static long? ResidentKb(int pid)
    {
        try
        {
            foreach (var line in File.ReadLines($"/proc/{pid}/status"))
            {
                if (line.StartsWith("VmRSS:", StringComparison.Ordinal))
                {
                    return long.Parse(line["VmRSS:".Length..].Replace("kB", string.Empty, StringComparison.Ordinal).Trim());
                }
            }
        }
        catch (IOException)
        {
        }

        return null;
    }

    /// <summary>User plus system CPU seconds <paramref name="pid"/> used so far; 0 when unreadable.</summary>
    public static double CpuSeconds(int pid)
    {
        try
        {
            var stat = File.ReadAllText($"/proc/{pid}/stat");
            // The command name may hold spaces; fields after it are fixed: utime is the 14th, stime the 15th.
            var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
            return (long.Parse(fields[11]) + long.Parse(fields[12])) / TicksPerSecond;
        }
        catch (IOException)
        {
            return 0;
        }
    }

    /// <summary>Threads of <paramref name="pid"/>.</summary>
    public static int Threads(int pid)
    {
        try
        {
            foreach (var line in File.ReadLines($"/proc/{pid}/status"))
            {
                if (line.StartsWith("Threads:", StringComparison.Ordinal))
                {
                    return int.Parse(line["Threads:".Length..].Trim());
                }
            }
        }
        catch (IOException)
        {
        }

        return 0;
    }
}
