using Relay.Actors.Connections;
using Relay.Actors.Documents;
using Relay.Gateway.Operations;
using Relay.Gateway.Sockets;
using Xunit;

namespace Relay.Gateway.Tests;

/// <summary>
/// What a client is told for each way its connection ends (README's protocol table, docs/protocol.md), and what
/// <c>relay_disconnects_total</c> counts it as (docs/operations.md).
/// </summary>
public sealed class CloseCodesSpecs
{
    public static TheoryData<CloseReason, int, string, string> ActorReasons => new()
    {
        { CloseReason.ClientLeft, 1001, "client gone", "going_away" },
        { CloseReason.Ended, 1001, "connection ended", "going_away" },
        { CloseReason.Stopping, 1001, "server shutting down", "going_away" },
        { CloseReason.SlowConsumer, 1008, "slow consumer", "slow_reader" },
        { CloseReason.IdsOutOfOrder, 1008, "patch ids must go up by one", "other" },
        { CloseReason.IdReused, 1008, "patch id reused: another patch is journaled under this client and id; continue after lastId", "other" },
        { CloseReason.Unavailable, 1013, "history unavailable, try again later", "other" },
        { CloseReason.HistoryReplaced, 1012, "document history deleted or replaced: connect again for its new history", "other" },
    };

    [Theory]
    [MemberData(nameof(ActorReasons))]
    public void Should_tell_the_client_each_reason_the_actors_end_a_connection_for(CloseReason reason, int code, string text, string label)
    {
        var close = CloseCodes.For(reason);

        Assert.Equal((code, text, label), (close.Code, close.Reason, SocketMetrics.LabelOf(close.CountsAs)));
    }

    [Fact]
    public void Should_have_a_close_for_every_reason_the_actors_have()
    {
        Assert.Equal(Enum.GetValues<CloseReason>().Order(), ActorReasons.Select(row => (CloseReason)row[0]).Order());
        Assert.All(Enum.GetValues<CloseReason>(), reason => Assert.InRange(CloseCodes.For(reason).Code, 1000, 4999));
    }

    [Fact]
    public void Should_write_the_gateways_own_closes_with_their_codes_and_labels()
    {
        Assert.Equal(new CloseFrame(1007, "text frame is not valid UTF-8", Disconnect.BadUtf8), CloseCodes.InvalidUtf8);
        Assert.Equal(new CloseFrame(1008, "message rate limit exceeded", Disconnect.RateLimited), CloseCodes.RateLimited);
        Assert.Equal(new CloseFrame(1008, "byte rate limit exceeded", Disconnect.RateLimited), CloseCodes.ByteRateLimited);
        Assert.Equal(new CloseFrame(1008, "message not finished in time", Disconnect.MessageTimeout), CloseCodes.MessageTimedOut);
        Assert.Equal(new CloseFrame(1009, "message larger than 65536 bytes", Disconnect.Oversize), CloseCodes.TooBig(65536));
        Assert.Equal(new CloseFrame(1009, "message of more than 8 fragments", Disconnect.Oversize), CloseCodes.TooManyFragments(8));
    }

    [Theory]
    [InlineData(1000, 1000)]
    [InlineData(1008, 1008)]
    [InlineData(4001, 4001)]
    [InlineData(1005, 1000)]
    [InlineData(1006, 1000)]
    [InlineData(1015, 1000)]
    [InlineData(null, 1000)]
    public void Should_echo_the_clients_own_close_code_except_those_that_may_not_be_sent(int? received, int echoed)
    {
        var close = CloseCodes.FromClient(received, "bye");

        Assert.Equal((echoed, "bye"), (close.Code, close.Reason));
        // Whatever code the client chose, the server did not close it: a client closing with 1008 is no fault.
        Assert.Equal(Disconnect.ClientClosed, close.CountsAs);
        Assert.False(close.IsFault);
    }

    [Fact]
    public void Should_log_as_faults_only_the_closes_a_client_caused()
    {
        Assert.True(CloseCodes.InvalidUtf8.IsFault);
        Assert.True(CloseCodes.For(CloseReason.SlowConsumer).IsFault);
        Assert.True(CloseCodes.TooBig(1).IsFault);
        Assert.False(CloseCodes.For(CloseReason.Stopping).IsFault);
        Assert.False(CloseCodes.For(CloseReason.Unavailable).IsFault);
        Assert.False(CloseCodes.ClientGone.IsFault);
    }

    [Fact]
    public void Should_label_each_disconnect_once_as_docs_operations_md_lists_them()
    {
        var labels = Enum.GetValues<Disconnect>().Select(SocketMetrics.LabelOf).ToArray();

        Assert.Equal(
            ["normal", "going_away", "slow_reader", "rate_limited", "oversize", "bad_utf8", "message_timeout", "client_closed", "other"],
            labels);
    }

    [Fact]
    public void Should_pass_raw_frames_through_byte_for_byte_and_send_raw_clients_nothing_but_patches()
    {
        var message = RelayV1Specs.Bytes("{\"id\":1}\nnot an envelope to a raw client");

        Assert.True(ClientCodec.Raw.TryDecode(message, out var decoded, out _));
        Assert.Equal(message, decoded.Payload.ToArray());
        Assert.Equal((ClientMessageKind.Patch, 0L), (decoded.Kind, decoded.Id));

        using (var encoded = ClientCodec.Raw.Encode(new PatchFrame(message, IsText: false, Sequence: 9), DocumentName.Default))
        {
            Assert.Equal(message, encoded.Bytes.ToArray());
            Assert.False(encoded.IsText);
        }

        Assert.Throws<InvalidOperationException>(() => ClientCodec.Raw.Encode(new AckFrame(1, 9), DocumentName.Default));
        Assert.Throws<InvalidOperationException>(() => ClientCodec.Raw.Encode(new HelloFrame(9, 1, false), DocumentName.Default));
    }

    [Fact]
    public void Should_pick_the_codec_of_the_clients_protocol()
    {
        Assert.Same(ClientCodec.Raw, ClientCodec.For(ClientProtocol.Raw));
        Assert.Same(ClientCodec.RelayV1, ClientCodec.For(new ClientProtocol(Enveloped: true)));
    }
}
