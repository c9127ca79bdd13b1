namespace TtydPorts;

/// <summary>Where a session's ttyd listens.</summary>
public enum TtydListenMode
{
    /// <summary>A TCP port from the range on <see cref="TtydSessionOptions.BindAddress"/>, reached directly (the seed's way).</summary>
    Tcp,

    /// <summary>
    /// A Unix socket in the manager's private runtime folder (mode 0700), reached only through the host's proxy
    /// (<c>MapTtydTerminals</c>). No TCP port at all.
    /// </summary>
    UnixSocket,
}
