using System.Buffers;
using Microsoft.AspNetCore.Http.Features;

namespace Relay.Gateway.Sockets;

/// <summary>
/// The upgraded connection's stream, able to hold frames back: while the socket's writer knows more frames
/// are queued it sets <see cref="Hold"/>, the WebSocket's writes gather here, and the next write made without
/// hold sends them all in one write to Kestrel. A busy connection then costs one flush per batch instead of
/// one per frame. Every write reaches this stream under the WebSocket's own send lock, so control frames
/// (pong, ping, close) keep their place between data frames.
/// </summary>
public sealed class FrameBatchingStream : Stream
{
    private const int MaxHeldBytes = 64 * 1024;

    private readonly Stream _inner;
    private byte[]? _held;
    private int _heldLength;
    private volatile bool _hold;

    /// <summary>Wraps the stream Kestrel gave for the upgraded connection.</summary>
    public FrameBatchingStream(Stream inner)
    {
        _inner = inner;
    }

    /// <summary>Whether the next writes may wait for a later one; ignored once <see cref="MaxHeldBytes"/> are held.</summary>
    public bool Hold
    {
        get => _hold;
        set => _hold = value;
    }

    /// <summary>
    /// Stops holding and sends what is held: called once the socket's writer stops. A frame the WebSocket wrote on its
    /// own while the writer held frames back (the 1007 close the runtime sends for a text frame that is not UTF-8)
    /// would otherwise wait for a write that never comes.
    /// </summary>
    public async ValueTask ReleaseAsync()
    {
        _hold = false;
        if (_heldLength > 0)
        {
            await WriteHeldAsync(CancellationToken.None);
            await _inner.FlushAsync(CancellationToken.None);
        }
    }

    /// <inheritdoc />
    public override bool CanRead => true;

    /// <inheritdoc />
    public override bool CanSeek => false;

    /// <inheritdoc />
    public override bool CanWrite => true;

    /// <inheritdoc />
    public override long Length => throw new NotSupportedException();

    /// <inheritdoc />
    public override long Position
    {
        get => throw new NotSupportedException();
        set => throw new NotSupportedException();
    }

    /// <inheritdoc />
    public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default) =>
        _inner.ReadAsync(buffer, cancellationToken);

    /// <inheritdoc />
    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        _inner.ReadAsync(buffer, offset, count, cancellationToken);

    /// <inheritdoc />
    public override ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
    {
        if (_hold && _heldLength + buffer.Length <= MaxHeldBytes)
        {
            Append(buffer.Span);
            return ValueTask.CompletedTask;
        }

        if (_heldLength == 0)
        {
            return _inner.WriteAsync(buffer, cancellationToken);
        }

        Append(buffer.Span);
        return WriteHeldAsync(cancellationToken);
    }

    /// <inheritdoc />
    public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        WriteAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    /// <inheritdoc />
    public override Task FlushAsync(CancellationToken cancellationToken) =>
        _hold ? Task.CompletedTask : _inner.FlushAsync(cancellationToken);

    /// <inheritdoc />
    public override void Flush() => throw new NotSupportedException("The WebSocket writes asynchronously");

    /// <inheritdoc />
    public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException("The WebSocket reads asynchronously");

    /// <inheritdoc />
    public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException("The WebSocket writes asynchronously");

    /// <inheritdoc />
    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

    /// <inheritdoc />
    public override void SetLength(long value) => throw new NotSupportedException();

    /// <summary>
    /// After the WebSocket aborted, reads and drops what the client still sends (its answering close frame)
    /// until it has sent something, stops, or <paramref name="timeout"/> passes, so that ending the request
    /// closes the connection cleanly instead of resetting it under unread data.
    /// </summary>
    public async Task LingerAsync(TimeSpan timeout)
    {
        var scratch = ArrayPool<byte>.Shared.Rent(1024);
        var deadline = Environment.TickCount64 + (long)timeout.TotalMilliseconds;
        using var cts = new CancellationTokenSource(timeout);
        try
        {
            while (await _inner.ReadAsync(scratch.AsMemory(), cts.Token) > 0)
            {
                // The close frame is tiny; one more short read catches a frame split in two. Never past the
                // deadline: a client that keeps sending must not keep the request alive.
                var left = deadline - Environment.TickCount64;
                if (left <= 0)
                {
                    break;
                }

                cts.CancelAfter(TimeSpan.FromMilliseconds(Math.Min(50, left)));
            }
        }
        catch (Exception ex) when (ex is OperationCanceledException or IOException or ObjectDisposedException or InvalidOperationException)
        {
            // Done waiting: the connection ends now.
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(scratch);
        }
    }

    /// <inheritdoc />
    protected override void Dispose(bool disposing)
    {
        // Kestrel owns the upgraded stream and ends it with the request; the WebSocket's abort must not end
        // it before LingerAsync had its chance.
        if (disposing)
        {
            ReturnHeld();
        }

        base.Dispose(disposing);
    }

    /// <inheritdoc />
    public override ValueTask DisposeAsync()
    {
        Dispose(true);
        GC.SuppressFinalize(this);
        return ValueTask.CompletedTask;
    }

    private void Append(ReadOnlySpan<byte> data)
    {
        var offset = _heldLength;
        var needed = offset + data.Length;
        if (_held is null || _held.Length < needed)
        {
            var larger = ArrayPool<byte>.Shared.Rent(Math.Max(needed, 4096));
            _held?.AsSpan(0, offset).CopyTo(larger);
            ReturnHeld();
            _held = larger;
        }

        data.CopyTo(_held.AsSpan(offset));
        _heldLength = needed;
    }

    private async ValueTask WriteHeldAsync(CancellationToken cancellationToken)
    {
        try
        {
            await _inner.WriteAsync(_held.AsMemory(0, _heldLength), cancellationToken);
        }
        finally
        {
            _heldLength = 0;
            ReturnHeld();
        }
    }

    private void ReturnHeld()
    {
        // Idle connections keep no buffer: it is rented per batch.
        if (_held is not null)
        {
            ArrayPool<byte>.Shared.Return(_held);
            _held = null;
            _heldLength = 0;
        }
    }

    /// <summary>Hands the WebSocket middleware a <see cref="FrameBatchingStream"/> instead of Kestrel's upgraded stream.</summary>
    public sealed class UpgradeFeature : IHttpUpgradeFeature
    {
        private readonly IHttpUpgradeFeature _inner;

        /// <summary>Wraps the request's upgrade feature.</summary>
        public UpgradeFeature(IHttpUpgradeFeature inner)
        {
            _inner = inner;
        }

        /// <summary>The stream, once the connection is upgraded.</summary>
        public FrameBatchingStream? Stream { get; private set; }

        /// <inheritdoc />
        public bool IsUpgradableRequest => _inner.IsUpgradableRequest;

        /// <inheritdoc />
        public async Task<Stream> UpgradeAsync()
        {
            Stream = new FrameBatchingStream(await _inner.UpgradeAsync());
            return Stream;
        }
    }
}
