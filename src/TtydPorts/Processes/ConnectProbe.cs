using System.Net;
using System.Net.Sockets;
using System.Runtime.InteropServices;

namespace TtydPorts;

/// <summary>
/// Asks whether something accepts connections at a starting process's endpoint, and never blocks doing so. The question
/// is asked on the shared <see cref="Ticker"/> thread (or on one start's own thread), where a blocking connect would wait
/// on a listener that takes no connection: one frozen (SIGSTOP), or one that stopped accepting right after listen(), has
/// the kernel queue connections until its backlog is full, and then a blocking connect waits until the listener accepts
/// again, with no timeout. Every other start waiting on the ticker would wait with it, until that process's own timeout.
/// </summary>
/// <remarks>
/// One probe per start, asked from one thread at a time; thread-safe all the same, as the ticker may ask once more while
/// the start that gave up disposes it. Each probe socket is closed as soon as its answer is known (a queued connection
/// stays in the listener's backlog, as a client's that gave up does), so at most one connection per start is in flight:
/// <list type="bullet">
/// <item>Unix socket: the kernel answers at once. Connected is ready (the connection is queued in the backlog); EAGAIN is
/// a full backlog, not ready now; refused or missing is not ready yet.</item>
/// <item>TCP: a connect that the kernel does not complete at once (EINPROGRESS) is kept, looked at (poll, no wait) at the
/// next questions, and abandoned after <see cref="PendingLimit"/>: on loopback the handshake completes within the call
/// unless the listener's accept queue is full, where the kernel drops the SYN and would send it again only after a
/// second. An abandoned connect in SYN_SENT is simply dropped; no connection is left half-open on either side.</item>
/// </list>
/// </remarks>
internal sealed class ConnectProbe : IDisposable
{
    // How long a TCP connect in progress is waited for before it is abandoned and a new one is sent (the readiness
    // interval is 100 µs, a loopback handshake takes microseconds; a dropped SYN is sent again only after a second).
    private static readonly TimeSpan PendingLimit = TimeSpan.FromMilliseconds(50);

    private const int AfUnix = 1;
    private const int AfInet = 2;
    private const int AfInet6 = 10;

    private readonly Lock _lock = new();
    private readonly byte[] _address;
    private readonly int _family;
    private SafeFd? _pending;
    private long _pendingSince;
    private bool _disposed;

    public ConnectProbe(EndPoint endpoint)
    {
        ArgumentNullException.ThrowIfNull(endpoint);
        switch (endpoint)
        {
            case IPEndPoint tcp:
                _family = tcp.AddressFamily == AddressFamily.InterNetworkV6 ? AfInet6 : AfInet;
                _address = ListenerProbe.SockaddrOf(tcp.Address);
                _address[2] = (byte)(tcp.Port >> 8);
                _address[3] = (byte)tcp.Port;
                break;
            case UnixDomainSocketEndPoint unix:
                // sockaddr_un as the runtime lays it out for this platform: family, then the path.
                _family = AfUnix;
                var serialized = unix.Serialize();
                _address = serialized.Buffer.Span[..serialized.Size].ToArray();
                break;
            default:
                throw new ArgumentException($"A readiness endpoint is an IP address and port or a Unix socket, not {endpoint.GetType().Name}.", nameof(endpoint));
        }
    }

    private bool IsTcp => _family != AfUnix;

    /// <summary>Whether a connection to the endpoint was completed by now; false while it is refused, queued behind a full backlog or still in progress.</summary>
    public bool Accepts()
    {
        lock (_lock)
        {
            if (_disposed)
            {
                return false;
            }

            if (_pending is { } pending)
            {
                if (Completed(pending) is { } answer)
                {
                    Abandon();
                    if (answer)
                    {
                        return true;
                    }

                    // Refused: that answer is old by now; the connect below asks again.
                }
                else if (System.Diagnostics.Stopwatch.GetElapsedTime(_pendingSince) < PendingLimit)
                {
                    return false;
                }
                else
                {
                    Abandon();
                }
            }

            return Connect();
        }
    }

    private unsafe bool Connect()
    {
        var fd = Native.socket(_family, Native.SOCK_STREAM | Native.SOCK_NONBLOCK | Native.SOCK_CLOEXEC, 0);
        if (fd.IsInvalid)
        {
            fd.Dispose();
            return false;
        }

        int result, error;
        fixed (byte* raw = _address)
        {
            result = Native.connect(fd, raw, (uint)_address.Length);
            error = result == 0 ? 0 : Marshal.GetLastPInvokeError();
        }

        // In progress (EINTR leaves a TCP connect going on too): usually complete by now on loopback; else kept for later.
        if (result != 0 && IsTcp && error is Native.EINPROGRESS or Native.EINTR)
        {
            if (Completed(fd) is { } answer)
            {
                fd.Dispose();
                return answer;
            }

            _pending = fd;
            _pendingSince = System.Diagnostics.Stopwatch.GetTimestamp();
            return false;
        }

        // Connected, or an answer at once: refused, nothing there, or (EAGAIN) a Unix listener whose backlog is full.
        fd.Dispose();
        return result == 0;
    }

    // Whether a connect in progress succeeded (true), failed (false), or is still under way (null); it never waits.
    private static unsafe bool? Completed(SafeFd fd)
    {
        var added = false;
        fd.DangerousAddRef(ref added);
        try
        {
            var entry = new Native.PollFd { Fd = (int)fd.DangerousGetHandle(), Events = Native.POLLOUT };
            int ready;
            do
            {
                ready = Native.poll(&entry, 1, 0);
            }
            while (ready < 0 && Marshal.GetLastPInvokeError() == Native.EINTR);

            if (ready <= 0)
            {
                return ready < 0 ? false : null;
            }
        }
        finally
        {
            if (added)
            {
                fd.DangerousRelease();
            }
        }

        var error = 0;
        var length = (uint)sizeof(int);
        return Native.getsockopt(fd, Native.SOL_SOCKET, Native.SO_ERROR, &error, &length) == 0 && error == 0;
    }

    private void Abandon()
    {
        _pending?.Dispose();
        _pending = null;
    }

    /// <summary>Closes a connect still in progress; later questions answer false.</summary>
    public void Dispose()
    {
        lock (_lock)
        {
            _disposed = true;
            Abandon();
        }
    }
}
