using System.Diagnostics;
using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Relay.Testing;
using Xunit.Abstractions;

namespace Relay.Integration.Tests;

/// <summary>While a node starts, plain requests at <c>/</c> get a status, never a server error.</summary>
public sealed class StartupSpecs
{
    private readonly ITestOutputHelper _output;

    public StartupSpecs(ITestOutputHelper output) => _output = output;

    [Fact]
    public async Task Should_answer_plain_GETs_with_a_json_status_while_the_node_starts()
    {
        await using var node = RelayNode.Sqlite("startup");
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(5) };
        node.Launch();
        var statuses = new List<string>();
        var clock = Stopwatch.StartNew();
        while (clock.Elapsed < TimeSpan.FromSeconds(60) && statuses.LastOrDefault() != "ready")
        {
            Assert.True(node.IsRunning, $"the node exited while starting:\n{node.Output}");
            HttpResponseMessage response;
            try
            {
                response = await http.GetAsync(node.HttpUrl);
            }
            catch (HttpRequestException)
            {
                // Kestrel does not listen yet.
                await Task.Delay(50);
                continue;
            }

            using (response)
            {
                Assert.Equal(HttpStatusCode.OK, response.StatusCode);
                var status = await response.Content.ReadFromJsonAsync<JsonElement>();
                statuses.Add(status.GetProperty("status").GetString()!);
            }
        }

        _output.WriteLine($"{statuses.Count(s => s == "starting")} answers said starting before the first ready");
        Assert.Equal("ready", statuses.LastOrDefault());
        Assert.All(statuses, status => Assert.Contains(status, new[] { "starting", "ready" }));
    }
}
