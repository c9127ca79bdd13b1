namespace TtydPorts;

/// <summary>A stopped session's terminal in its container, whose leftovers <see cref="IContainerRuntime.EndTerminalsAsync"/> ends.</summary>
public sealed record ContainerTerminal
{
    /// <summary>The container's name (for logs).</summary>
    public required string Container { get; init; }

    /// <summary>The container's id.</summary>
    public required string ContainerId { get; init; }

    /// <summary>The marker its execs carried (<see cref="ContainerExecRequest.Marker"/>).</summary>
    public required string Marker { get; init; }

    /// <summary>The user its command ran as (<see cref="TerminalCommand.User"/>); <see langword="null"/>: the image's. Inside a
    /// container without <c>CAP_SYS_PTRACE</c>, only the same user can read a process's environment and so find its marker.</summary>
    public string? User { get; init; }

    /// <summary>The terminal of a session that recorded its container id, marked with the session's token; else null.</summary>
    internal static ContainerTerminal? Of(TtydSession session, string token) =>
        session.ContainerId is { } id ? new ContainerTerminal { Container = session.Container, ContainerId = id, Marker = token, User = session.Command?.User } : null;
}
