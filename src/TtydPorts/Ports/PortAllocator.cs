using System.Net;
using Microsoft.Extensions.Options;

namespace TtydPorts;

/// <summary>
/// Default <see cref="IPortAllocator"/>: next-fit through the range, skipping ports this manager reserved, ports on
/// which any process listens on the bind address, and ports freed less than <see cref="TtydSessionOptions.PortCooldown"/>
/// ago (unless nothing else is free).
/// </summary>
internal sealed class PortAllocator : IPortAllocator, IDisposable
{
    private readonly ListenerProbe _listeners;
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
        _listeners = new ListenerProbe(IPAddress.Parse(value.BindAddress));
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
                || _listeners.IsListening(RangeStart + index))
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

    /// <summary>Closes the listener probe's sockets.</summary>
    public void Dispose() => _listeners.Dispose();
}
