using System.Net;
using System.Net.WebSockets;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Relay.Testing;

namespace Relay.Operations.Tests;

/// <summary>HTTP calls against a node's operations endpoints.</summary>
public static class Http
{
    private static readonly HttpClient Client = new() { Timeout = TimeSpan.FromSeconds(10) };

    /// <summary>GET <paramref name="path"/>: the status and the body.</summary>
    public static async Task<(HttpStatusCode Status, string Body)> GetAsync(RelayNode node, string path)
    {
        using var response = await Client.GetAsync(new Uri(node.HttpUrl, path));
        return (response.StatusCode, await response.Content.ReadAsStringAsync());
    }

    /// <summary>GET <paramref name="path"/> as JSON.</summary>
    public static async Task<(HttpStatusCode Status, JsonElement Json)> GetJsonAsync(RelayNode node, string path)
    {
        var (status, body) = await GetAsync(node, path);
        return (status, JsonDocument.Parse(body).RootElement.Clone());
    }

    /// <summary>The check names a health report lists as missing.</summary>
    public static string[] Missing(JsonElement report) =>
        report.GetProperty("missing").EnumerateArray().Select(element => element.GetString()!).ToArray();

    /// <summary>
    /// <c>/readyz</c>'s status once it is 200, or its last status after <paramref name="timeout"/> (default 30 s).
    /// A node that says ready at <c>/</c> can still fail a readiness check's timeout for a moment on a loaded
    /// machine (the journal query within 3 s, the cluster heartbeat within 5 s).
    /// </summary>
    public static async Task<HttpStatusCode> ReadyStatusAsync(RelayNode node, TimeSpan? timeout = null)
    {
        var status = HttpStatusCode.ServiceUnavailable;
        await EventuallyAsync(async () => (status = (await GetAsync(node, "/readyz")).Status) == HttpStatusCode.OK, timeout ?? TimeSpan.FromSeconds(30));
        return status;
    }

    /// <summary>Polls <paramref name="probe"/> until it returns true, at most <paramref name="timeout"/>; returns its last verdict.</summary>
    public static Task<bool> EventuallyAsync(Func<Task<bool>> probe, TimeSpan timeout) => Eventually.HoldsAsync(probe, timeout);
}

/// <summary>Reading a shared node's traffic, whose history holds earlier tests' patches.</summary>
public static class Receive
{
    /// <summary>Receives until a text message equal to <paramref name="text"/> arrived; returns everything received.</summary>
    public static async Task<List<string>> UntilAsync(RelayClient client, string text, int maxMessages = 2000)
    {
        var seen = new List<string>();
        while (seen.Count < maxMessages)
        {
            var message = await client.ReceiveAsync();
            seen.Add(message.IsText ? message.Text : string.Empty);
            if (message.IsText && message.Text == text)
            {
                return seen;
            }
        }

        throw new Xunit.Sdk.XunitException($"'{text}' not among the first {maxMessages} messages");
    }
}

/// <summary>WebSocket upgrades whose refusal is the point.</summary>
public static class Upgrade
{
    /// <summary>The HTTP status the server answered an upgrade with (101 when it was accepted).</summary>
    public static async Task<HttpStatusCode> StatusAsync(Uri url, Action<ClientWebSocketOptions>? configure = null)
    {
        using var socket = new ClientWebSocket();
        socket.Options.CollectHttpResponseDetails = true;
        configure?.Invoke(socket.Options);
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(20));
        try
        {
            await socket.ConnectAsync(url, timeout.Token);
            socket.Abort();
        }
        catch (WebSocketException)
        {
            // Refused: the status code says why.
        }

        return socket.HttpStatusCode;
    }
}

/// <summary>HS256 JWTs made by hand, so the tests need no token library.</summary>
public static class Jwt
{
    /// <summary>
    /// A token signed with <paramref name="key"/>; with <paramref name="documents"/>, it carries them as its
    /// <c>relay:docs</c> claim (a JSON list of names and prefixes ending in <c>*</c>).
    /// </summary>
    public static string Create(string key, string issuer, string audience, DateTimeOffset expires, IReadOnlyList<string>? documents = null)
    {
        var header = Encode("""{"alg":"HS256","typ":"JWT"}"""u8.ToArray());
        var claims = new Dictionary<string, object>
        {
            ["sub"] = "tester",
            ["iss"] = issuer,
            ["aud"] = audience,
            ["exp"] = expires.ToUnixTimeSeconds(),
            ["nbf"] = DateTimeOffset.UtcNow.AddMinutes(-1).ToUnixTimeSeconds(),
        };
        if (documents is not null)
        {
            claims["relay:docs"] = documents;
        }

        var payload = Encode(JsonSerializer.SerializeToUtf8Bytes(claims));
        var signature = Encode(HMACSHA256.HashData(Encoding.UTF8.GetBytes(key), Encoding.ASCII.GetBytes(header + "." + payload)));
        return header + "." + payload + "." + signature;
    }

    private static string Encode(byte[] bytes) => Convert.ToBase64String(bytes).TrimEnd('=').Replace('+', '-').Replace('/', '_');
}
