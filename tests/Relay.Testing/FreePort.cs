using System.Net;
using System.Net.Sockets;

namespace Relay.Testing;

/// <summary>
/// Free TCP ports on loopback for the processes the tests start. A port handed out here is bound later by another
/// process (a node, PostgreSQL, nginx), so two things could take it in between: an outgoing connection of any
/// process, and another test process picking the same port. Ports are therefore taken from 20000 to 31999, below
/// the kernel's ephemeral range (32768 and up, where outgoing connections and port-0 listeners land), and each is
/// reserved across processes by an exclusive lock on <c>relay-ports/PORT.lock</c> under the temp folder, held
/// until this process exits. (The JS tests pick from 10000 to 19999, clients/js/test/gateway.mjs.)
/// </summary>
public static class FreePort
{
    private const int Low = 20_000;
    private const int High = 32_000;
    private static readonly object Gate = new();
    private static readonly HashSet<int> Handed = new();
    private static readonly List<FileStream> Reservations = new();
    private static readonly string Folder = Path.Combine(Path.GetTempPath(), "relay-ports");

    /// <summary>
    /// A base port such that <c>base + 1</c> to <c>base + count</c> are free on 127.0.0.1 and reserved for this
    /// process, for scripts that number their ports from a base.
    /// </summary>
    public static int NextBlock(int count)
    {
        lock (Gate)
        {
            while (true)
            {
                var first = Random.Shared.Next(Low, High - count);
                if (TryTake(Enumerable.Range(first + 1, count).ToList()))
                {
                    return first;
                }
            }
        }
    }

    /// <summary>A port on 127.0.0.1 that is free now and reserved for this process.</summary>
    public static int Next() => NextBlock(1) + 1;

    private static bool TryTake(List<int> ports)
    {
        if (ports.Any(port => Handed.Contains(port) || !IsFree(port)))
        {
            return false;
        }

        var taken = new List<FileStream>();
        foreach (var port in ports)
        {
            if (Reserve(port) is not { } reservation)
            {
                taken.ForEach(stream => stream.Dispose());
                return false;
            }

            taken.Add(reservation);
        }

        Reservations.AddRange(taken);
        Handed.UnionWith(ports);
        return true;
    }

    // FileShare.None takes an exclusive advisory lock (flock) on Unix; the kernel drops it when the process exits.
    private static FileStream? Reserve(int port)
    {
        Directory.CreateDirectory(Folder);
        try
        {
            return new FileStream(Path.Combine(Folder, $"{port}.lock"), FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None);
        }
        catch (IOException)
        {
            return null;
        }
    }

    private static bool IsFree(int port)
    {
        try
        {
            using var listener = new TcpListener(IPAddress.Loopback, port);
            listener.Start();
            listener.Stop();
            return true;
        }
        catch (SocketException)
        {
            return false;
        }
    }
}
