#nullable enable
using Akka.Actor;
using Akka.Cluster.Sharding;
using Akka.Event;
using Relay.Actors.Documents;
using Relay.Actors.Messages;

namespace Relay.Actors.History;

/// <summary>
/// The cluster singleton of the <c>singleton</c> placement: it hosts one <see cref="HistoryActor"/> per
/// document, started by the document's first message and stopped when it passivates, the way a shard hosts
/// its entities in the <c>sharded</c> placement. A sequencer that stopped on its own (a journal failure) is
/// started again, from the journal, by the document's next message; connections and hubs resend.
/// </summary>
internal sealed class HistoryHostActor : ReceiveActor
{
    private readonly ILoggingAdapter _log = Context.GetLogger();
    private readonly Func<DocumentName, Props> _sequencerProps;
    private readonly Dictionary<DocumentName, IActorRef> _sequencers = new();
    private readonly Dictionary<IActorRef, DocumentName> _documents = new();

    // Documents whose sequencer is passivating, with the messages that arrived meanwhile: they start the next one.
    private readonly Dictionary<DocumentName, List<(object Message, IActorRef Sender)>> _passivating = new();
    private bool _stopping;
    private long _started;

    /// <summary>Creates the host; <paramref name="sequencerProps"/> gives the props of a document's sequencer.</summary>
    public HistoryHostActor(Func<DocumentName, Props> sequencerProps)
    {
        _sequencerProps = sequencerProps;

        Receive<IDocumentCommand>(command =>
        {
            if (_stopping)
            {
                // Handing over: the new host takes the resend.
                return;
            }

            if (_passivating.TryGetValue(command.Document, out var waiting))
            {
                waiting.Add((command, Sender));
                return;
            }

            SequencerFor(command.Document).Forward(command);
        });
        Receive<Passivate>(passivate =>
        {
            if (_documents.TryGetValue(Sender, out var document) && !_passivating.ContainsKey(document))
            {
                _passivating[document] = new List<(object, IActorRef)>();
                Sender.Tell(passivate.StopMessage);
            }
        });
        Receive<Terminated>(terminated => OnSequencerStopped(terminated.ActorRef));
        Receive<HistoryActor.StopSequencer>(_ =>
        {
            // The singleton's termination message (hand-over, shutdown): every sequencer finishes its writes first.
            _stopping = true;
            foreach (var sequencer in _sequencers.Values)
            {
                sequencer.Tell(HistoryActor.StopSequencer.Instance);
            }

            StopWhenEmpty();
        });
    }

    /// <summary>Props for the host.</summary>
    public static Props Props(Func<DocumentName, Props> sequencerProps) =>
        Akka.Actor.Props.Create(() => new HistoryHostActor(sequencerProps));

    private IActorRef SequencerFor(DocumentName document)
    {
        if (!_sequencers.TryGetValue(document, out var sequencer))
        {
            // Names are not derived from the document: a new sequencer may start while the last one's name is still taken.
            sequencer = Context.ActorOf(_sequencerProps(document), "sequencer-" + ++_started);
            Context.Watch(sequencer);
            _sequencers[document] = sequencer;
            _documents[sequencer] = document;
        }

        return sequencer;
    }

    private void OnSequencerStopped(IActorRef sequencer)
    {
        if (!_documents.Remove(sequencer, out var document))
        {
            return;
        }

        _sequencers.Remove(document);
        if (_passivating.Remove(document, out var waiting) && waiting.Count > 0 && !_stopping)
        {
            foreach (var (message, sender) in waiting)
            {
                SequencerFor(document).Tell(message, sender);
            }
        }
        else if (!_stopping && waiting is null)
        {
            _log.Warning("Sequencer of {Document} stopped; the document's next message starts it again from the journal", document);
        }

        StopWhenEmpty();
    }

    private void StopWhenEmpty()
    {
        if (_stopping && _sequencers.Count == 0)
        {
            Context.Stop(Self);
        }
    }
}
