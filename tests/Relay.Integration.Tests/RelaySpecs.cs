using System.Text;
using Relay.Integration.Tests.Infrastructure;
using Relay.Testing;

namespace Relay.Integration.Tests;

/// <summary>Frames go out as they came in: same type, same bytes, to every other client, never back to the sender.</summary>
[Collection(SharedNodeCollection.Name)]
public sealed class RelaySpecs
{
    private readonly SharedNodeFixture _fixture;

    public RelaySpecs(SharedNodeFixture fixture) => _fixture = fixture;

    public static TheoryData<string> Texts => new()
    {
        """[{"op":"replace","path":["count"],"value":1}]""",
        "Grüße, 世界! 🚀 ﬁ ½ \u00e9\u0301 \u200d",
        string.Empty,
        "\0 nul \t tab \r\n crlf",
    };

    [Theory]
    [MemberData(nameof(Texts))]
    public async Task Should_relay_text_as_text_byte_for_byte(string text)
    {
        var clients = await _fixture.Node.ConnectAtLiveEdgeAsync(3);
        try
        {
            await clients[0].SendTextAsync(text);

            foreach (var receiver in clients[1..])
            {
                var message = await receiver.ReceiveAsync();
                Assert.True(message.IsText);
                Assert.Equal(Encoding.UTF8.GetBytes(text), message.Payload);
            }
        }
        finally
        {
            await clients.DisposeAllAsync();
        }
    }

    [Theory]
    [InlineData(0)]
    [InlineData(1)]
    [InlineData(256)]
    [InlineData(70_000)]
    public async Task Should_relay_binary_as_binary_byte_for_byte(int length)
    {
        // Every byte value, including ones that are not UTF-8, so nothing may treat binary as text.
        var payload = Enumerable.Range(0, length).Select(i => (byte)(i * 7 + (i >> 8))).ToArray();
        var clients = await _fixture.Node.ConnectAtLiveEdgeAsync(3);
        try
        {
            await clients[0].SendBinaryAsync(payload);

            foreach (var receiver in clients[1..])
            {
                var message = await receiver.ReceiveAsync();
                Assert.False(message.IsText);
                Assert.Equal(payload, message.Payload);
            }
        }
        finally
        {
            await clients.DisposeAllAsync();
        }
    }

    [Fact]
    public async Task Should_relay_messages_of_about_900_KB_under_the_default_limit_intact()
    {
        var binary = new byte[900 * 1024];
        new Random(42).NextBytes(binary);
        // Multi-byte characters throughout, so a frame split inside a character would show.
        var text = string.Concat(Enumerable.Repeat("ä€𝄞-", 900 * 1024 / 10));
        Assert.InRange(Encoding.UTF8.GetByteCount(text), 800 * 1024, 1024 * 1024);
        var clients = await _fixture.Node.ConnectAtLiveEdgeAsync(2);
        try
        {
            await clients[0].SendBinaryAsync(binary);
            await clients[0].SendTextAsync(text);

            var received = await clients[1].ReceiveManyAsync(2);
            Assert.False(received[0].IsText);
            Assert.Equal(binary, received[0].Payload);
            Assert.True(received[1].IsText);
            Assert.Equal(text, received[1].Text);
        }
        finally
        {
            await clients.DisposeAllAsync();
        }
    }

    [Fact]
    public async Task Should_send_a_patch_to_every_other_client_and_never_back_to_the_sender()
    {
        var run = Guid.NewGuid().ToString("N");
        var clients = await _fixture.Node.ConnectAtLiveEdgeAsync(4);
        try
        {
            for (var i = 0; i < clients.Length; i++)
            {
                await clients[i].SendTextAsync($"{run}:{i}");
            }

            // Once every client has the others' patches, all four are sequenced; a marker sent after that
            // bounds what each client can still get of this run, its own patch included.
            var seen = new List<string>[clients.Length];
            for (var i = 0; i < clients.Length; i++)
            {
                seen[i] = (await clients[i].ReceiveManyAsync(clients.Length - 1)).TextsStartingWith(run);
            }

            var end = $"{run}:end";
            await using var closer = await RelayClient.ConnectAsync(_fixture.Node.WebSocketUrl);
            await closer.SendTextAsync(end);
            for (var i = 0; i < clients.Length; i++)
            {
                seen[i].AddRange((await clients[i].ReadUntilTextAsync(end)).TextsStartingWith(run));
                var others = Enumerable.Range(0, clients.Length).Where(j => j != i).Select(j => $"{run}:{j}");
                Assert.Equal(others.Order(), seen[i].Order());
            }
        }
        finally
        {
            await clients.DisposeAllAsync();
        }
    }
}
