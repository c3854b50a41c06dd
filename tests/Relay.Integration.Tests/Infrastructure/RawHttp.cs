using System.Net;
using System.Net.Sockets;
using System.Net.WebSockets;
using System.Text;
using Relay.Testing;

namespace Relay.Integration.Tests.Infrastructure;

/// <summary>An HTTP answer read off the wire: its status and its body as text.</summary>
public sealed record RawResponse(int Status, string Body);

/// <summary>
/// Requests written byte for byte on a TCP socket, so the request target reaches the server exactly as given:
/// <see cref="Uri"/> and <see cref="HttpClient"/> would normalise <c>..</c>, <c>.</c> and escapes away.
/// </summary>
public static class RawHttp
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(15);

    /// <summary>
    /// Sends <c>GET {target}</c> to <paramref name="node"/>, as a WebSocket upgrade when <paramref name="upgrade"/>
    /// (offering <paramref name="subProtocol"/>, if given).
    /// </summary>
    public static async Task<RawResponse> GetAsync(RelayNode node, string target, bool upgrade, string? subProtocol = null)
    {
        using var cts = new CancellationTokenSource(Timeout);
        using var tcp = new TcpClient();
        await tcp.ConnectAsync(IPAddress.Loopback, node.HttpPort, cts.Token);
        var stream = tcp.GetStream();
        var request = new StringBuilder($"GET {target} HTTP/1.1\r\nHost: 127.0.0.1:{node.HttpPort}\r\n");
        request.Append(upgrade
            ? "Connection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
            : "Connection: close\r\n");
        if (subProtocol is not null)
        {
            request.Append($"Sec-WebSocket-Protocol: {subProtocol}\r\n");
        }

        request.Append("\r\n");
        await stream.WriteAsync(Encoding.ASCII.GetBytes(request.ToString()), cts.Token);

        var received = new List<byte>();
        var buffer = new byte[8192];
        int headerEnd;
        while ((headerEnd = IndexOf(received, "\r\n\r\n"u8)) < 0)
        {
            var read = await stream.ReadAsync(buffer, cts.Token);
            if (read == 0)
            {
                throw new IOException($"connection closed before the headers ended: {Encoding.ASCII.GetString(received.ToArray())}");
            }

            received.AddRange(buffer.AsSpan(0, read));
        }

        var head = Encoding.ASCII.GetString(received.ToArray(), 0, headerEnd);
        var lines = head.Split("\r\n");
        var status = int.Parse(lines[0].Split(' ')[1]);
        var headers = lines.Skip(1)
            .Select(line => line.Split(':', 2))
            .ToDictionary(parts => parts[0].Trim(), parts => parts[1].Trim(), StringComparer.OrdinalIgnoreCase);
        if (status == 101)
        {
            return new RawResponse(status, string.Empty);
        }

        var body = received.Skip(headerEnd + 4).ToList();
        var chunked = headers.TryGetValue("Transfer-Encoding", out var encoding) && encoding.Contains("chunked", StringComparison.OrdinalIgnoreCase);
        var length = headers.TryGetValue("Content-Length", out var given) ? int.Parse(given) : (int?)null;
        while (chunked ? IndexOf(body, "0\r\n\r\n"u8) < 0 : length is null || body.Count < length)
        {
            var read = await stream.ReadAsync(buffer, cts.Token);
            if (read == 0)
            {
                break;
            }

            body.AddRange(buffer.AsSpan(0, read));
        }

        return new RawResponse(status, chunked ? Dechunk(body) : Encoding.UTF8.GetString(body.ToArray()));
    }

    /// <summary>The HTTP status a real WebSocket client's upgrade to <paramref name="url"/> got (101 when accepted).</summary>
    public static async Task<HttpStatusCode> UpgradeStatusAsync(Uri url)
    {
        using var socket = new ClientWebSocket();
        socket.Options.CollectHttpResponseDetails = true;
        using var cts = new CancellationTokenSource(Timeout);
        try
        {
            await socket.ConnectAsync(url, cts.Token);
            socket.Abort();
        }
        catch (WebSocketException)
        {
            // Refused: the status says why.
        }

        return socket.HttpStatusCode;
    }

    private static string Dechunk(List<byte> body)
    {
        var bytes = body.ToArray();
        var text = new List<byte>();
        var at = 0;
        while (true)
        {
            var lineEnd = IndexOf(bytes.Skip(at).ToList(), "\r\n"u8) + at;
            var size = Convert.ToInt32(Encoding.ASCII.GetString(bytes, at, lineEnd - at).Split(';')[0], 16);
            if (size == 0)
            {
                return Encoding.UTF8.GetString(text.ToArray());
            }

            text.AddRange(bytes.AsSpan(lineEnd + 2, size));
            at = lineEnd + 2 + size + 2;
        }
    }

    private static int IndexOf(List<byte> haystack, ReadOnlySpan<byte> needle) =>
        haystack.ToArray().AsSpan().IndexOf(needle);
}
