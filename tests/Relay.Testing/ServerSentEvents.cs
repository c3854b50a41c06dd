using System.Text;
using System.Text.Json;

namespace Relay.Testing;

/// <summary>One Server-Sent Event: its type, id and data (one line of JSON in Relay's feed).</summary>
public sealed record ServerSentEvent(string Type, string? Id, string Data)
{
    /// <summary>The data as JSON.</summary>
    public JsonElement Json => JsonDocument.Parse(Data).RootElement.Clone();
}

/// <summary>A reader of a <c>text/event-stream</c> response, an event at a time (comments and <c>retry:</c> skipped).</summary>
public sealed class ServerSentEvents : IAsyncDisposable
{
    private readonly HttpResponseMessage _response;
    private readonly StreamReader _reader;

    private ServerSentEvents(HttpResponseMessage response, Stream body)
    {
        _response = response;
        _reader = new StreamReader(body, Encoding.UTF8);
    }

    /// <summary>The response's status.</summary>
    public System.Net.HttpStatusCode Status => _response.StatusCode;

    /// <summary>Opens <paramref name="request"/> on <paramref name="http"/> and reads its events as they arrive.</summary>
    public static async Task<ServerSentEvents> OpenAsync(HttpClient http, HttpRequestMessage request)
    {
        var response = await http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead);
        return new ServerSentEvents(response, await response.Content.ReadAsStreamAsync());
    }

    /// <summary>The next event, or null once the stream ends; throws when none arrives within <paramref name="timeout"/>.</summary>
    public async Task<ServerSentEvent?> NextAsync(TimeSpan timeout)
    {
        using var deadline = new CancellationTokenSource(timeout);
        string? type = null, id = null;
        var data = new StringBuilder();
        while (await _reader.ReadLineAsync(deadline.Token) is { } line)
        {
            if (line.Length == 0)
            {
                if (type is not null || data.Length > 0)
                {
                    return new ServerSentEvent(type ?? "message", id, data.ToString());
                }

                continue;
            }

            var colon = line.IndexOf(':');
            var (field, value) = colon < 0 ? (line, "") : (line[..colon], line[(colon + 1)..].TrimStart(' '));
            switch (field)
            {
                case "event":
                    type = value;
                    break;
                case "id":
                    id = value;
                    break;
                case "data":
                    data.Append(data.Length > 0 ? "\n" : "").Append(value);
                    break;
            }
        }

        return null;
    }

    /// <inheritdoc />
    public ValueTask DisposeAsync()
    {
        _reader.Dispose();
        _response.Dispose();
        return ValueTask.CompletedTask;
    }
}
