namespace TtydPorts;

/// <summary>The container already has a session for another user or topology.</summary>
public sealed class SessionConflictException : TtydPortsException
{
    /// <summary>Creates the exception for an existing session.</summary>
    /// <param name="existing">The session that holds the container.</param>
    /// <param name="userId">The user who asked for the container.</param>
    /// <param name="topologyId">The topology asked for; null when none was.</param>
    public SessionConflictException(TtydSession existing, string userId, string? topologyId)
        : base($"Container '{existing?.Container}' has a session of user '{existing?.UserId}' in topology '{existing?.TopologyId ?? "(none)"}'; " +
               $"user '{userId}' in topology '{topologyId ?? "(none)"}' asked for it.")
    {
        ArgumentNullException.ThrowIfNull(existing);
        ArgumentNullException.ThrowIfNull(userId);
        Existing = existing;
        RequestedUserId = userId;
        RequestedTopologyId = topologyId;
    }

    /// <summary>The session that holds the container.</summary>
    public TtydSession Existing { get; }

    /// <summary>The user who asked for the container.</summary>
    public string RequestedUserId { get; }

    /// <summary>The topology asked for; null when none was (as <see cref="TtydSession.TopologyId"/>).</summary>
    public string? RequestedTopologyId { get; }

    /// <summary>Whether the container is held by another user than the one who asked (rather than by another topology of the same user).</summary>
    public bool HeldByAnotherUser => !string.Equals(Existing.UserId, RequestedUserId, StringComparison.Ordinal);
}
