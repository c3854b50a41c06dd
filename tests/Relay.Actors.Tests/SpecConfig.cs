#nullable enable
using Akka.Configuration;
using Akka.Persistence.Sql;
using Microsoft.Data.Sqlite;
using Relay.Actors.Connections;

namespace Relay.Actors.Tests;

/// <summary>
/// The one place the specs' HOCON lives: a real SQLite file for the journal, the snapshot store and the
/// read journal, and <see cref="Serialization.RelaySerializer"/> bound to every Relay message, as
/// <c>WithRelay</c> sets them up in production, and the connections' mailbox as akka.hocon configures it.
/// </summary>
public static class SpecConfig
{
    /// <summary>A new SQLite file in its own temp folder, in write-ahead-log mode like production's.</summary>
    public static string NewDatabase(out string folder)
    {
        folder = Path.Combine(Path.GetTempPath(), "relay-tests", $"actor-spec-{Guid.NewGuid():N}");
        Directory.CreateDirectory(folder);
        var connectionString = new SqliteConnectionStringBuilder { DataSource = Path.Combine(folder, "relay.db") }.ConnectionString;

        // Replay reads while the journal writes; WAL mode is a property of the file.
        using var connection = new SqliteConnection(connectionString);
        connection.Open();
        using var command = connection.CreateCommand();
        command.CommandText = "PRAGMA journal_mode=WAL;";
        command.ExecuteNonQuery();
        return connectionString;
    }

    /// <summary>The mailbox type exactly as akka.hocon names it (see <c>ConnectionMailboxSpecs</c>).</summary>
    public const string ConnectionMailboxType = "Relay.Actors.Connections.ConnectionMailbox, Relay.Actors";

    /// <summary>The actor system configuration for a spec on the SQLite file behind <paramref name="connectionString"/>.</summary>
    public static Config For(string connectionString) =>
        ConfigurationFactory.ParseString($$"""
            {{ConnectionMailbox.Id}} {
              mailbox-type = "{{ConnectionMailboxType}}"
            }
            akka {
              loglevel = INFO
              actor {
                serializers.relay = "Relay.Actors.Serialization.RelaySerializer, Relay.Actors"
                serialization-bindings {
                  "Relay.Actors.Messages.IRelayMessage, Relay.Actors" = relay
                }
              }
              persistence {
                journal {
                  plugin = "akka.persistence.journal.sql"
                  sql {
                    connection-string = "{{connectionString}}"
                    provider-name = "SQLite.MS"
                    auto-initialize = on
                    parallelism = 1
                  }
                }
                snapshot-store {
                  plugin = "akka.persistence.snapshot-store.sql"
                  sql {
                    connection-string = "{{connectionString}}"
                    provider-name = "SQLite.MS"
                    auto-initialize = on
                  }
                }
                query.journal.sql {
                  connection-string = "{{connectionString}}"
                  provider-name = "SQLite.MS"
                }
              }
            }
            """).WithFallback(SqlPersistence.DefaultConfiguration);
}
