namespace Relay.Testing;

/// <summary>
/// A real network partition on loopback, as root: each node runs in a cgroup v2 of its own (placed there as it
/// starts, before it opens a socket, because a socket keeps the cgroup it was created in), and iptables rules
/// matching that cgroup drop the TCP packets between the isolated node and the others' cluster ports (Akka.Remote
/// and management). Ports alone cannot tell nodes apart on 127.0.0.1. Every rule carries a comment unique to this
/// instance, and <see cref="DisposeAsync"/> removes the rules and the cgroups, whatever happened.
/// </summary>
public sealed class NetworkPartition : IAsyncDisposable
{
    private static readonly TimeSpan CommandTimeout = TimeSpan.FromSeconds(20);
    private readonly string _id = $"relay-part-{Guid.NewGuid():N}"[..24];
    private readonly string _root;
    private readonly List<string> _cgroups = new();
    private readonly List<string[]> _rules = new();

    private NetworkPartition(string root) => _root = root;

    /// <summary>
    /// Checks that this runs as root with iptables' cgroup match and a cgroup v2 hierarchy, and returns a
    /// partition with nothing isolated yet.
    /// </summary>
    public static async Task<NetworkPartition> CreateAsync()
    {
        if (Environment.UserName != "root")
        {
            throw new InvalidOperationException("network partitions need root (cgroups and iptables)");
        }

        var root = Directory.Exists("/sys/fs/cgroup/unified") && File.Exists("/sys/fs/cgroup/unified/cgroup.procs")
            ? "/sys/fs/cgroup/unified"
            : File.Exists("/sys/fs/cgroup/cgroup.controllers") ? "/sys/fs/cgroup"
            : throw new InvalidOperationException("no cgroup v2 hierarchy at /sys/fs/cgroup/unified or /sys/fs/cgroup");
        var partition = new NetworkPartition(root);
        var check = await RunAsync("iptables", "-w", "-L", "OUTPUT", "-n");
        if (check.ExitCode != 0)
        {
            throw new InvalidOperationException($"iptables does not work here (install it: apt-get install -y iptables):\n{check.Output}");
        }

        return partition;
    }

    /// <summary>Creates a cgroup for <paramref name="node"/> that it enters as it starts (now and on every restart).</summary>
    public void Assign(RelayNode node)
    {
        var name = $"{_id}-{node.Name}";
        Directory.CreateDirectory(Path.Combine(_root, name));
        _cgroups.Add(name);
        node.CgroupProcsFile = Path.Combine(_root, name, "cgroup.procs");
    }

    /// <summary>
    /// Drops every TCP packet between <paramref name="node"/>'s <paramref name="ownPorts"/> and the other nodes'
    /// <paramref name="otherPorts"/>, both ways. The node must have been started after <see cref="Assign"/>.
    /// </summary>
    public async Task IsolateAsync(RelayNode node, IReadOnlyCollection<int> ownPorts, IReadOnlyCollection<int> otherPorts)
    {
        var cgroup = $"{_id}-{node.Name}";
        var own = string.Join(',', ownPorts);
        var others = string.Join(',', otherPorts);
        string[] comment = ["-m", "comment", "--comment", _id];
        // Its packets to the others' ports, its answers from its own ports, and everyone else's packets to its ports.
        await AddRuleAsync(["-p", "tcp", "-m", "cgroup", "--path", cgroup, "-m", "multiport", "--dports", others, .. comment, "-j", "DROP"]);
        await AddRuleAsync(["-p", "tcp", "-m", "cgroup", "--path", cgroup, "-m", "multiport", "--sports", own, .. comment, "-j", "DROP"]);
        await AddRuleAsync(["-p", "tcp", "-m", "cgroup", "!", "--path", cgroup, "-m", "multiport", "--dports", own, .. comment, "-j", "DROP"]);
    }

    /// <summary>Removes the rules: the nodes reach each other again.</summary>
    public async Task HealAsync()
    {
        var failures = new List<string>();
        for (var i = _rules.Count - 1; i >= 0; i--)
        {
            var result = await RunAsync("iptables", ["-w", "-D", "OUTPUT", .. _rules[i]]);
            if (result.ExitCode != 0)
            {
                failures.Add(result.Output);
            }

            _rules.RemoveAt(i);
        }

        // Anything with this instance's comment that the list above missed.
        var listed = await RunAsync("iptables", "-w", "-S", "OUTPUT");
        foreach (var line in listed.StandardOutput.Split('\n').Where(line => line.Contains(_id, StringComparison.Ordinal)))
        {
            var rule = line.Replace("-A OUTPUT ", "", StringComparison.Ordinal).Replace("\"", "", StringComparison.Ordinal);
            await RunAsync("iptables", ["-w", "-D", "OUTPUT", .. rule.Split(' ', StringSplitOptions.RemoveEmptyEntries)]);
        }

        if (failures.Count > 0)
        {
            throw new InvalidOperationException("removing iptables rules failed:\n" + string.Join('\n', failures));
        }
    }

    /// <summary>Removes the rules and the cgroups (moving any process still in one back to the root cgroup).</summary>
    public async ValueTask DisposeAsync()
    {
        try
        {
            await HealAsync();
        }
        finally
        {
            foreach (var name in _cgroups)
            {
                var path = Path.Combine(_root, name);
                if (!Directory.Exists(path))
                {
                    continue;
                }

                foreach (var pid in File.ReadAllLines(Path.Combine(path, "cgroup.procs")).Where(line => line.Length > 0))
                {
                    File.AppendAllText(Path.Combine(_root, "cgroup.procs"), pid);
                }

                // A process still exiting keeps the cgroup busy until it is gone: removable once it is empty.
                await Eventually.HoldsAsync(() => Task.FromResult(TryRemove(path)), TimeSpan.FromSeconds(10));
            }
        }
    }

    private static bool TryRemove(string cgroup)
    {
        try
        {
            Directory.Delete(cgroup);
            return true;
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            return !Directory.Exists(cgroup);
        }
    }

    private async Task AddRuleAsync(string[] rule)
    {
        var result = await RunAsync("iptables", ["-w", "-A", "OUTPUT", .. rule]);
        if (result.ExitCode != 0)
        {
            throw new InvalidOperationException($"iptables -A OUTPUT {string.Join(' ', rule)} failed:\n{result.Output}");
        }

        _rules.Add(rule);
    }

    private static async Task<ProcessResult> RunAsync(string file, params string[] arguments)
    {
        try
        {
            return await ProcessRunner.RunAsync(file, arguments, CommandTimeout);
        }
        catch (System.ComponentModel.Win32Exception ex)
        {
            throw new InvalidOperationException($"{file} is not installed; install it: apt-get install -y iptables", ex);
        }
    }
}
