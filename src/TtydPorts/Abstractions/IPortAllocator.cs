namespace TtydPorts;

/// <summary>
/// Hands out ports from the configured range and tracks which ones are taken: allocation only (whether a port listens
/// or has clients is the health model's question).
/// </summary>
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

    /// <summary>How many ports of the range are reserved by this allocator.</summary>
    int ReservedCount { get; }
}
