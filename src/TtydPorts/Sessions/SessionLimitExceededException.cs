namespace TtydPorts;

/// <summary>What a session limit counts.</summary>
public enum SessionLimitScope
{
    /// <summary>All sessions of the manager (<see cref="TtydSessionOptions.MaxSessions"/>).</summary>
    Global,
    /// <summary>The sessions of one user (<see cref="TtydSessionOptions.MaxSessionsPerUser"/>).</summary>
    User,
}

/// <summary>A new session would exceed a configured limit; nothing was started.</summary>
public sealed class SessionLimitExceededException : TtydPortsException
{
    /// <summary>Creates the exception for a limit.</summary>
    /// <param name="scope">Which limit was hit.</param>
    /// <param name="limit">The limit.</param>
    /// <param name="userId">The user who asked.</param>
    /// <param name="container">The container that got no terminal.</param>
    public SessionLimitExceededException(SessionLimitScope scope, int limit, string userId, string container)
        : base(scope == SessionLimitScope.User
            ? $"User '{userId}' already has {limit} session(s), the most allowed (MaxSessionsPerUser); no terminal was started for '{container}'."
            : $"The manager already runs {limit} session(s), the most allowed (MaxSessions); no terminal was started for '{container}'.")
    {
        ArgumentNullException.ThrowIfNull(userId);
        ArgumentNullException.ThrowIfNull(container);
        Scope = scope;
        Limit = limit;
        UserId = userId;
        Container = container;
    }

    /// <summary>Which limit was hit.</summary>
    public SessionLimitScope Scope { get; }

    /// <summary>The limit.</summary>
    public int Limit { get; }

    /// <summary>The user who asked.</summary>
    public string UserId { get; }

    /// <summary>The container that got no terminal.</summary>
    public string Container { get; }
}
