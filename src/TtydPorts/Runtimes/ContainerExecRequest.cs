namespace TtydPorts;

/// <summary>What a terminal asks of <see cref="IContainerRuntime.CreateExec"/>.</summary>
public sealed record ContainerExecRequest
{
    /// <summary>The container's full id as the runtime reported it (never its name: a name can pass to another container).</summary>
    public required string ContainerId { get; init; }

    /// <summary>The command, its user, folder and variables.</summary>
    public required TerminalCommand Command { get; init; }

    /// <summary>The session's secret marker: the exec'd process must carry it (as <c>TTYDPORTS_EXEC</c>) so that
    /// <see cref="IContainerRuntime.EndTerminalsAsync"/> finds what it left.</summary>
    public required string Marker { get; init; }

    /// <summary>The terminal type inside the container (<c>TERM</c>) when a multiplexer emulates one; <see langword="null"/>: the runtime's.</summary>
    public string? TerminalType { get; init; }
}
