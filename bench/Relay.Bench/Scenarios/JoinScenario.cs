using System.Diagnostics;
using System.Text.Json.Nodes;

namespace Relay.Bench.Scenarios;

/// <summary>
/// Joining under load, a check rather than a figure: while two senders keep patches flowing to a few receivers,
/// new clients connect one after another; once the senders stop, every joiner must hold every patch sent, each
/// sender's in order, none missing or doubled (a patch that arrived while its history was being sent included).
/// </summary>
public static class JoinScenario
{
    private const int Receivers = 5;
    private const int InFlight = 50;

    /// <summary>Runs the scenario.</summary>
    public static async Task<JsonObject> RunAsync(IClientConnector connector, BenchSettings settings, Func<string?> serverFailure)
    {
        var senders = settings.Senders;
        var result = new JsonObject { ["scenario"] = "join", ["joiners"] = settings.Joiners, ["senders"] = senders, ["receivers"] = Receivers };
        var runId = (uint)Random.Shared.Next();
        using var tracker = new DeliveryTracker(senders, Receivers, InFlight);
        var receiverSinks = Enumerable.Range(0, Receivers).Select(_ => new ReceiverSink(runId, senders, tracker, null)).ToArray();
        var joinerSinks = new List<ReceiverSink>();
        var clients = new List<IBenchClient>();
        var sent = new long[senders];
        using var stop = new CancellationTokenSource();
        var loops = Array.Empty<Task>();
        try
        {
            clients.AddRange(await Clients.ConnectAllAsync(connector, receiverSinks, Receivers, settings.PhaseTimeout));
            var senderClients = await Clients.ConnectAllAsync(connector, Enumerable.Repeat<IMessageSink>(DiscardSink.Instance, senders).ToArray(), senders, settings.PhaseTimeout);
            clients.AddRange(senderClients);
            string? Failure() => serverFailure() ?? Clients.FirstEnded(clients, "client") ?? loops.FirstOrDefault(t => t.IsFaulted)?.Exception?.GetBaseException().Message;

            loops = senderClients.Select((client, index) => Task.Run(() => SendLoopAsync(client, index, runId, settings.PatchBytes, tracker, sent, stop.Token))).ToArray();
            for (var i = 0; i < settings.Joiners; i++)
            {
                if (await Waiting.ForAsync(settings.JoinInterval, () => Interlocked.Read(ref sent[0]), settings.StallTimeout, Failure) is { } error)
                {
                    return FlowScenario.Failed(result, $"before joiner {i + 1}: {error}");
                }

                var sink = new ReceiverSink(runId, senders, null, null);
                joinerSinks.Add(sink);
                clients.Add(await connector.ConnectAsync(sink, TimeSpan.FromSeconds(30), bufferSize: 64 * 1024));
            }

            // Senders stop between patches (never inside a send), so every patch counted as sent was sent whole.
            await stop.CancelAsync();
            await Task.WhenAll(loops);
            var total = sent.Sum();
            result["patchesSent"] = total;
            var everyone = receiverSinks.Concat(joinerSinks).ToArray();
            var waitError = await Waiting.UntilAsync(
                () => everyone.All(s => s.Patches >= total),
                () => everyone.Sum(s => s.Patches),
                settings.PhaseTimeout,
                settings.StallTimeout,
                () => serverFailure() ?? Clients.FirstEnded(clients, "client"));

            // Anything doubled would arrive after the count is reached: give it a moment to show.
            await Task.Delay(TimeSpan.FromMilliseconds(200));
            result["joinersComplete"] = joinerSinks.Count(s => s.Patches == total);
            result["outOfOrder"] = everyone.Sum(s => s.OutOfOrder);
            result["extra"] = everyone.Sum(s => Math.Max(0, s.Patches - total)) + everyone.Sum(s => s.Foreign);
            if (waitError is not null)
            {
                return FlowScenario.Failed(result, $"waiting for every joiner to hold all {total} patches: {waitError} (least: {everyone.Min(s => s.Patches)})");
            }

            result["ok"] = total > 0 && result["outOfOrder"]!.GetValue<long>() == 0 && result["extra"]!.GetValue<long>() == 0;
            if (!(bool)result["ok"]!)
            {
                result["error"] = total == 0 ? "nothing sent" : "a joiner or receiver got a patch out of order, twice or from elsewhere";
            }

            return result;
        }
        catch (Exception ex) when (FlowScenario.IsConnectionFailure(ex))
        {
            return FlowScenario.Failed(result, ex.Message);
        }
        finally
        {
            await stop.CancelAsync();
            await Task.WhenAll(loops).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
            await Clients.DisposeAllAsync(clients);
        }
    }

    private static async Task SendLoopAsync(IBenchClient client, int sender, uint runId, int patchBytes, DeliveryTracker tracker, long[] sent, CancellationToken stop)
    {
        var buffer = Patch.NewBuffer(patchBytes);
        while (true)
        {
            try
            {
                await tracker.WaitForCreditAsync(sender, stop);
            }
            catch (OperationCanceledException)
            {
                return;
            }

            Patch.Write(buffer, runId, sender, Interlocked.Read(ref sent[sender]), Stopwatch.GetTimestamp());
            await client.SendTextAsync(buffer, CancellationToken.None);
            Interlocked.Increment(ref sent[sender]);
        }
    }
}
