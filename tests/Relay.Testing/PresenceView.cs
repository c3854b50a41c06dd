using System.Collections.Concurrent;
using System.Net.WebSockets;
using System.Text;
using System.Text.Json;

namespace Relay.Testing;

/// <summary>
/// What one <c>relay.v1</c> client knows of the others' presence (docs/protocol.md, "Presence and broadcasts"): it
/// reads every frame the client gets, in the background, and keeps the list as a client must (a <c>present</c>
/// frame replaces it, each <c>presence</c> event changes it), counting the frames of each kind. Frames of other
/// types are kept in <see cref="Others"/> in order.
/// </summary>
public sealed class PresenceView : IAsyncDisposable
{
    private readonly object _gate = new();
    private readonly Dictionary<string, (string User, string? State)> _list = new(StringComparer.Ordinal);
    private readonly ConcurrentQueue<V1Frame> _others = new();
    private readonly List<string> _log = [];
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _reading;
    private Task? _pinging;

    private PresenceView(RelayV1Client client)
    {
        Client = client;
        _reading = Task.Run(ReadAsync);
    }

    /// <summary>The client whose frames this reads.</summary>
    public RelayV1Client Client { get; }

    /// <summary>Its presence id, as the hello names it.</summary>
    public string Id => Client.Hello.Header.GetProperty("client").GetString()!;

    /// <summary><c>present</c> frames received.</summary>
    public int PresentFrames { get; private set; }

    /// <summary><c>presence</c> frames received, by event.</summary>
    public ConcurrentDictionary<string, int> Events { get; } = new(StringComparer.Ordinal);

    /// <summary>Frames of other types (patches, acks, broadcasts), in order.</summary>
    public IReadOnlyCollection<V1Frame> Others => _others;

    /// <summary>Every presence frame, as a line, in order.</summary>
    public IReadOnlyList<string> Log
    {
        get
        {
            lock (_gate)
            {
                return _log.ToList();
            }
        }
    }

    /// <summary>The presence ids of the others, sorted.</summary>
    public IReadOnlyList<string> Ids
    {
        get
        {
            lock (_gate)
            {
                return _list.Keys.Order(StringComparer.Ordinal).ToList();
            }
        }
    }

    /// <summary>The state <paramref name="client"/> is listed with (compact JSON), or null when it is not listed.</summary>
    public string? StateOf(string client)
    {
        lock (_gate)
        {
            return _list.TryGetValue(client, out var entry) ? entry.State : null;
        }
    }

    /// <summary>The user <paramref name="client"/> is listed with, or null.</summary>
    public string? UserOf(string client)
    {
        lock (_gate)
        {
            return _list.TryGetValue(client, out var entry) ? entry.User : null;
        }
    }

    /// <summary>The state this client last set, as sent, or null once cleared or before it set one.</summary>
    public string? OwnState { get; private set; }

    /// <summary>Connects a <c>relay.v1</c> client to <paramref name="url"/> and reads its presence.</summary>
    public static async Task<PresenceView> ConnectAsync(Uri url) => new(await RelayV1Client.ConnectAsync(url));

    /// <summary>
    /// Connects as <paramref name="client"/> (its user too) to <paramref name="document"/> on <paramref name="node"/>,
    /// pings every <paramref name="pingEvery"/> and sets <paramref name="stateJson"/>: a present client that stays listed.
    /// </summary>
    public static async Task<PresenceView> JoinAsync(RelayNode node, string document, string client, TimeSpan pingEvery, string stateJson)
    {
        var view = (await ConnectAsync(new Uri(node.WebSocketUrlOf(document) + $"?client={client}&user={client}"))).KeepAlive(pingEvery);
        await view.SetAsync(stateJson);
        return view;
    }

    /// <summary>Reads the presence of <paramref name="client"/>, whose hello was read, from its next frame on.</summary>
    public static PresenceView Of(RelayV1Client client) => new(client);

    /// <summary>Sets the client's presence state.</summary>
    public async Task SetAsync(string stateJson)
    {
        await SendAsync("{\"type\":\"presence\"}\n" + stateJson);
        OwnState = stateJson;
    }

    /// <summary>Clears the client's presence state.</summary>
    public async Task ClearAsync()
    {
        await SendAsync("{\"type\":\"presence\"}\n");
        OwnState = null;
    }

    /// <summary>A sign of life.</summary>
    public Task PingAsync() => SendAsync("{\"type\":\"ping\"}");

    /// <summary>
    /// Pings every <paramref name="interval"/> from now on, as a client with nothing else to send does
    /// (docs/protocol.md: about every third of <c>timeoutSeconds</c>), so it stays listed.
    /// </summary>
    public PresenceView KeepAlive(TimeSpan interval)
    {
        _pinging ??= Task.Run(async () =>
        {
            while (!_stop.IsCancellationRequested)
            {
                try
                {
                    await PingAsync();
                    // The client's ping rate, not a wait on anything.
                    await Task.Delay(interval, _stop.Token);
                }
                catch (Exception ex) when (ex is WebSocketException or OperationCanceledException or ObjectDisposedException or InvalidOperationException)
                {
                    return;
                }
            }
        });
        return this;
    }

    /// <summary>Sends <paramref name="frame"/> as one text frame.</summary>
    public Task SendAsync(string frame) => Client.Client.SendAsync(Encoding.UTF8.GetBytes(frame), WebSocketMessageType.Text);

    /// <summary>Whether the list is exactly <paramref name="ids"/>, within <paramref name="timeout"/>.</summary>
    public Task<bool> ListsAsync(TimeSpan timeout, params string[] ids) =>
        Eventually.HoldsAsync(() => Task.FromResult(Ids.SequenceEqual(ids.Order(StringComparer.Ordinal))), timeout);

    /// <summary>
    /// Whether this lists exactly the present ones of <paramref name="views"/> (those with an
    /// <see cref="OwnState"/>) but itself, each once and with the state it last set.
    /// </summary>
    public bool ListsExactly(IEnumerable<PresenceView> views)
    {
        var expected = views.Where(view => view != this && view.OwnState is not null).ToList();
        lock (_gate)
        {
            return _list.Count == expected.Count
                   && expected.All(view => _list.TryGetValue(view.Id, out var entry) && entry.State is { } state && Compact(state) == Compact(view.OwnState!));
        }
    }

    /// <summary>Whether, within <paramref name="timeout"/>, each of <paramref name="views"/> lists exactly the others (<see cref="ListsExactly"/>).</summary>
    public static Task<bool> AllListEachOtherAsync(IReadOnlyList<PresenceView> views, TimeSpan timeout) =>
        Eventually.HoldsAsync(() => Task.FromResult(views.All(view => view.ListsExactly(views))), timeout);

    /// <summary>What each of <paramref name="views"/> lists, for a failure's message.</summary>
    public static string Describe(IEnumerable<PresenceView> views) =>
        string.Join("; ", views.Select(view => $"{view.Id} lists [{string.Join(",", view.Ids.Select(id => $"{id}={view.StateOf(id)}"))}]"));

    private async Task ReadAsync()
    {
        while (!_stop.IsCancellationRequested)
        {
            V1Frame frame;
            try
            {
                frame = await Client.ReceiveAsync(TimeSpan.FromHours(1));
            }
            catch (Exception ex) when (ex is not OutOfMemoryException)
            {
                return;
            }

            switch (frame.Type)
            {
                case "present":
                    lock (_gate)
                    {
                        PresentFrames++;
                        _list.Clear();
                        foreach (var entry in frame.Header.GetProperty("clients").EnumerateArray())
                        {
                            _list[entry.GetProperty("client").GetString()!] = (entry.GetProperty("user").GetString()!, entry.GetProperty("state").GetRawText());
                        }

                        _log.Add("present " + string.Join(",", _list.Keys.Order(StringComparer.Ordinal)));
                    }

                    break;
                case "presence":
                    var change = frame.Header.GetProperty("event").GetString()!;
                    var client = frame.Header.GetProperty("client").GetString()!;
                    lock (_gate)
                    {
                        Events.AddOrUpdate(change, 1, (_, count) => count + 1);
                        if (change == "left")
                        {
                            _list.Remove(client);
                        }
                        else
                        {
                            _list[client] = (frame.Header.GetProperty("user").GetString()!, frame.Header.GetProperty("state").GetRawText());
                        }

                        _log.Add($"{change} {client}");
                    }

                    break;
                default:
                    _others.Enqueue(frame);
                    break;
            }
        }
    }

    /// <summary>Compact JSON of <paramref name="json"/>, as <see cref="StateOf"/> gives it.</summary>
    public static string Compact(string json) => JsonSerializer.Serialize(JsonDocument.Parse(json).RootElement);

    /// <inheritdoc />
    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        await Client.DisposeAsync();
        await Task.WhenAny(Task.WhenAll(_reading, _pinging ?? Task.CompletedTask), Task.Delay(TimeSpan.FromSeconds(5)));
        _stop.Dispose();
    }
}
