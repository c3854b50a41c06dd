#nullable enable
using System.Diagnostics;
using System.Text;
using System.Text.Json.Nodes;
using Relay.Actors.Compaction;
using Relay.Testing;
using Xunit;
using Xunit.Abstractions;

namespace Relay.Actors.Tests;

/// <summary>
/// The fold against the real thing: seeded random logs of Immer patches (objects, arrays, inserts, removes, root
/// replacements, and now and then a patch that cannot apply) folded by <see cref="DocumentFold"/> and by the
/// <c>immer</c> package's <c>applyPatches</c> in Node.js (<c>tests/browser/immer-fold.mjs</c>, the version pinned by
/// the committed package-lock.json).
/// </summary>
public sealed class ImmerDifferentialSpecs
{
    private const int Logs = 2_000;
    private const int PatchesPerLog = 30;
    private static readonly string[] Keys = ["a", "b", "c", "items", "n", "x y", "ü", "0", "10"];
    private readonly ITestOutputHelper _output;

    public ImmerDifferentialSpecs(ITestOutputHelper output) => _output = output;

    [Fact]
    public async Task Should_fold_random_patch_logs_to_exactly_the_states_Immer_applyPatches_gives()
    {
        var random = new Random(20261130);
        var logs = Enumerable.Range(0, Logs).Select(_ => Generate(random)).ToList();
        var folder = RepoPaths.NewTempFolder("immer-differential");
        var input = Path.Combine(folder, "logs.json");
        var output = Path.Combine(folder, "immer.json");
        await File.WriteAllTextAsync(input, new JsonArray(logs.Select(log => (JsonNode)new JsonObject
        {
            ["initial"] = JsonNode.Parse(log.Initial),
            ["patches"] = new JsonArray(log.Patches.Select(patch => JsonNode.Parse(patch)).ToArray()),
        }).ToArray()).ToJsonString());

        await BrowserCheck.EnsurePackagesAsync();
        var clock = Stopwatch.StartNew();
        var run = await ProcessRunner.RunAsync("node", ["immer-fold.mjs", input, output], TimeSpan.FromMinutes(1), BrowserCheck.ScriptsFolder);
        Assert.True(run.ExitCode == 0, $"immer-fold.mjs exited with {run.ExitCode}:\n{run.Output}");
        var immer = JsonNode.Parse(await File.ReadAllTextAsync(output))!.AsArray();
        _output.WriteLine($"Immer folded {Logs} logs in {clock.ElapsedMilliseconds} ms: {run.StandardOutput.Trim()}");

        clock.Restart();
        int same = 0, bothFailed = 0, refusedLooser = 0;
        for (var i = 0; i < logs.Count; i++)
        {
            var fold = DocumentFold.Start(CompactionMode.Immer, Encoding.UTF8.GetBytes(logs[i].Initial));
            var failedAt = -1;
            for (var p = 0; p < logs[i].Patches.Count && failedAt < 0; p++)
            {
                if (!fold.Apply(Encoding.UTF8.GetBytes(logs[i].Patches[p]), isText: true))
                {
                    failedAt = p;
                }
            }

            var expected = immer[i]!.AsObject();
            if (expected.TryGetPropertyValue("failedAt", out var immerFailedAt))
            {
                // Where Immer throws, the fold must have given up too, at that patch or before it.
                Assert.True(failedAt >= 0 && failedAt <= immerFailedAt!.GetValue<int>(),
                    $"log {i}: Immer failed at patch {immerFailedAt} ({expected["error"]}), the fold {(failedAt < 0 ? "applied every patch" : "failed at " + failedAt)}");
                bothFailed++;
            }
            else if (failedAt >= 0)
            {
                // A patch whose Immer result rests on JavaScript's loose rules: the document is replayed instead.
                refusedLooser++;
            }
            else
            {
                var state = JsonNode.Parse(fold.StateUtf8()!);
                Assert.True(JsonEquality.AreEqual(expected["state"], state),
                    $"log {i}: Immer gives {expected["state"]?.ToJsonString()}, the fold {state?.ToJsonString()}\npatches:\n{string.Join('\n', logs[i].Patches)}");
                same++;
            }
        }

        _output.WriteLine($"Fold: {clock.ElapsedMilliseconds} ms; {same} logs to the same state, {bothFailed} failed in both, {refusedLooser} refused where Immer applied");
        // The comparison means something only if most logs fold to the end, and the failures are exercised too.
        Assert.True(same >= Logs * 7 / 10, $"only {same} of {Logs} logs folded to the end");
        Assert.True(bothFailed >= Logs / 20, $"only {bothFailed} logs failed");
    }

    private static Log Generate(Random random)
    {
        JsonNode? state = random.Next(4) == 0 ? new JsonObject { ["items"] = new JsonArray(1, 2, 3) } : new JsonObject();
        var initial = state.ToJsonString();
        var patches = new List<string>();
        for (var i = 0; i < PatchesPerLog && state is not null; i++)
        {
            // Each operation is picked from the state the ones before it in the same patch left.
            var patch = new JsonArray();
            for (var j = random.Next(1, 4); j > 0 && state is not null; j--)
            {
                var operation = Operation(random, state);
                patch.Add(operation);
                try
                {
                    state = ImmerPatches.Apply(state, new JsonArray(operation.DeepClone()));
                }
                catch (PatchRejectedException)
                {
                    state = null;
                }
            }

            patches.Add(patch.ToJsonString());
        }

        return new Log(initial, patches);
    }

    private static JsonObject Operation(Random random, JsonNode? state)
    {
        var roll = random.Next(1000);
        if (roll < 8)
        {
            // Mostly a container, now and then a bare value, after which nothing but another root replacement applies.
            var root = roll < 9 ? new JsonObject { ["items"] = new JsonArray(Value(random, 2)), ["a"] = Value(random, 2) } : Value(random, 2);
            return new JsonObject { ["op"] = "replace", ["path"] = new JsonArray(), ["value"] = root };
        }

        // Walk down the state from the root to a random container.
        var path = new JsonArray();
        var node = state;
        while (random.Next(3) > 0 && Child(random, node) is var (step, child) && child is JsonObject or JsonArray)
        {
            path.Add(step);
            node = child;
        }

        if (roll < 15)
        {
            // Something that does not resolve, or an index Immer would treat the JavaScript way.
            var bad = random.Next(4) switch
            {
                0 => new JsonObject { ["op"] = "add", ["path"] = Extend(path, "missing", "deeper"), ["value"] = 1 },
                1 => new JsonObject { ["op"] = "replace", ["path"] = Extend(path, "n", "n"), ["value"] = 1 },
                2 => new JsonObject { ["op"] = "add", ["path"] = Extend(path, 99), ["value"] = 1 },
                _ => new JsonObject { ["op"] = "remove", ["path"] = Extend(path, "missing", 0) },
            };
            return bad;
        }

        var op = random.Next(3) switch { 0 => "add", 1 => "replace", _ => "remove" };
        JsonNode key;
        if (node is JsonArray array)
        {
            var limit = op == "add" ? array.Count + 1 : array.Count;
            if (limit == 0)
            {
                op = "add";
                limit = 1;
            }

            var index = random.Next(limit);
            key = op == "add" && index == array.Count && random.Next(2) == 0 ? "-" : random.Next(5) == 0 ? index.ToString(System.Globalization.CultureInfo.InvariantCulture) : index;
        }
        else
        {
            key = Keys[random.Next(Keys.Length)];
        }

        var operation = new JsonObject { ["op"] = op, ["path"] = Extend(path, key) };
        if (op != "remove")
        {
            operation["value"] = Value(random, 3);
        }

        return operation;
    }

    private static (JsonNode Step, JsonNode? Child)? Child(Random random, JsonNode? node) => node switch
    {
        JsonObject { Count: > 0 } obj when obj.ElementAt(random.Next(obj.Count)) is var member => (member.Key, member.Value),
        JsonArray { Count: > 0 } array when random.Next(array.Count) is var index => (index, array[index]),
        _ => null,
    };

    private static JsonArray Extend(JsonArray path, params JsonNode[] steps) =>
        new(path.Select(step => step?.DeepClone()).Concat(steps.Select(step => step.DeepClone())).ToArray());

    private static JsonNode? Value(Random random, int depth) => random.Next(depth > 0 ? 9 : 6) switch
    {
        0 => null,
        1 => random.Next(2) == 0,
        2 => random.Next(-1000, 1000),
        3 => random.Next(-1000, 1000) / 8.0,
        4 => "s" + random.Next(100),
        5 => random.Next(2) == 0 ? "zäh 🚀 \"q\"" : "",
        6 or 7 => new JsonObject(Enumerable.Range(0, random.Next(4)).Select(i => KeyValuePair.Create(Keys[(i * 3 + random.Next(3)) % Keys.Length], Value(random, depth - 1)))
            .DistinctBy(member => member.Key)),
        _ => new JsonArray(Enumerable.Range(0, random.Next(4)).Select(_ => Value(random, depth - 1)).ToArray()),
    };

    private sealed record Log(string Initial, List<string> Patches);
}
