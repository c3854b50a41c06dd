using System.Net;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;

namespace Relay.Testing;

/// <summary>One patch a webhook delivered.</summary>
public sealed record WebhookPatch(long Position, string Document, long Seq, string Text);

/// <summary>
/// A webhook receiver on 127.0.0.1 (a real HTTP listener): checks each POST's <c>X-Relay-Signature</c> against the
/// secret, keeps the patches of the ones whose signature holds, answers 204. It can be stopped (nothing listens on
/// its port: the sender's connections are refused) and started again on the same port.
/// </summary>
public sealed class WebhookReceiver : IAsyncDisposable
{
    private readonly byte[] _secret;
    private readonly List<WebhookPatch> _patches = new();
    private readonly object _lock = new();
    private HttpListener? _listener;
    private Task? _serving;

    /// <summary>Creates a receiver for <paramref name="secret"/> on a free port; call <see cref="Start"/>.</summary>
    public WebhookReceiver(string secret)
    {
        _secret = Encoding.UTF8.GetBytes(secret);
        Port = FreePort.Next();
    }

    /// <summary>Its port.</summary>
    public int Port { get; }

    /// <summary>The URL to configure.</summary>
    public string Url => $"http://127.0.0.1:{Port}/hook/";

    /// <summary>POSTs whose signature did not hold (they were answered 401).</summary>
    public int BadSignatures { get; private set; }

    /// <summary>POSTs taken.</summary>
    public int Posts { get; private set; }

    /// <summary>Every patch delivered, in arrival order, doubles included.</summary>
    public IReadOnlyList<WebhookPatch> Patches
    {
        get
        {
            lock (_lock)
            {
                return _patches.ToList();
            }
        }
    }

    /// <summary>Starts listening.</summary>
    public void Start()
    {
        var listener = new HttpListener();
        listener.Prefixes.Add(Url);
        listener.Start();
        _listener = listener;
        _serving = Task.Run(() => ServeAsync(listener));
    }

    /// <summary>Stops listening: the port is closed until <see cref="Start"/>.</summary>
    public async Task StopAsync()
    {
        if (_listener is { } listener)
        {
            _listener = null;
            listener.Stop();
            listener.Close();
            await (_serving ?? Task.CompletedTask);
        }
    }

    /// <inheritdoc />
    public async ValueTask DisposeAsync() => await StopAsync();

    private async Task ServeAsync(HttpListener listener)
    {
        while (listener.IsListening)
        {
            HttpListenerContext context;
            try
            {
                context = await listener.GetContextAsync();
            }
            catch (Exception e) when (e is HttpListenerException or ObjectDisposedException or InvalidOperationException)
            {
                return;
            }

            using var body = new MemoryStream();
            await context.Request.InputStream.CopyToAsync(body);
            var bytes = body.ToArray();
            var expected = "sha256=" + Convert.ToHexStringLower(HMACSHA256.HashData(_secret, bytes));
            if (context.Request.HttpMethod != "POST" || context.Request.Headers["X-Relay-Signature"] != expected)
            {
                BadSignatures++;
                context.Response.StatusCode = 401;
                context.Response.Close();
                continue;
            }

            using var json = JsonDocument.Parse(bytes);
            lock (_lock)
            {
                foreach (var patch in json.RootElement.GetProperty("patches").EnumerateArray())
                {
                    _patches.Add(new WebhookPatch(
                        patch.GetProperty("position").GetInt64(),
                        patch.GetProperty("document").GetString()!,
                        patch.GetProperty("seq").GetInt64(),
                        patch.GetProperty("text").GetString()!));
                }

                Posts++;
            }

            context.Response.StatusCode = 204;
            context.Response.Close();
        }
    }
}
