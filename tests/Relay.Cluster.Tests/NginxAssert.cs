using System.Text.RegularExpressions;
using Xunit;

namespace Relay.Cluster.Tests;

/// <summary>What every nginx configuration Relay ships must do (deploy/nginx/relay.conf and what scripts/cluster.sh writes).</summary>
public static partial class NginxAssert
{
    /// <summary>
    /// Access logs use a format without <c>$request</c> (whose query string carries <c>?access_token=</c>), and a
    /// worker may hold tens of thousands of connections and descriptors (two per proxied WebSocket).
    /// </summary>
    public static void KeepsTokensOutOfLogsAndHoldsManySockets(string config)
    {
        var format = LogFormat().Match(config);
        Assert.True(format.Success, "no log_format");
        Assert.DoesNotContain("$request ", format.Value, StringComparison.Ordinal);
        Assert.DoesNotContain("$request_uri", format.Value, StringComparison.Ordinal);
        Assert.DoesNotContain("$args", format.Value, StringComparison.Ordinal);
        Assert.Contains("$uri", format.Value, StringComparison.Ordinal);
        Assert.Matches(@$"access_log\s+\S+\s+{format.Groups[1].Value};", config);
        Assert.True(int.Parse(WorkerConnections().Match(config).Groups[1].Value) >= 16384, "worker_connections below 16384");
        Assert.True(int.Parse(RlimitNofile().Match(config).Groups[1].Value) >= 32768, "worker_rlimit_nofile below 32768");
    }

    [GeneratedRegex(@"log_format\s+(\w+)\s+'[^;]*;")]
    private static partial Regex LogFormat();

    [GeneratedRegex(@"worker_connections\s+(\d+);")]
    private static partial Regex WorkerConnections();

    [GeneratedRegex(@"worker_rlimit_nofile\s+(\d+);")]
    private static partial Regex RlimitNofile();
}
