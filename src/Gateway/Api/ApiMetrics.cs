using System.Diagnostics;
using System.Diagnostics.Metrics;
using Relay.Actors.Diagnostics;

namespace Relay.Gateway.Api;

/// <summary>
/// The server API's instruments, on the Relay meter (<see cref="RelayMetrics.MeterName"/>): requests by operation and
/// status, how long a publish takes to be journaled, and the feeds open. Labels name operations and statuses only:
/// never a key, its name, or a document.
/// </summary>
internal static class ApiMetrics
{
    private static readonly Meter Meter = new(RelayMetrics.MeterName, typeof(ApiMetrics).Assembly.GetName().Version?.ToString());

    private static readonly Counter<long> Requests =
        Meter.CreateCounter<long>("relay.api.requests", "{request}", "Server API requests by operation and HTTP status");

    private static readonly Histogram<double> PublishDuration =
        Meter.CreateHistogram<double>("relay.api.publish.duration", "s", "From a publish's request to its answer (journaled, or why not)");

    private static readonly UpDownCounter<long> Feeds =
        Meter.CreateUpDownCounter<long>("relay.api.feeds", "{feed}", "Open change feeds of the server API on this node, by kind");

    /// <summary>Counts a finished request of <paramref name="operation"/> with its response's status.</summary>
    public static void RecordRequest(ApiOperation operation, int status) =>
        Requests.Add(1, new KeyValuePair<string, object?>("operation", LabelOf(operation)), new KeyValuePair<string, object?>("status", status));

    /// <summary>Records a publish that started at <paramref name="startedTimestamp"/> (<see cref="Stopwatch.GetTimestamp"/>).</summary>
    public static void RecordPublish(long startedTimestamp) =>
        PublishDuration.Record(Stopwatch.GetElapsedTime(startedTimestamp).TotalSeconds);

    /// <summary>A feed of <paramref name="operation"/> opened; dispose the result when it ends.</summary>
    public static IDisposable OpenFeed(ApiOperation operation)
    {
        var kind = new KeyValuePair<string, object?>("kind", operation == ApiOperation.PrefixFeed ? "prefix" : "document");
        Feeds.Add(1, kind);
        return new OpenedFeed(kind);
    }

    /// <summary>The <c>operation</c> label of <paramref name="operation"/>.</summary>
    public static string LabelOf(ApiOperation operation) => operation switch
    {
        ApiOperation.Publish => "publish",
        ApiOperation.ReadState => "read_state",
        ApiOperation.ReadHistory => "read_history",
        ApiOperation.DocumentFeed => "document_feed",
        ApiOperation.PrefixFeed => "prefix_feed",
        ApiOperation.List => "list",
        ApiOperation.Delete => "delete",
        ApiOperation.Trim => "trim",
        _ => "other",
    };

    private sealed class OpenedFeed(KeyValuePair<string, object?> kind) : IDisposable
    {
        private int _closed;

        public void Dispose()
        {
            if (Interlocked.Exchange(ref _closed, 1) == 0)
            {
                Feeds.Add(-1, kind);
            }
        }
    }
}

/// <summary>What an API request asks for, as metrics count it.</summary>
internal enum ApiOperation
{
    /// <summary>A path the API does not serve, or a request refused before its operation was known.</summary>
    Other,

    /// <summary><c>POST …/patches</c>.</summary>
    Publish,

    /// <summary><c>GET /api/v1/documents/NAME</c>.</summary>
    ReadState,

    /// <summary><c>GET …/patches</c>.</summary>
    ReadHistory,

    /// <summary><c>GET …/changes</c>.</summary>
    DocumentFeed,

    /// <summary><c>GET /api/v1/changes?prefix=</c>.</summary>
    PrefixFeed,

    /// <summary><c>GET /api/v1/documents?prefix=</c>.</summary>
    List,

    /// <summary><c>DELETE /api/v1/documents/NAME</c>.</summary>
    Delete,

    /// <summary><c>POST …/trim</c>.</summary>
    Trim,
}
