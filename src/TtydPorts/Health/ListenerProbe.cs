using System.Net;
using System.Net.Sockets;
using System.Runtime.InteropServices;

namespace TtydPorts;

/// <summary>
/// Answers "does anything listen on this port?" for the health model and the port allocator, and counts a range's
/// established connections for idle reaping.
/// </summary>
/// <remarks>
/// The answer is a bind probe with <c>SO_REUSEADDR</c>, the option ttyd's own listener uses. With it Linux refuses the
/// bind exactly when a socket listens on the port (connections in TIME_WAIT do not count), so the probe predicts ttyd's
/// bind without reading the machine's socket table.
/// </remarks>
internal sealed class ListenerProbe : IDisposable
{
    private const int SolSocket = 1;
    private const int SoReuseAddr = 2;
    private const int AfInet = 2;
    private const int AfInet6 = 10;
    private const int SockStream = 1;
    private const int SockCloexec = 0x80000;
    private const int MaxPooledProbes = 16;

    private readonly System.Collections.Concurrent.ConcurrentBag<SafeFd> _probes = [];
    private readonly byte[] _sockaddr;
    private readonly int _family;
    private volatile bool _disposed;

    public ListenerProbe(IPAddress address)
    {
        ArgumentNullException.ThrowIfNull(address);
        _sockaddr = SockaddrOf(address);
        _family = address.AddressFamily == AddressFamily.InterNetworkV6 ? AfInet6 : AfInet;
    }

    /// <summary>Established TCP connections per local port in <paramref name="rangeStart"/>..<paramref name="rangeEnd"/> (clients of the sessions' ttyd).</summary>
    public static IReadOnlyDictionary<int, int> CountEstablishedConnections(int rangeStart, int rangeEnd)
    {
        var counts = new Dictionary<int, int>();
        foreach (var table in (ReadOnlySpan<string>)["/proc/net/tcp", "/proc/net/tcp6"])
        {
            byte[] text;
            try
            {
                text = File.ReadAllBytes(table);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                continue;
            }

            foreach (var socket in ProcFs.ParseTcpTable(text))
            {
                if (socket.State == ProcFs.TcpEstablished && socket.LocalPort >= rangeStart && socket.LocalPort <= rangeEnd)
                {
                    counts[socket.LocalPort] = counts.GetValueOrDefault(socket.LocalPort) + 1;
                }
            }
        }

        return counts;
    }

    /// <summary>Whether any socket listens on <paramref name="port"/> of the bind address.</summary>
    public unsafe bool IsListening(int port)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(port, 1);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(port, 65535);

        // Straight system calls on a pooled probe socket: on the hot path the port listens, the bind fails, and the
        // unbound socket serves the next probe, so a probe is one system call. (.NET's Socket would report the
        // common case by throwing, which costs more than the probe itself.)
        Span<byte> address = stackalloc byte[_sockaddr.Length];
        _sockaddr.CopyTo(address);
        address[2] = (byte)(port >> 8);
        address[3] = (byte)port;
        var probe = RentProbe();
        int result, error;
        fixed (byte* raw = address)
        {
            result = Native.bind(probe, raw, (uint)address.Length);
            error = result == 0 ? 0 : Marshal.GetLastPInvokeError();
        }

        if (result == 0)
        {
            probe.Dispose(); // bound now: useless as a probe
            return false;
        }

        ReturnProbe(probe);
        return error is Native.EADDRINUSE or Native.EACCES ? true : throw new SocketException(error);
    }

    private unsafe SafeFd RentProbe()
    {
        if (_probes.TryTake(out var pooled))
        {
            return pooled;
        }

        var probe = Native.socket(_family, SockStream | SockCloexec, 0);
        if (probe.IsInvalid)
        {
            var error = Marshal.GetLastPInvokeError();
            probe.Dispose();
            throw new SocketException(error);
        }

        var one = 1;
        if (Native.setsockopt(probe, SolSocket, SoReuseAddr, &one, sizeof(int)) != 0)
        {
            var error = Marshal.GetLastPInvokeError();
            probe.Dispose();
            throw new SocketException(error);
        }

        return probe;
    }

    private void ReturnProbe(SafeFd probe)
    {
        if (_disposed || _probes.Count >= MaxPooledProbes)
        {
            probe.Dispose();
            return;
        }

        _probes.Add(probe);
        if (_disposed)
        {
            DisposeProbes(); // Dispose ran between the check and the add
        }
    }

    /// <summary>Closes the pooled probe sockets.</summary>
    public void Dispose()
    {
        _disposed = true;
        DisposeProbes();
    }

    private void DisposeProbes()
    {
        while (_probes.TryTake(out var probe))
        {
            probe.Dispose();
        }
    }

    // sockaddr_in or sockaddr_in6 for the bind address, port left zero.
    internal static byte[] SockaddrOf(IPAddress address)
    {
        var v6 = address.AddressFamily == AddressFamily.InterNetworkV6;
        var raw = new byte[v6 ? 28 : 16];
        BitConverter.TryWriteBytes(raw.AsSpan(0, 2), (ushort)(v6 ? AfInet6 : AfInet));
        address.TryWriteBytes(raw.AsSpan(v6 ? 8 : 4), out _);
        if (v6)
        {
            BitConverter.TryWriteBytes(raw.AsSpan(24, 4), (uint)address.ScopeId);
        }

        return raw;
    }
}
