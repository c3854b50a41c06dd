using System.Text;
using System.Text.Json;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Primitives;
using Relay.Actors.Connections;
using Relay.Actors.Documents;
using Relay.Actors.Presence;
using Relay.Gateway.Sockets;
using Xunit;

namespace Relay.Gateway.Tests;

/// <summary>The <c>relay.v1</c> codec (docs/protocol.md): reading a client's patch, writing each frame, the upgrade's query.</summary>
public sealed class RelayV1Specs
{
    private static readonly DocumentName Board = DocumentName.Parse("boards/b-1");

    [Fact]
    public void Should_read_a_patch_as_its_id_and_the_payload_after_the_header_line_byte_for_byte()
    {
        var message = Bytes("{\"id\":42}\n[{\"op\":\"add\"}]\n");

        Assert.True(ClientCodec.RelayV1.TryDecode(message, out var decoded, out var error));

        Assert.Equal((ClientMessageKind.Patch, 42L), (decoded.Kind, decoded.Id));
        Assert.Equal("[{\"op\":\"add\"}]\n", Encoding.UTF8.GetString(decoded.Payload.Span));
        Assert.Null(error);
    }

    [Fact]
    public void Should_ignore_other_members_of_the_header_and_take_an_empty_payload()
    {
        Assert.True(RelayV1.TryReadPatch(Bytes("{\"note\":{\"a\":[1,2]},\"id\":7,\"x\":null}\n"), out var id, out var payload, out _));

        Assert.Equal(7, id);
        Assert.True(payload.IsEmpty);
    }

    [Fact]
    public void Should_take_ids_from_1_to_2_to_the_53_minus_1()
    {
        Assert.True(RelayV1.TryReadPatch(Bytes("{\"id\":1}\n"), out var first, out _, out _));
        Assert.True(RelayV1.TryReadPatch(Bytes("{\"id\":9007199254740991}\n"), out var last, out _, out _));

        Assert.Equal((1L, (1L << 53) - 1), (first, last));
    }

    [Theory]
    [InlineData("{\"id\":1}", "a patch starts with a header of at most 4096 bytes and a newline")]
    [InlineData("[1]\n", "the header is not a JSON object")]
    [InlineData("{\"id\":1}{}\n", "the header is not valid JSON")]
    [InlineData("{\"id\":\n", "the header is not valid JSON")]
    [InlineData("{\"seq\":3}\n", "the header has no id")]
    [InlineData("{\"id\":0}\n", "id must be a whole number from 1 to 2^53 - 1")]
    [InlineData("{\"id\":9007199254740992}\n", "id must be a whole number from 1 to 2^53 - 1")]
    [InlineData("{\"id\":1.5}\n", "id must be a whole number from 1 to 2^53 - 1")]
    [InlineData("{\"id\":\"1\"}\n", "id must be a whole number from 1 to 2^53 - 1")]
    [InlineData("{\"id\":1e0}\n", "id must be a whole number from 1 to 2^53 - 1")]
    [InlineData("{\"id\":1.0}\n", "id must be a whole number from 1 to 2^53 - 1")]
    [InlineData("{\"id\":-1}\n", "id must be a whole number from 1 to 2^53 - 1")]
    [InlineData("{\"id\":01}\n", "the header is not valid JSON")]
    [InlineData("{\"id\":1,\"id\":2}\n", "the header has more than one id")]
    [InlineData("{\"id\":1,\"id\":1}\n", "the header has more than one id")]
    public void Should_refuse_a_patch_it_cannot_read_with_a_one_line_reason(string message, string reason)
    {
        Assert.False(RelayV1.TryReadPatch(Bytes(message), out _, out _, out var error));
        Assert.Equal(reason, error);

        // As the socket's reader sees it: the close it sends.
        Assert.False(ClientCodec.RelayV1.TryDecode(Bytes(message), out _, out var close));
        Assert.Equal(new CloseFrame(CloseCodes.PolicyViolation, "bad relay.v1 frame: " + reason, Disconnect.Other), close);
    }

    [Fact]
    public void Should_take_a_header_of_4096_bytes_of_unknown_members_and_refuse_one_of_4097_even_with_a_newline_after_it()
    {
        string Header(int bytes) => "{\"id\":1,\"pad\":\"" + new string('x', bytes - 17) + "\"}";
        Assert.Equal(4096, Header(4096).Length);

        Assert.True(RelayV1.TryReadPatch(Bytes(Header(4096) + "\n[]"), out var id, out var payload, out _));
        Assert.Equal((1L, "[]"), (id, Encoding.UTF8.GetString(payload.Span)));
        Assert.False(RelayV1.TryReadPatch(Bytes(Header(4097) + "\n[]"), out _, out _, out var error));
        Assert.Equal("a patch starts with a header of at most 4096 bytes and a newline", error);
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void Should_write_a_patch_as_its_header_line_then_the_payload_in_the_payloads_frame_type(bool isText)
    {
        var payload = isText ? Bytes("[{\"op\":\"remove\",\"path\":[\"a\"]}]") : new byte[] { 0, 1, 2, 255 };

        using var encoded = ClientCodec.RelayV1.Encode(new PatchFrame(payload, isText, 12345), Board);

        var header = Bytes("{\"type\":\"patch\",\"seq\":12345}\n");
        Assert.Equal(isText, encoded.IsText);
        Assert.Equal(header.Concat(payload).ToArray(), encoded.Bytes.ToArray());
    }

    [Fact]
    public void Should_write_a_hello_with_the_document_its_epoch_in_16_hex_digits_the_head_and_whether_it_resumed()
    {
        using var encoded = ClientCodec.RelayV1.Encode(new HelloFrame(Head: 17, Epoch: -2, Resumed: true), Board);

        Assert.True(encoded.IsText);
        using var hello = JsonDocument.Parse(encoded.Bytes);
        Assert.Equal(
            """{"type":"hello","document":"boards/b-1","epoch":"fffffffffffffffe","head":17,"resumed":true}""",
            hello.RootElement.GetRawText());
    }

    [Fact]
    public void Should_write_an_ack_with_the_clients_id_and_the_sequence_number_it_was_journaled_under()
    {
        using var encoded = ClientCodec.RelayV1.Encode(new AckFrame(Id: 3, Sequence: 90), Board);

        Assert.True(encoded.IsText);
        Assert.Equal("""{"type":"ack","id":3,"seq":90}""", Encoding.UTF8.GetString(encoded.Bytes.Span));
    }

    [Fact]
    public void Should_parse_the_upgrades_client_and_resume_point()
    {
        Assert.True(RelayV1.TryParseRequest(Query(("client", "tab_1-A"), ("after", "41"), ("epoch", "00000000000000ff")), out var protocol, out _));

        Assert.Equal(new ClientProtocol(Enveloped: true, ClientId: "tab_1-A", ResumeAfter: 41, ResumeEpoch: 255) { PresenceId = "tab_1-A", User = "tab_1-A" }, protocol);
        Assert.Equal("client/tab_1-A", protocol.OriginFor("connection-1"));
    }

    [Fact]
    public void Should_make_a_connection_without_a_client_id_its_own_client()
    {
        Assert.True(RelayV1.TryParseRequest(Query(), out var protocol, out _));

        Assert.Equal(new ClientProtocol(Enveloped: true) { PresenceId = protocol.PresenceId, User = protocol.PresenceId }, protocol);
        Assert.Matches("^_[0-9a-f]{16}$", protocol.PresenceId);
        Assert.Equal("connection-1", protocol.OriginFor("connection-1"));
    }

    [Theory]
    [InlineData("client", "has space", null, null, "client must be 1 to 64 characters of A-Z a-z 0-9 _ -")]
    [InlineData("client", "", null, null, "client must be 1 to 64 characters of A-Z a-z 0-9 _ -")]
    [InlineData("after", "3", null, null, "after and epoch go together")]
    [InlineData("epoch", "00000000000000ff", null, null, "after and epoch go together")]
    [InlineData("after", "-1", "epoch", "00000000000000ff", "after must be a sequence number (0 or more)")]
    [InlineData("after", "3", "epoch", "ff", "epoch must be the 16 hex digits a hello named")]
    [InlineData("after", "3", "epoch", "zzzzzzzzzzzzzzzz", "epoch must be the 16 hex digits a hello named")]
    [InlineData("user", "anna smith", null, null, "user must be 1 to 128 characters of A-Z a-z 0-9 _ - . @ :")]
    [InlineData("user", "", null, null, "user must be 1 to 128 characters of A-Z a-z 0-9 _ - . @ :")]
    public void Should_refuse_an_upgrade_query_it_cannot_take_with_a_one_line_reason(string key, string value, string? key2, string? value2, string reason)
    {
        var query = key2 is null ? Query((key, value)) : Query((key, value), (key2, value2!));

        Assert.False(RelayV1.TryParseRequest(query, out _, out var error));
        Assert.Equal(reason, error);
    }

    [Fact]
    public void Should_refuse_a_client_id_of_65_characters()
    {
        Assert.True(RelayV1.TryParseRequest(Query(("client", new string('a', 64))), out _, out _));
        Assert.False(RelayV1.TryParseRequest(Query(("client", new string('a', 65))), out _, out _));
    }

    [Fact]
    public void Should_take_the_users_name_for_presence_and_the_client_name_as_its_presence_id()
    {
        Assert.True(RelayV1.TryParseRequest(Query(("client", "tab1"), ("user", "anna@example.org:1")), out var protocol, out _));

        Assert.Equal(("tab1", "anna@example.org:1"), (protocol.PresenceId, protocol.User));
    }

    [Theory]
    [InlineData("{\"type\":\"presence\"}\n{\"a\":1}", ClientMessageKind.Presence, "{\"a\":1}")]
    [InlineData("{\"type\":\"presence\"}\n", ClientMessageKind.Presence, "")]
    [InlineData("{\"type\":\"broadcast\",\"trace\":\"x\"}\nany bytes", ClientMessageKind.Broadcast, "any bytes")]
    [InlineData("{\"type\":\"ping\"}", ClientMessageKind.Ping, "")]
    [InlineData("{\"type\":\"ping\"}\nignored", ClientMessageKind.Ping, "")]
    public void Should_read_the_typed_frames_of_presence(string message, ClientMessageKind kind, string payload)
    {
        Assert.True(ClientCodec.RelayV1.TryDecode(Bytes(message), out var decoded, out var error));

        Assert.Null(error);
        Assert.Equal((kind, payload), (decoded.Kind, Encoding.UTF8.GetString(decoded.Payload.Span)));
    }

    [Theory]
    [InlineData("{\"type\":\"cursor\"}\n{}", "unknown type cursor")]
    [InlineData("{\"type\":\"presence\"}", "a presence frame is a header, a newline and a payload")]
    [InlineData("{\"type\":7}\n", "type must be one string")]
    [InlineData("{\"type\":\"ping\",\"type\":\"ping\"}\n", "type must be one string")]
    public void Should_refuse_a_typed_frame_it_cannot_read(string message, string reason)
    {
        Assert.False(ClientCodec.RelayV1.TryDecode(Bytes(message), out _, out var close));
        Assert.Equal(new CloseFrame(CloseCodes.PolicyViolation, "bad relay.v1 frame: " + reason, Disconnect.Other), close);
    }

    [Theory]
    [InlineData("{\"name\":\"Anna\",\"cursor\":[3,5]}", true, true, false, "")]
    [InlineData("{}", true, true, false, "")]
    [InlineData("[1]", true, false, false, "not a JSON object")]
    [InlineData("{\"a\":", true, false, false, "not valid JSON")]
    [InlineData("{} {}", true, false, false, "not valid JSON")]
    [InlineData("{}", false, false, false, "a presence state goes in a text frame")]
    [InlineData("{\"pad\":\"xxxxxxxxxxxxxxxxxxxxxxxxx\"}", true, false, true, "presence state over 32 bytes")]
    public void Should_check_a_presence_state_as_a_json_object_in_a_text_frame_within_its_bytes(string state, bool isText, bool ok, bool tooBig, string reason)
    {
        Assert.Equal(ok, RelayV1.TryCheckPresenceState(Bytes(state), isText, 32, out var over, out var error));
        Assert.Equal((tooBig, reason), (over, error));
    }

    [Fact]
    public void Should_write_a_hello_with_the_presence_id_and_limits_when_presence_is_on()
    {
        using var encoded = ClientCodec.RelayV1.Encode(
            new HelloFrame(Head: 1, Epoch: 1, Resumed: false) { Client = "tab1", Presence = new PresenceLimitsHello(10, 4096, 20) },
            Board);

        Assert.Equal(
            """{"type":"hello","document":"boards/b-1","epoch":"0000000000000001","head":1,"resumed":false,"client":"tab1","presence":{"timeoutSeconds":10,"maxStateBytes":4096,"maxUpdatesPerSecond":20}}""",
            Encoding.UTF8.GetString(encoded.Bytes.Span));
    }

    [Fact]
    public void Should_write_the_list_and_each_change_with_the_state_as_sent_and_a_left_without_one()
    {
        var anna = new PresenceEntry("c1", "anna", Bytes("{\"cursor\":[3,5]}"), "node", 1);

        using var present = ClientCodec.RelayV1.Encode(new PresentFrame([anna]), Board);
        using var joined = ClientCodec.RelayV1.Encode(new PresenceFrame(PresenceChange.Joined, anna), Board);
        using var left = ClientCodec.RelayV1.Encode(new PresenceFrame(PresenceChange.Left, anna), Board);

        Assert.Equal("""{"type":"present","clients":[{"client":"c1","user":"anna","state":{"cursor":[3,5]}}]}""", Encoding.UTF8.GetString(present.Bytes.Span));
        Assert.Equal("""{"type":"presence","event":"joined","client":"c1","user":"anna","state":{"cursor":[3,5]}}""", Encoding.UTF8.GetString(joined.Bytes.Span));
        Assert.Equal("""{"type":"presence","event":"left","client":"c1","user":"anna"}""", Encoding.UTF8.GetString(left.Bytes.Span));
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void Should_write_a_broadcast_as_its_header_line_then_the_senders_payload_in_the_senders_frame_type(bool isText)
    {
        var payload = isText ? Bytes("{\"x\":1}") : new byte[] { 0, 255 };

        using var encoded = ClientCodec.RelayV1.Encode(new BroadcastFrame("c1", "anna", payload, isText), Board);

        Assert.Equal(isText, encoded.IsText);
        Assert.Equal(Bytes("{\"type\":\"broadcast\",\"client\":\"c1\",\"user\":\"anna\"}\n").Concat(payload).ToArray(), encoded.Bytes.ToArray());
    }

    internal static byte[] Bytes(string text) => Encoding.UTF8.GetBytes(text);

    private static QueryCollection Query(params (string Key, string Value)[] pairs) =>
        new(pairs.ToDictionary(pair => pair.Key, pair => new StringValues(pair.Value)));
}
