#nullable enable
using Akka.Actor;
using Akka.Configuration;
using Akka.Persistence.Sql.Query;
using Akka.Streams;
using Akka.Streams.Dsl;
using Relay.Actors.Journal;
using Relay.Actors.Messages;
using Xunit.Abstractions;

namespace Relay.Actors.Tests;

/// <summary>Base of the actor specs: an actor system on its own real SQLite file, deleted afterwards.</summary>
public abstract class RelaySpec : Akka.TestKit.Xunit2.TestKit
{
    /// <summary>Generous for a shared 2-core machine; only an expectation that fails ever waits this long.</summary>
    protected static readonly TimeSpan Patience = TimeSpan.FromSeconds(10);

    private readonly string _folder;

    protected RelaySpec(ITestOutputHelper output)
        : this(SpecConfig.NewDatabase(out var folder), folder, output)
    {
    }

    private RelaySpec(string connectionString, string folder, ITestOutputHelper output)
        : base(SpecConfig.For(connectionString), output: output)
    {
        _folder = folder;
        SystemConfig = SpecConfig.For(connectionString);
    }

    /// <summary>This spec's configuration, for a second actor system on the same SQLite file.</summary>
    protected Config SystemConfig { get; }

    /// <summary>The journal as replay and gap filling read it.</summary>
    protected IPatchJournal PatchJournal => new QueryPatchJournal(Sys, SqlReadJournal.Identifier);

    /// <summary>Everything journaled so far, in journal order.</summary>
    protected async Task<IReadOnlyList<PatchAppended>> ReadJournalAsync()
    {
        var patches = await PatchJournal.Read(1).RunWith(Sink.Seq<PatchAppended>(), Sys.Materializer());
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
        try
        {
            Directory.Delete(_folder, recursive: true);
        }
        catch (IOException)
        {
            // A pooled SQLite connection may still hold the file; the temp folder is cleaned by the OS.
        }
    }
}
