using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;

namespace Relay.Testing;

/// <summary>An answer of the server API: its status and its JSON body (one object).</summary>
public sealed record ApiAnswer(HttpStatusCode Status, JsonElement Body, HttpResponseHeaders Headers)
{
    /// <summary>The answer's <c>seq</c>.</summary>
    public long Seq => Body.GetProperty("seq").GetInt64();

    /// <summary>The answer's <c>error</c>, or null.</summary>
    public string? Error => Body.TryGetProperty("error", out var error) ? error.GetString() : null;
}

/// <summary>A backend of Relay's server API (docs/api.md) over a real <see cref="HttpClient"/>.</summary>
public sealed class RelayApiClient(Uri node, string? key) : IDisposable
{
    private readonly HttpClient _http = new() { BaseAddress = node, Timeout = TimeSpan.FromSeconds(60) };

    /// <summary>The path of a document's resource: <c>/api/v1/documents/NAME</c> and <paramref name="suffix"/>.</summary>
    public static string PathOf(string document, string suffix = "") => "/api/v1/documents/" + document + suffix;

    /// <summary>Publishes a text patch (<c>application/json</c>), with the headers <paramref name="headers"/> adds.</summary>
    public Task<ApiAnswer> PublishAsync(string document, string patch, Action<HttpRequestHeaders>? headers = null, string query = "") =>
        PublishAsync(document, new StringContent(patch, Encoding.UTF8, "application/json"), headers, query);

    /// <summary>Publishes <paramref name="content"/> as it is.</summary>
    public Task<ApiAnswer> PublishAsync(string document, HttpContent content, Action<HttpRequestHeaders>? headers = null, string query = "") =>
        SendAsync(HttpMethod.Post, PathOf(document, "/patches") + query, content, headers);

    /// <summary>GETs <paramref name="path"/>.</summary>
    public Task<ApiAnswer> GetAsync(string path, Action<HttpRequestHeaders>? headers = null) => SendAsync(HttpMethod.Get, path, null, headers);

    /// <summary>Sends a request and reads its JSON answer.</summary>
    public async Task<ApiAnswer> SendAsync(HttpMethod method, string path, HttpContent? content, Action<HttpRequestHeaders>? headers = null)
    {
        using var request = new HttpRequestMessage(method, path) { Content = content };
        if (key is not null)
        {
            request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", key);
        }

        headers?.Invoke(request.Headers);
        using var response = await _http.SendAsync(request);
        var text = await response.Content.ReadAsStringAsync();
        if (response.Content.Headers.ContentType?.MediaType != "application/json" || text.Count(c => c == '\n') != 1 || !text.EndsWith('\n'))
        {
            throw new InvalidOperationException($"{method} {path} answered {(int)response.StatusCode} without one line of JSON: {text}");
        }

        return new ApiAnswer(response.StatusCode, JsonDocument.Parse(text).RootElement.Clone(), response.Headers);
    }

    /// <summary>The HTTP client, for requests of its own (the change feed).</summary>
    public HttpClient Http => _http;

    /// <inheritdoc />
    public void Dispose() => _http.Dispose();
}
