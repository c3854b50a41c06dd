#nullable enable
using Akka.Actor;
using Akka.Configuration;
using Akka.Dispatch;
using Akka.Dispatch.MessageQueues;

namespace Relay.Actors.Connections;

/// <summary>
/// The mailbox of <see cref="ConnectionActor"/>s: unbounded like Akka's default, but a plain queue under a
/// lock instead of a <c>ConcurrentQueue</c>, whose first segment alone costs an idle connection about a
/// kilobyte. A connection's mailbox sees one producer at a time most of the time, so the lock is cheap.
/// Configured in akka.hocon as <see cref="Id"/>.
/// </summary>
public sealed class ConnectionMailbox : MailboxType, IProducesMessageQueue<ConnectionMailbox.LeanMessageQueue>
{
    /// <summary>The configuration path of this mailbox.</summary>
    public const string Id = "relay.connection-mailbox";

    /// <summary>Created by Akka from the mailbox configuration.</summary>
    public ConnectionMailbox(Settings settings, Config config) : base(settings, config)
    {
    }

    /// <inheritdoc />
    public override IMessageQueue Create(IActorRef owner, ActorSystem system) => new LeanMessageQueue();

    /// <summary>An unbounded FIFO queue that starts empty and grows only while messages wait.</summary>
    public sealed class LeanMessageQueue : IMessageQueue, IUnboundedMessageQueueSemantics
    {
        private readonly Queue<Envelope> _queue = new();

        /// <inheritdoc />
        public bool HasMessages
        {
            get
            {
                lock (_queue)
                {
                    return _queue.Count > 0;
                }
            }
        }

        /// <inheritdoc />
        public int Count
        {
            get
            {
                lock (_queue)
                {
                    return _queue.Count;
                }
            }
        }

        /// <inheritdoc />
        public void Enqueue(IActorRef receiver, Envelope envelope)
        {
            lock (_queue)
            {
                _queue.Enqueue(envelope);
            }
        }

        /// <inheritdoc />
        public bool TryDequeue(out Envelope envelope)
        {
            lock (_queue)
            {
                if (_queue.TryDequeue(out envelope))
                {
                    // A burst grew the buffer; give it back once the connection is idle again.
                    if (_queue.Count == 0 && _queue.EnsureCapacity(0) > 64)
                    {
                        _queue.TrimExcess();
                    }

                    return true;
                }

                return false;
            }
        }

        /// <inheritdoc />
        public void CleanUp(IActorRef owner, IMessageQueue deadletters)
        {
            while (TryDequeue(out var envelope))
            {
                deadletters.Enqueue(owner, envelope);
            }
        }
    }
}
