using System.Net;
using System.Net.Sockets;
using Microsoft.Extensions.Options;

namespace TtydPorts;

/// <summary>
/// Default <see cref="IPortAllocator"/>: next-fit through the range, skipping ports this manager reserved and
/// ports on which any process listens on the bind address.
/// </summary>
/// <remarks>
/// "Does anything listen here?" is answered by a bind probe with <c>SO_REUSEADDR</c>, the option ttyd's own
/// listener uses. With it Linux refuses the bind exactly when a socket listens on the port (connections in
/// TIME_WAIT do not count), so the probe predicts ttyd's bind without reading the machine's socket table.
/// </remarks>
public sealed class PortAllocator : IPortAllocator
{
    private const int SolSocket = 1;
    private const int SoReuseAddr = 2;

    private readonly IPAddress _address;
    private readonly bool[] _reserved;
    private readonly Lock _lock = new();
    private int _next;
    private int _reservedCount;

    /// <summary>Creates the allocator for the configured range and bind address.</summary>
    public PortAllocator(IOptions<TtydSessionOptions> options)
    {
        ArgumentNullException.ThrowIfNull(options);
        var value = options.Value;
        RangeStart = value.PortRangeStart;
        RangeEnd = value.PortRangeEnd;
        _address = IPAddress.Parse(value.BindAddress);
        _reserved = new bool[RangeEnd - RangeStart + 1];
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
            for (var i = 0; i < _reserved.Length; i++)
            {
                var index = (_next + i) % _reserved.Length;
                if (_reserved[index] || IsListening(RangeStart + index))
                {
                    continue;
                }

                _reserved[index] = true;
                _reservedCount++;
                _next = (index + 1) % _reserved.Length;
                port = RangeStart + index;
                return true;
            }
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
                _reservedCount--;
            }
        }
    }

    /// <inheritdoc />
    public bool IsListening(int port)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(port, 1);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(port, 65535);
        using var socket = new Socket(_address.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
        socket.SetRawSocketOption(SolSocket, SoReuseAddr, [1, 0, 0, 0]);
        try
        {
            socket.Bind(new IPEndPoint(_address, port));
            return false;
        }
        catch (SocketException e) when (e.SocketErrorCode is SocketError.AddressAlreadyInUse or SocketError.AccessDenied)
        {
            return true;
        }
    }
}
