namespace TtydPorts;

/// <summary>A session's running read-only observer ttyd: where it listens and which process it is.</summary>
internal sealed record ObserverTerminal(string SocketPath, ProcessIdentity Process);

/// <summary>
/// Starts a session's observer ttyd when the first watcher comes, instead of one idle ttyd per session from its start.
/// Implemented by the session manager; the terminal proxy asks it after the watcher was authorized.
/// </summary>
internal interface IObserverTerminals
{
    /// <summary>
    /// The running observer of <paramref name="session"/>, started now if none runs; <see langword="null"/> when the session
    /// cannot be watched, is no longer the container's current session, or its observer failed to start (logged).
    /// </summary>
    ValueTask<ObserverTerminal?> EnsureObserverAsync(TtydSession session, CancellationToken cancellationToken);
}
