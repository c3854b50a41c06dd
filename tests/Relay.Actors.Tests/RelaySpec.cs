#nullable enable
using Akka.Actor;
using Akka.Persistence.Sql.Query;
using Akka.Streams;
using Akka.Streams.Dsl;
using Relay.Actors.Documents;
using Relay.Actors.Hosting;
using Relay.Actors.Journal;
using Relay.Actors.Messages;
using Xunit.Abstractions;

namespace Relay.Actors.Tests;

/// <summary>
/// Base of the actor specs: the TestKit runs on a <see cref="SpecNode"/>, a whole Relay node in this process on
/// its own real SQLite file, wired as production wires it. Its folder is deleted afterwards.
/// </summary>
public abstract class RelaySpec : Akka.TestKit.Xunit2.TestKit
{
    /// <summary>Generous for a shared 2-core machine; only an expectation that fails ever waits this long.</summary>
    protected static readonly TimeSpan Patience = TimeSpan.FromSeconds(10);

    protected RelaySpec(ITestOutputHelper output, string placement = "singleton", Action<RelayOptions>? configure = null)
        : this(SpecNode.Start(placement, configure: configure), output)
    {
    }

    private RelaySpec(SpecNode node, ITestOutputHelper output)
        : base(node.System, output)
    {
        Node = node;
    }

    /// <summary>The node the spec runs on.</summary>
    protected SpecNode Node { get; }

    /// <summary>The journal as replay and gap filling read it.</summary>
    private protected IPatchJournal PatchJournal => new QueryPatchJournal(Sys, SqlReadJournal.Identifier);

    /// <summary>The node's history reader over <paramref name="journal"/> (the node's journal if none), with holes of its own.</summary>
    private protected HistoryReader ReaderOf(IPatchJournal? journal = null) =>
        RelayHostingExtensions.CreateHistoryReader(Sys, Node.Options, new Relay.Actors.Fanout.NodeStatus(), journal);

    /// <summary>Everything journaled so far for <paramref name="document"/> (the default one if none), in journal order.</summary>
    protected async Task<IReadOnlyList<PatchAppended>> ReadJournalAsync(DocumentName document = default)
    {
        var patches = await PatchJournal.Read(document, 1).RunWith(Sink.Seq<PatchAppended>(), Sys.Materializer());
        return patches.ToList();
    }

    /// <summary>A client frame's payload as text.</summary>
    protected static ReadOnlyMemory<byte> Text(string text) => System.Text.Encoding.UTF8.GetBytes(text);

    /// <summary>A payload as text.</summary>
    protected static string TextOf(ReadOnlyMemory<byte> payload) => System.Text.Encoding.UTF8.GetString(payload.Span);

    /// <inheritdoc />
    protected override void AfterAll()
    {
        base.AfterAll();
        Node.DisposeAsync().AsTask().GetAwaiter().GetResult();
        try
        {
            Directory.Delete(Node.Folder, recursive: true);
        }
        catch (IOException)
        {
            // A pooled SQLite connection may still hold the file; the temp folder is cleaned by the OS.
        }
    }
}
