using ScottPlot;

namespace Relay.Bench;

/// <summary>One point of the chart: a server at a number of receivers.</summary>
public sealed record ChartPoint(string Server, int Receivers, double DeliveriesPerSec, double P99Ms);

/// <summary>Draws deliveries/s and p99 latency against receivers, one line per server, side by side.</summary>
public static class Chart
{
    /// <summary>Saves the chart as a PNG at <paramref name="path"/>.</summary>
    public static void Save(IReadOnlyList<ChartPoint> points, IReadOnlyList<int> receivers, string path)
    {
        var multiplot = new Multiplot();
        multiplot.AddPlots(2);
        multiplot.Layout = new ScottPlot.MultiplotLayouts.Columns();
        var throughput = multiplot.GetPlot(0);
        var latency = multiplot.GetPlot(1);
        var colors = new Dictionary<string, Color> { ["relay"] = Colors.RoyalBlue, ["reference"] = Colors.DarkOrange, ["signalr"] = Colors.SeaGreen };

        // Receivers grow by factors; evenly spaced categories read better than a linear axis.
        var positions = receivers.Select((_, i) => (double)i).ToArray();
        foreach (var plot in new[] { throughput, latency })
        {
            var ticks = new ScottPlot.TickGenerators.NumericManual();
            for (var i = 0; i < receivers.Count; i++)
            {
                ticks.AddMajor(i, receivers[i].ToString(System.Globalization.CultureInfo.InvariantCulture));
            }

            plot.Axes.Bottom.TickGenerator = ticks;
            plot.XLabel("receivers");
        }

        foreach (var server in points.Select(p => p.Server).Distinct())
        {
            var mine = receivers.Select(r => points.FirstOrDefault(p => p.Server == server && p.Receivers == r)).ToArray();
            var xs = positions.Where((_, i) => mine[i] is not null).ToArray();
            var rate = throughput.Add.Scatter(xs, mine.OfType<ChartPoint>().Select(p => p.DeliveriesPerSec).ToArray());
            rate.LegendText = server;
            rate.Color = colors.GetValueOrDefault(server, Colors.Gray);
            rate.LineWidth = 2;
            rate.MarkerSize = 8;
            var p99 = latency.Add.Scatter(xs, mine.OfType<ChartPoint>().Select(p => p.P99Ms).ToArray());
            p99.LegendText = server;
            p99.Color = colors.GetValueOrDefault(server, Colors.Gray);
            p99.LineWidth = 2;
            p99.MarkerSize = 8;
        }

        throughput.Title("Fan-out: deliveries/s (2 senders, 200 in flight)");
        throughput.YLabel("deliveries/s");
        throughput.Axes.SetLimitsY(0, Math.Max(1, points.Count == 0 ? 1 : points.Max(p => p.DeliveriesPerSec)) * 1.1);
        latency.Title("Latency: p99 send-to-receive (5 in flight)");
        latency.YLabel("p99 ms");
        latency.Axes.SetLimitsY(0, Math.Max(1, points.Count == 0 ? 1 : points.Max(p => p.P99Ms)) * 1.1);
        foreach (var plot in new[] { throughput, latency })
        {
            plot.Axes.SetLimitsX(-0.3, receivers.Count - 0.7);
        }

        // Latency grows to the right; its legend goes where the lines are low.
        throughput.ShowLegend(Alignment.UpperRight);
        latency.ShowLegend(Alignment.UpperLeft);

        Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(path))!);
        multiplot.SavePng(path, 1400, 550);
    }
}
