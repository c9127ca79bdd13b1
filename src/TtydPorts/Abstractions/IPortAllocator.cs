namespace TtydPorts;

/// <summary>Hands out ports from the configured range and tracks which ones are taken.</summary>
public interface IPortAllocator
{
    /// <summary>First port of the range (inclusive).</summary>
    int RangeStart { get; }

    /// <summary>Last port of the range (inclusive).</summary>
    int RangeEnd { get; }

    /// <summary>
    /// Reserves a port that no session holds and no other process listens on, or returns
    /// <see langword="false"/> when the range has none.
    /// </summary>
    bool TryAcquire(out int port);

    /// <summary>Reserves a specific port (for a session found running), unless it is already reserved.</summary>
    bool TryAcquire(int port);

    /// <summary>Gives a reserved port back. Call only once the process that used it is gone.</summary>
    void Release(int port);

    /// <summary>Whether a listening socket holds <paramref name="port"/> on the bind address, whoever owns it.</summary>
    bool IsListening(int port);

    /// <summary>
    /// Established TCP connections per local port of the range (clients connected to a terminal). Reads the
    /// machine's socket table: meant for the periodic idle check, not for hot paths.
    /// </summary>
    IReadOnlyDictionary<int, int> CountEstablishedConnections();

    /// <summary>How many ports of the range are reserved by this allocator.</summary>
    int ReservedCount { get; }
}
