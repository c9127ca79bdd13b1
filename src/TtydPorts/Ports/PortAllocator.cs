using System.Net;
using System.Net.Sockets;
using System.Runtime.InteropServices;
using Microsoft.Extensions.Options;

namespace TtydPorts;

/// <summary>
/// Default <see cref="IPortAllocator"/>: next-fit through the range, skipping ports this manager reserved, ports on
/// which any process listens on the bind address, and ports freed less than <see cref="TtydSessionOptions.PortCooldown"/>
/// ago (unless nothing else is free).
/// </summary>
/// <remarks>
/// "Does anything listen here?" is answered by a bind probe with <c>SO_REUSEADDR</c>, the option ttyd's own
/// listener uses. With it Linux refuses the bind exactly when a socket listens on the port (connections in
/// TIME_WAIT do not count), so the probe predicts ttyd's bind without reading the machine's socket table.
/// </remarks>
internal sealed class PortAllocator : IPortAllocator, IDisposable
{
    private const int SolSocket = 1;
    private const int SoReuseAddr = 2;
    private const int AfInet = 2;
    private const int AfInet6 = 10;
    private const int SockStream = 1;
    private const int SockCloexec = 0x80000;

    private const int MaxPooledProbes = 16;
    private readonly System.Collections.Concurrent.ConcurrentBag<SafeFd> _probes = [];
    private volatile bool _disposed;
    private readonly byte[] _sockaddr;
    private readonly int _family;
    private readonly TimeProvider _time;
    private readonly TimeSpan _cooldown;
    private readonly bool[] _reserved;
    private readonly long[] _releasedAt;
    private readonly Lock _lock = new();
    private int _next;
    private int _reservedCount;

    /// <summary>Creates the allocator for the configured range and bind address.</summary>
    public PortAllocator(IOptions<TtydSessionOptions> options, TimeProvider timeProvider)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(timeProvider);
        var value = options.Value;
        _time = timeProvider;
        _cooldown = value.PortCooldown;
        RangeStart = value.PortRangeStart;
        RangeEnd = value.PortRangeEnd;
        var address = IPAddress.Parse(value.BindAddress);
        _sockaddr = SockaddrOf(address);
        _family = address.AddressFamily == AddressFamily.InterNetworkV6 ? AfInet6 : AfInet;
        _reserved = new bool[RangeEnd - RangeStart + 1];
        _releasedAt = new long[_reserved.Length];
    }

    /// <inheritdoc />
    public int RangeStart { get; }

    /// <inheritdoc />
    public int RangeEnd { get; }

    /// <inheritdoc />
    public int ReservedCount => Volatile.Read(ref _reservedCount);

    /// <inheritdoc />
    public bool TryAcquire(out int port)
    {
        lock (_lock)
        {
            // Rested ports first; a cooling one only when the range has nothing else.
            if (TryAcquireLocked(skipCooling: true, out port) || (_cooldown > TimeSpan.Zero && TryAcquireLocked(skipCooling: false, out port)))
            {
                return true;
            }
        }

        port = 0;
        return false;
    }

    private bool TryAcquireLocked(bool skipCooling, out int port)
    {
        for (var i = 0; i < _reserved.Length; i++)
        {
            var index = (_next + i) % _reserved.Length;
            if (_reserved[index]
                || (skipCooling && _releasedAt[index] != 0 && _time.GetElapsedTime(_releasedAt[index]) < _cooldown)
                || IsListening(RangeStart + index))
            {
                continue;
            }

            _reserved[index] = true;
            _reservedCount++;
            _next = (index + 1) % _reserved.Length;
            port = RangeStart + index;
            return true;
        }

        port = 0;
        return false;
    }

    /// <inheritdoc />
    public bool TryAcquire(int port)
    {
        if (port < RangeStart || port > RangeEnd)
        {
            return false;
        }

        lock (_lock)
        {
            if (_reserved[port - RangeStart])
            {
                return false;
            }

            _reserved[port - RangeStart] = true;
            _reservedCount++;
            return true;
        }
    }

    /// <inheritdoc />
    public void Release(int port)
    {
        if (port < RangeStart || port > RangeEnd)
        {
            return;
        }

        lock (_lock)
        {
            if (_reserved[port - RangeStart])
            {
                _reserved[port - RangeStart] = false;
                _releasedAt[port - RangeStart] = _time.GetTimestamp();
                _reservedCount--;
            }
        }
    }

    /// <inheritdoc />
    public IReadOnlyDictionary<int, int> CountEstablishedConnections()
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
                if (socket.State == ProcFs.TcpEstablished && socket.LocalPort >= RangeStart && socket.LocalPort <= RangeEnd)
                {
                    counts[socket.LocalPort] = counts.GetValueOrDefault(socket.LocalPort) + 1;
                }
            }
        }

        return counts;
    }

    /// <inheritdoc />
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
    private static byte[] SockaddrOf(IPAddress address)
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
