#nullable enable
using Akka.Actor;
using Akka.Configuration;
using Akka.Dispatch;
using Akka.Event;
using Relay.Actors.Connections;
using Xunit;
using Xunit.Abstractions;

namespace Relay.Actors.Tests;

/// <summary>The lean mailbox of connection actors: the queue on its own, and as an actor system configures it.</summary>
public sealed class ConnectionMailboxSpecs : RelaySpec
{
    public ConnectionMailboxSpecs(ITestOutputHelper output) : base(output)
    {
    }

    [Fact]
    public void Should_hand_out_messages_first_in_first_out_with_their_senders()
    {
        var queue = new ConnectionMailbox.LeanMessageQueue();
        var senders = new[] { CreateTestProbe().Ref, CreateTestProbe().Ref };

        for (var i = 0; i < 200; i++)
        {
            queue.Enqueue(TestActor, new Envelope(i, senders[i % 2]));
        }

        var handedOut = new List<(object, IActorRef)>();
        while (queue.TryDequeue(out var envelope))
        {
            handedOut.Add((envelope.Message, envelope.Sender));
        }

        Assert.Equal(Enumerable.Range(0, 200).Select(i => ((object)i, senders[i % 2])), handedOut);
    }

    [Fact]
    public void Should_count_the_messages_that_wait()
    {
        var queue = new ConnectionMailbox.LeanMessageQueue();
        Assert.Equal((0, false), (queue.Count, queue.HasMessages));
        Assert.False(queue.TryDequeue(out _));

        queue.Enqueue(TestActor, new Envelope("a", TestActor));
        queue.Enqueue(TestActor, new Envelope("b", TestActor));
        queue.Enqueue(TestActor, new Envelope("c", TestActor));
        Assert.Equal((3, true), (queue.Count, queue.HasMessages));

        Assert.True(queue.TryDequeue(out _));
        Assert.Equal((2, true), (queue.Count, queue.HasMessages));
        Assert.True(queue.TryDequeue(out _));
        Assert.True(queue.TryDequeue(out _));
        Assert.Equal((0, false), (queue.Count, queue.HasMessages));
    }

    [Fact]
    public async Task Should_move_what_is_left_to_dead_letters_in_order_on_clean_up()
    {
        var queue = new ConnectionMailbox.LeanMessageQueue();
        var owner = CreateTestProbe().Ref;
        var sender = CreateTestProbe().Ref;
        var deadLetters = CreateTestProbe();
        Sys.EventStream.Subscribe(deadLetters.Ref, typeof(DeadLetter));
        queue.Enqueue(owner, new Envelope("left-1", sender));
        queue.Enqueue(owner, new Envelope("left-2", sender));
        queue.Enqueue(owner, new Envelope("left-3", sender));

        // The queue Akka hands a mailbox when its actor stops.
        queue.CleanUp(owner, Sys.Mailboxes.DeadLetterMailbox.MessageQueue);

        Assert.Equal((0, false), (queue.Count, queue.HasMessages));
        foreach (var expected in new[] { "left-1", "left-2", "left-3" })
        {
            var dead = await deadLetters.FishForMessageAsync<DeadLetter>(d => d.Message is string, Patience);
            Assert.Equal((expected, sender, owner), ((string)dead.Message, dead.Sender, dead.Recipient));
        }
    }

    [Fact]
    public async Task Should_be_what_the_configured_path_gives_an_actor_and_keep_its_order()
    {
        var actor = Sys.ActorOf(Props.Create(() => new EchoActor()).WithMailbox(ConnectionMailbox.Id));

        for (var i = 1; i <= 500; i++)
        {
            actor.Tell(i);
        }

        for (var i = 1; i <= 500; i++)
        {
            Assert.Equal(i, await ExpectMsgAsync<int>(Patience));
        }

        actor.Tell("queue?");
        Assert.Equal(typeof(ConnectionMailbox.LeanMessageQueue), await ExpectMsgAsync<Type>(Patience));
    }

    private sealed class EchoActor : UntypedActor
    {
        protected override void OnReceive(object message)
        {
            if (message is "queue?")
            {
                Sender.Tell(((ActorCell)Context).Mailbox?.MessageQueue.GetType() ?? typeof(void));
                return;
            }

            Sender.Tell(message);
        }
    }
}
