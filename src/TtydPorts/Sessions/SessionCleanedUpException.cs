namespace TtydPorts;

/// <summary>
/// A cleanup that matched this create ran while the create was under way (<see cref="ITtydSessionManager.CleanupUserAsync"/>
/// for its user, <see cref="ITtydSessionManager.ClearTopologyAsync"/> for its topology,
/// <see cref="ITtydSessionManager.DeleteNodeAsync"/> for its container, <see cref="ITtydSessionManager.CleanupAllAsync"/>,
/// or the host's shutdown with <see cref="TtydSessionOptions.StopSessionsOnShutdown"/>). The cleanup wins: no session was
/// handed out, and whatever the create had started was stopped before the cleanup returned.
/// </summary>
public sealed class SessionCleanedUpException : TtydPortsException
{
    /// <summary>Creates the exception for a create that a cleanup ended.</summary>
    /// <param name="container">The container that got no terminal.</param>
    /// <param name="reason">The cleanup (<see cref="StopReason.User"/>, <see cref="StopReason.Topology"/>, <see cref="StopReason.Node"/>, <see cref="StopReason.All"/> or <see cref="StopReason.Shutdown"/>).</param>
    public SessionCleanedUpException(string container, StopReason reason)
        : this(container, reason, $"Container '{container}' got no terminal: a cleanup ({reason}) that matched it ran while it was being created; what it had started was stopped.")
    {
    }

    /// <summary>Creates the exception with a message that names the cleanup.</summary>
    /// <param name="container">The container that got no terminal.</param>
    /// <param name="reason">The cleanup.</param>
    /// <param name="message">What the caller is told.</param>
    public SessionCleanedUpException(string container, StopReason reason, string message)
        : this(container, reason, message, null)
    {
    }

    /// <summary>Creates the exception with a message that names the cleanup, and what failed stopping the create's own start.</summary>
    /// <param name="container">The container that got no terminal.</param>
    /// <param name="reason">The cleanup.</param>
    /// <param name="message">What the caller is told.</param>
    /// <param name="innerException">The failure of the stop of what the create had started (the cleanup reports it too), or null.</param>
    public SessionCleanedUpException(string container, StopReason reason, string message, Exception? innerException)
        : base(message, innerException)
    {
        ArgumentNullException.ThrowIfNull(container);
        Container = container;
        Reason = reason;
    }

    /// <summary>The container that got no terminal.</summary>
    public string Container { get; }

    /// <summary>The cleanup that ended the create.</summary>
    public StopReason Reason { get; }
}
