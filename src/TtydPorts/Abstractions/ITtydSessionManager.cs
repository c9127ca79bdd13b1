namespace TtydPorts;

/// <summary>
/// Gives every container one web terminal (a ttyd process) on a managed port, reuses it while it is
/// healthy, and stops it when its container, topology or user goes away.
/// </summary>
public interface ITtydSessionManager
{
    /// <summary>
    /// Returns the running session for <paramref name="container"/>, or starts one.
    /// Concurrent calls for one container start exactly one ttyd.
    /// </summary>
    /// <param name="container">Docker container name (<c>[a-zA-Z0-9][a-zA-Z0-9_.-]*</c>, at most 255 characters).</param>
    /// <param name="userId">Owner of the session (see <see cref="SessionIds"/> for the rule).</param>
    /// <param name="topologyId">Optional topology the container belongs to (same rule as user ids).</param>
    /// <param name="cancellationToken">Cancels the wait; a ttyd started for this call is stopped again.</param>
    /// <returns>The session, or <see langword="null"/> when no port of the range is free.</returns>
    /// <exception cref="ArgumentException">A name or id breaks its rule; nothing is started.</exception>
    /// <exception cref="ContainerNotFoundException">The container does not exist or is not running.</exception>
    /// <exception cref="SessionConflictException">The container's session belongs to another user or topology.</exception>
    /// <exception cref="TtydStartException">ttyd could not be started; the message carries ttyd's own output.</exception>
    /// <exception cref="SessionLimitExceededException">A new session would exceed <c>MaxSessions</c> or <c>MaxSessionsPerUser</c>.</exception>
    /// <exception cref="ContainerEngineException">The container engine did not answer (running sessions are not affected).</exception>
    /// <exception cref="SessionCleanedUpException">A cleanup that matches this call (its user, topology or container, or every session) ran while the session was being created; nothing was handed out, and what the call had started is stopped.</exception>
#pragma warning disable RS0026 // Unchanged since it shipped; see the overload with a request.
    ValueTask<TtydSession?> EnsureSessionAsync(string container, string userId, string? topologyId = null, CancellationToken cancellationToken = default);
#pragma warning restore RS0026

    /// <summary>
    /// <see cref="EnsureSessionAsync(string, string, string?, CancellationToken)"/> with a request: an explicit
    /// <see cref="TerminalRequest.Command"/> beats the label mapping and the default, and a running session of the same
    /// owner with another command is stopped and replaced (another owner's is a <see cref="SessionConflictException"/>).
    /// </summary>
    /// <exception cref="ArgumentException">A name, id or the command breaks its rule (the message names the value); nothing is started.</exception>
    /// <exception cref="NotSupportedException">This implementation takes no explicit command (the default implementation, for a request with one).</exception>
#pragma warning disable RS0026 // The request is required, so no call of the original overload can bind to this one.
    ValueTask<TtydSession?> EnsureSessionAsync(string container, string userId, string? topologyId, TerminalRequest request, CancellationToken cancellationToken = default)
#pragma warning restore RS0026
    {
        ArgumentNullException.ThrowIfNull(request);
        return request.Command is null
            ? EnsureSessionAsync(container, userId, topologyId, cancellationToken)
            : throw new NotSupportedException($"{GetType().Name} does not take an explicit terminal command.");
    }

    /// <summary>The container's current session, without checking or starting anything; <see langword="null"/> when it has none.</summary>
    /// <exception cref="ArgumentException">The name breaks Docker's rule.</exception>
    TtydSession? FindSession(string container);

    /// <summary>Stops every session owned by <paramref name="userId"/> (exact, ordinal match).</summary>
    /// <remarks>
    /// A create for that user still under way loses to the cleanup: it hands nothing out and throws
    /// <see cref="SessionCleanedUpException"/>, and what it started is stopped before this returns; it is not counted in
    /// <see cref="CleanupResult.Stopped"/>, which lists the sessions that existed. The same holds for
    /// <see cref="ClearTopologyAsync"/> (a create for that topology), <see cref="DeleteNodeAsync"/> (for that container) and
    /// <see cref="CleanupAllAsync"/> (any create).
    /// </remarks>
    /// <param name="userId">The owner.</param>
    /// <param name="cancellationToken">
    /// Ends only the waits before a session's stop begins (for a container busy with a create or another stop): every
    /// session whose stop had begun is stopped in full (its processes, its files, its shell in the container), then
    /// <see cref="OperationCanceledException"/> is thrown; the sessions not yet begun go on running, tracked as before.
    /// </param>
    Task<CleanupResult> CleanupUserAsync(string userId, CancellationToken cancellationToken = default);

    /// <summary>Stops every session of the topology <paramref name="topologyId"/>.</summary>
    /// <remarks>A create for that topology under way loses to it, as for <see cref="CleanupUserAsync"/>.</remarks>
    /// <param name="topologyId">The topology.</param>
    /// <param name="cancellationToken">As for <see cref="CleanupUserAsync"/>: a stop that has begun is always finished.</param>
    Task<CleanupResult> ClearTopologyAsync(string topologyId, CancellationToken cancellationToken = default);

    /// <summary>Stops the session of one container, if it has one.</summary>
    /// <remarks>A create for that container under way loses to it, as for <see cref="CleanupUserAsync"/>.</remarks>
    /// <param name="container">The container.</param>
    /// <param name="cancellationToken">As for <see cref="CleanupUserAsync"/>: a stop that has begun is always finished.</param>
    Task<CleanupResult> DeleteNodeAsync(string container, CancellationToken cancellationToken = default);

    /// <summary>Stops every session this manager owns. ttyd processes it did not start are never touched.</summary>
    /// <remarks>Every create under way loses to it, as for <see cref="CleanupUserAsync"/>.</remarks>
    /// <param name="cancellationToken">As for <see cref="CleanupUserAsync"/>: a stop that has begun is always finished.</param>
    Task<CleanupResult> CleanupAllAsync(CancellationToken cancellationToken = default);

    /// <summary>Stops sessions whose container no longer exists and drops sessions whose process died.</summary>
    /// <param name="cancellationToken">As for <see cref="CleanupUserAsync"/>: a stop that has begun is always finished.</param>
    Task<CleanupResult> CleanupOrphansAsync(CancellationToken cancellationToken = default);

    /// <summary>
    /// One pass of the background repair: drops sessions whose process died, stops sessions whose container has
    /// been missing for <c>ContainerGracePeriod</c>, and, when <c>IdleTimeout</c> is set, sessions without a client
    /// for that long. An unreachable container engine skips the container check, nothing else.
    /// </summary>
    /// <param name="cancellationToken">As for <see cref="CleanupUserAsync"/>: a stop that has begun is always finished.</param>
    Task<CleanupResult> RepairAsync(CancellationToken cancellationToken = default);

    /// <summary>
    /// Tells the manager that the engine removed the container with this id (the repair service calls it on the
    /// engine's destroy events). The session bound to it is never handed out again, and the next repair pass (or
    /// <see cref="EnsureSessionAsync(string, string, string?, CancellationToken)"/> for its name) stops it; a create under
    /// way for that container ends in <see cref="ContainerNotFoundException"/>, as does any later one the engine would
    /// answer with that id (engines never reuse an id), before anything starts. Cheap: changes no process. Call it only
    /// for a removal the engine reported: a live container's id makes its terminals unavailable for this manager's life.
    /// </summary>
    /// <returns>Whether a session was bound to that container.</returns>
    bool MarkContainerRemoved(string containerId);

    /// <summary>
    /// Takes over the sessions an earlier run of this <see cref="TtydSessionOptions.InstanceName"/> left running (those it
    /// can prove it started), once. The hosted repair service calls it as the host starts; reads
    /// (<see cref="GetStatus"/>, <see cref="FindSession"/>) never adopt, while a start or a cleanup adopts first if the
    /// host has not, so that it never races a process of an earlier run.
    /// </summary>
    ValueTask AdoptAsync(CancellationToken cancellationToken = default) => ValueTask.CompletedTask;

    /// <summary>The seed's status figures plus every session's details. Reads no process table and no socket table.</summary>
    TtydStatus GetStatus();
}
