namespace TtydPorts;

/// <summary>Base of the errors this library raises on purpose.</summary>
public class TtydPortsException : Exception
{
    /// <summary>Creates the exception.</summary>
    public TtydPortsException() { }

    /// <summary>Creates the exception.</summary>
    public TtydPortsException(string message) : base(message) { }

    /// <summary>Creates the exception.</summary>
    public TtydPortsException(string message, Exception? innerException) : base(message, innerException) { }
}

/// <summary>The container does not exist, or does not run, so it has no terminal to serve.</summary>
public sealed class ContainerNotFoundException : TtydPortsException
{
    /// <summary>Creates the exception.</summary>
    public ContainerNotFoundException() { }

    /// <summary>Creates the exception.</summary>
    public ContainerNotFoundException(string message) : base(message) { }

    /// <summary>Creates the exception.</summary>
    public ContainerNotFoundException(string message, Exception? innerException) : base(message, innerException) { }

    /// <summary>Creates the exception for a container.</summary>
    public ContainerNotFoundException(string container, string? state)
        : base(state is null
            ? $"Container '{container}' does not exist."
            : $"Container '{container}' is {state}, not running.")
    {
        Container = container;
        State = state;
    }

    /// <summary>The container asked for.</summary>
    public string? Container { get; }

    /// <summary>Its state when it exists but does not run.</summary>
    public string? State { get; }
}

/// <summary>The container engine could not be reached or gave an error.</summary>
public sealed class ContainerEngineException : TtydPortsException
{
    /// <summary>Creates the exception.</summary>
    public ContainerEngineException() { }

    /// <summary>Creates the exception.</summary>
    public ContainerEngineException(string message) : base(message) { }

    /// <summary>Creates the exception.</summary>
    public ContainerEngineException(string message, Exception? innerException) : base(message, innerException) { }
}

/// <summary>The container already has a session for another user or topology.</summary>
public sealed class SessionConflictException : TtydPortsException
{
    /// <summary>Creates the exception.</summary>
    public SessionConflictException() { }

    /// <summary>Creates the exception.</summary>
    public SessionConflictException(string message) : base(message) { }

    /// <summary>Creates the exception.</summary>
    public SessionConflictException(string message, Exception? innerException) : base(message, innerException) { }

    /// <summary>Creates the exception for an existing session.</summary>
    public SessionConflictException(TtydSession existing, string userId, string? topologyId)
        : base($"Container '{existing.Container}' has a session of user '{existing.UserId}' in topology '{existing.TopologyId ?? "(none)"}'; " +
               $"user '{userId}' in topology '{topologyId ?? "(none)"}' asked for it.")
    {
        Existing = existing;
        RequestedUserId = userId;
        RequestedTopologyId = topologyId;
    }

    /// <summary>The session that holds the container.</summary>
    public TtydSession? Existing { get; }

    /// <summary>The user who asked for the container.</summary>
    public string? RequestedUserId { get; }

    /// <summary>The topology asked for, if any.</summary>
    public string? RequestedTopologyId { get; }

    /// <summary>Whether the container is held by another user than the one who asked (rather than by another topology of the same user).</summary>
    public bool HeldByAnotherUser => Existing is null || !string.Equals(Existing.UserId, RequestedUserId, StringComparison.Ordinal);
}

/// <summary>ttyd could not be started for a container after every attempt.</summary>
public sealed class TtydStartException : TtydPortsException
{
    /// <summary>Creates the exception.</summary>
    public TtydStartException() { }

    /// <summary>Creates the exception.</summary>
    public TtydStartException(string message) : base(message) { }

    /// <summary>Creates the exception.</summary>
    public TtydStartException(string message, Exception? innerException) : base(message, innerException) { }
}

/// <summary>Why a process launch failed.</summary>
public enum LaunchFailure
{
    /// <summary>The program does not exist or cannot be executed.</summary>
    NotExecutable,
    /// <summary>It exited before it was ready (for ttyd most often: the port was taken).</summary>
    ExitedEarly,
    /// <summary>It ran but was not ready within the timeout.</summary>
    Timeout,
}

/// <summary>A process could not be started or did not become ready.</summary>
public sealed class ProcessLaunchException : TtydPortsException
{
    /// <summary>Creates the exception.</summary>
    public ProcessLaunchException() { }

    /// <summary>Creates the exception.</summary>
    public ProcessLaunchException(string message) : base(message) { }

    /// <summary>Creates the exception.</summary>
    public ProcessLaunchException(string message, Exception? innerException) : base(message, innerException) { }

    /// <summary>Creates the exception with its cause.</summary>
    public ProcessLaunchException(LaunchFailure failure, string message, int? exitCode, string? output)
        : base(message)
    {
        Failure = failure;
        ExitCode = exitCode;
        Output = output;
    }

    /// <summary>What went wrong.</summary>
    public LaunchFailure Failure { get; }

    /// <summary>Exit code, when it exited.</summary>
    public int? ExitCode { get; }

    /// <summary>The last lines the process printed.</summary>
    public string? Output { get; }
}

/// <summary>A process survived SIGKILL, or could not be signalled.</summary>
public sealed class ProcessStopException : TtydPortsException
{
    /// <summary>Creates the exception.</summary>
    public ProcessStopException() { }

    /// <summary>Creates the exception.</summary>
    public ProcessStopException(string message) : base(message) { }

    /// <summary>Creates the exception.</summary>
    public ProcessStopException(string message, Exception? innerException) : base(message, innerException) { }
}

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
    /// <summary>Creates the exception.</summary>
    public SessionLimitExceededException() { }

    /// <summary>Creates the exception.</summary>
    public SessionLimitExceededException(string message) : base(message) { }

    /// <summary>Creates the exception.</summary>
    public SessionLimitExceededException(string message, Exception? innerException) : base(message, innerException) { }

    /// <summary>Creates the exception for a limit.</summary>
    public SessionLimitExceededException(SessionLimitScope scope, int limit, string userId, string container)
        : base(scope == SessionLimitScope.User
            ? $"User '{userId}' already has {limit} session(s), the most allowed (MaxSessionsPerUser); no terminal was started for '{container}'."
            : $"The manager already runs {limit} session(s), the most allowed (MaxSessions); no terminal was started for '{container}'.")
    {
        Scope = scope;
        Limit = limit;
        UserId = userId;
    }

    /// <summary>Which limit was hit.</summary>
    public SessionLimitScope Scope { get; }

    /// <summary>The limit.</summary>
    public int Limit { get; }

    /// <summary>The user who asked.</summary>
    public string? UserId { get; }
}
