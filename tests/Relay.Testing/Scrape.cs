using System.Globalization;
using System.Net;
using Xunit;

namespace Relay.Testing;

/// <summary>One scrape of a node's <c>/metrics</c> (Prometheus text format).</summary>
public sealed class Scrape
{
    private static readonly HttpClient Http = new() { Timeout = TimeSpan.FromSeconds(10) };
    private readonly List<(string Name, string Labels, double Value)> _samples = [];

    private Scrape(string text)
    {
        Text = text;
        foreach (var line in text.Split('\n'))
        {
            if (line.Length == 0 || line[0] == '#')
            {
                continue;
            }

            var brace = line.IndexOf('{');
            var space = line.LastIndexOf(' ');
            var name = brace >= 0 && brace < space ? line[..brace] : line[..space];
            var labels = brace >= 0 && brace < space ? line[brace..(line.LastIndexOf('}') + 1)] : string.Empty;
            _samples.Add((name, labels, double.Parse(line[(space + 1)..], CultureInfo.InvariantCulture)));
        }
    }

    /// <summary>The raw text, for failure messages.</summary>
    public string Text { get; }

    /// <summary>Scrapes <paramref name="node"/>.</summary>
    public static async Task<Scrape> TakeAsync(RelayNode node)
    {
        using var response = await Http.GetAsync(new Uri(node.HttpUrl, "/metrics"));
        var body = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == HttpStatusCode.OK, $"/metrics of {node.Name} answered {(int)response.StatusCode}: {body}");
        return new Scrape(body);
    }

    /// <summary>Whether a metric of that name is exported at all.</summary>
    public bool Has(string name) => Text.Contains("# TYPE " + name + " ", StringComparison.Ordinal);

    /// <summary>The sum of the samples named <paramref name="name"/> whose labels contain <paramref name="label"/>; 0 when none.</summary>
    public double Value(string name, string? label = null) =>
        _samples.Where(sample => sample.Name == name && (label is null || sample.Labels.Contains(label, StringComparison.Ordinal)))
            .Sum(sample => sample.Value);
}
