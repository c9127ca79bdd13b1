namespace TtydPorts;

/// <summary>Why a session was stopped.</summary>
public enum StopReason
{
    /// <summary>Its user's sessions were cleaned up.</summary>
    User,
    /// <summary>Its topology was cleared.</summary>
    Topology,
    /// <summary>Its node was deleted.</summary>
    Node,
    /// <summary>Its container no longer exists.</summary>
    Orphan,
    /// <summary>Its process had died or stopped listening.</summary>
    Dead,
    /// <summary>Every session was cleaned up.</summary>
    All,
    /// <summary>It had no client for the idle timeout.</summary>
    Idle,
    /// <summary>The host shut down with stop-on-shutdown on.</summary>
    Shutdown,
    /// <summary>It was adopted from a run whose options it does not fit (listen mode, base path, credentials, address or port range).</summary>
    Unfit,
    /// <summary>
    /// The container it was started for is gone and its name now means another container (removed and recreated,
    /// possibly by someone else): a session stays bound to the container whose id it recorded.
    /// </summary>
    Replaced,
}

/// <summary>A session that could not be stopped, and why. Its port stays reserved.</summary>
public sealed record StopFailure
{
    /// <summary>The session.</summary>
    public required TtydSession Session { get; init; }

    /// <summary>What went wrong.</summary>
    public required Exception Error { get; init; }
}

/// <summary>What a cleanup stopped, so a caller can report it.</summary>
public sealed record CleanupResult
{
    /// <summary>A result that stopped nothing.</summary>
    public static CleanupResult Empty { get; } = new();

    /// <summary>Sessions that were stopped (their processes are gone and their ports free).</summary>
    public IReadOnlyList<TtydSession> Stopped { get; init; } = [];

    /// <summary>Sessions that could not be stopped.</summary>
    public IReadOnlyList<StopFailure> Failed { get; init; } = [];

    /// <summary>Whether every session that was to be stopped was stopped.</summary>
    public bool Succeeded => Failed.Count == 0;
}
