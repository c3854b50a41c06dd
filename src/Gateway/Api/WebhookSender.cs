using System.Net.Http.Headers;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Relay.Actors.Documents;
using Relay.Actors.Hosting;

namespace Relay.Gateway.Api;

/// <summary>
/// The HTTP side of webhooks (docs/api.md, "Webhooks"): one POST per batch to <c>Relay:Webhooks:Url</c>, its body
/// <c>{"patches":[{"position","document","seq","text"|"base64"}…]}</c> and an <c>X-Relay-Signature: sha256=HEX</c>
/// header, the HMAC-SHA256 of the body under <c>Relay:Webhooks:Secret</c>. A 2xx answer within
/// <c>Relay:Webhooks:TimeoutSeconds</c> means taken; anything else is tried again by the dispatcher.
/// </summary>
internal sealed class WebhookSender : IWebhookSender, IDisposable
{
    /// <summary>The signature's header.</summary>
    public const string SignatureHeader = "X-Relay-Signature";

    private readonly HttpClient _http;
    private readonly Uri _url;
    private readonly byte[] _secret;

    public WebhookSender(WebhookOptions options)
    {
        _url = new Uri(options.Url!);
        _secret = Encoding.UTF8.GetBytes(options.Secret!);
        _http = new HttpClient { Timeout = TimeSpan.FromSeconds(options.TimeoutSeconds) };
    }

    /// <summary>The signature header's value for <paramref name="body"/>.</summary>
    public static string Sign(byte[] secret, ReadOnlySpan<byte> body) => "sha256=" + Convert.ToHexStringLower(HMACSHA256.HashData(secret, body));

    /// <inheritdoc />
    public async Task<bool> SendAsync(IReadOnlyList<DocumentChange> batch, CancellationToken cancellation)
    {
        var body = Body(batch);
        using var content = new ByteArrayContent(body);
        content.Headers.ContentType = new MediaTypeHeaderValue("application/json") { CharSet = "utf-8" };
        using var request = new HttpRequestMessage(HttpMethod.Post, _url) { Content = content };
        request.Headers.Add(SignatureHeader, Sign(_secret, body));
        using var response = await _http.SendAsync(request, cancellation).ConfigureAwait(false);
        return response.IsSuccessStatusCode;
    }

    /// <inheritdoc />
    public void Dispose() => _http.Dispose();

    private static byte[] Body(IReadOnlyList<DocumentChange> batch)
    {
        var buffer = new System.Buffers.ArrayBufferWriter<byte>();
        using (var json = new Utf8JsonWriter(buffer))
        {
            json.WriteStartObject();
            json.WriteStartArray("patches");
            foreach (var change in batch)
            {
                json.WriteStartObject();
                json.WriteNumber("position", change.Position);
                json.WriteString("document", change.Document.Value);
                ApiJson.WritePatch(json, change.Sequence, change.Payload.Span, change.IsText);
                json.WriteEndObject();
            }

            json.WriteEndArray();
            json.WriteEndObject();
        }

        return buffer.WrittenSpan.ToArray();
    }
}
