using System.Net;
using System.Net.Sockets;

namespace Relay.Testing;

/// <summary>Free TCP ports on loopback for test processes.</summary>
public static class FreePort
{
    private static readonly object Gate = new();
    private static readonly HashSet<int> Handed = new();

    /// <summary>
    /// A base port such that <c>base + 1</c> to <c>base + count</c> are free on 127.0.0.1, for scripts that
    /// number their ports from a base. Taken below the kernel's ephemeral range (32768 and up), where
    /// outgoing connections would otherwise occupy ports at random.
    /// </summary>
    public static int NextBlock(int count)
    {
        lock (Gate)
        {
            while (true)
            {
                var first = Random.Shared.Next(20_000, 32_000 - count);
                var ports = Enumerable.Range(first + 1, count).ToList();
                if (ports.All(port => !Handed.Contains(port) && IsFree(port)))
                {
                    Handed.UnionWith(ports);
                    return first;
                }
            }
        }
    }

    /// <summary>A port on 127.0.0.1 that was free a moment ago and has not been handed out by this process before.</summary>
    public static int Next()
    {
        lock (Gate)
        {
            while (true)
            {
                using var listener = new TcpListener(IPAddress.Loopback, 0);
                listener.Start();
                var port = ((IPEndPoint)listener.LocalEndpoint).Port;
                listener.Stop();
                if (Handed.Add(port))
                {
                    return port;
                }
            }
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
