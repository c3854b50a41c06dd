#nullable enable
using System.Text;
using Akka.Actor;
using Akka.Persistence;
using Relay.Actors.Messages;

namespace Relay.Actors.Journal;

/// <summary>Runs the journal's paths once when a node starts (<see cref="JournalWarmUpActor"/>).</summary>
public static class JournalWarmUp
{
    /// <summary>The warm-up's persistence ids start with this, followed by the node's Akka address (<c>host:port</c>); no document's does.</summary>
    public const string PersistenceIdPrefix = "relay-warm-up/";

    /// <summary>The warm-up's persistence id for a node at <paramref name="address"/>.</summary>
    public static string PersistenceIdOf(Address address) => $"{PersistenceIdPrefix}{address.Host}:{address.Port}";

    /// <summary>
    /// Warms the node's journal paths on <paramref name="persistenceId"/>; completes when done, faults when a step
    /// failed. <paramref name="readBack"/>, if given, runs while the patch is journaled and not yet deleted: the
    /// node reads it through the replay path, whose row mapping and deserialization only run on a real row.
    /// </summary>
    public static async Task RunAsync(ActorSystem system, string persistenceId, TimeSpan timeout, Func<Task>? readBack = null)
    {
        foreach (var write in new[] { true, false })
        {
            var done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            system.ActorOf(Props.Create(() => new JournalWarmUpActor(persistenceId, write, done)));
            await done.Task.WaitAsync(timeout);
            if (write && readBack is not null)
            {
                await readBack().WaitAsync(timeout);
            }
        }
    }
}

/// <summary>
/// Runs the journal's paths once when a node starts, so that no client waits for them to be compiled: the first
/// journal write of a fresh process took about 180 ms here (of the 210 ms its first patch took end to end), and
/// the first recovery that replays events about 100 ms, against a few ms each later. Two short-lived persistent
/// actors on a persistence id of the node's own (no document's): the first recovers and journals one patch, the
/// second recovers it (the replay and deserializer paths) and deletes it. The journal keeps one row for the id,
/// marked deleted. Best effort: a failure only means the first client pays the cost.
/// </summary>
public sealed class JournalWarmUpActor : ReceivePersistentActor
{
    private static readonly ReadOnlyMemory<byte> Payload = Encoding.UTF8.GetBytes("[]");
    private readonly TaskCompletionSource _done;

    /// <summary>The first pass (<paramref name="write"/>) journals a patch; the second recovers and deletes it.</summary>
    public JournalWarmUpActor(string persistenceId, bool write, TaskCompletionSource done)
    {
        PersistenceId = persistenceId;
        _done = done;
        Recover<PatchAppended>(_ => { });
        Recover<RecoveryCompleted>(_ =>
        {
            if (write)
            {
                Persist(new PatchAppended(LastSequenceNr + 1, "warm-up", LastSequenceNr + 1, Payload, IsText: true), _ => Finish(null));
            }
            else
            {
                DeleteMessages(LastSequenceNr);
            }
        });
        Command<DeleteMessagesSuccess>(_ => Finish(null));
        Command<DeleteMessagesFailure>(failure => Finish(failure.Cause));
    }

    /// <inheritdoc />
    public override string PersistenceId { get; }

    /// <inheritdoc />
    protected override void OnRecoveryFailure(Exception reason, object? message = null)
    {
        _done.TrySetException(reason);
        base.OnRecoveryFailure(reason, message);
    }

    /// <inheritdoc />
    protected override void OnPersistFailure(Exception cause, object @event, long sequenceNr)
    {
        _done.TrySetException(cause);
        base.OnPersistFailure(cause, @event, sequenceNr);
    }

    /// <inheritdoc />
    protected override void OnPersistRejected(Exception cause, object @event, long sequenceNr)
    {
        _done.TrySetException(cause);
        Context.Stop(Self);
    }

    private void Finish(Exception? failure)
    {
        if (failure is null)
        {
            _done.TrySetResult();
        }
        else
        {
            _done.TrySetException(failure);
        }

        Context.Stop(Self);
    }
}
