namespace TtydPorts;

/// <summary>The seed's status figures, plus each session's details.</summary>
/// <param name="ActiveSessions">Sessions whose process is alive and listening.</param>
/// <param name="ContainerPorts">Containers that hold a port.</param>
/// <param name="TtydProcesses">ttyd processes this manager tracks.</param>
/// <param name="Containers">Names of the containers that hold a port.</param>
/// <param name="Processes">Names of the containers whose ttyd is tracked.</param>
/// <param name="Sessions">Every tracked session.</param>
/// <param name="LastError">Why the most recent start failed, until a start succeeds again (e.g. a missing ttyd binary).</param>
public sealed record TtydStatus(
    int ActiveSessions,
    int ContainerPorts,
    int TtydProcesses,
    IReadOnlyList<string> Containers,
    IReadOnlyList<string> Processes,
    IReadOnlyList<TtydSessionStatus> Sessions,
    string? LastError = null);

/// <summary>One session in <see cref="TtydStatus"/>.</summary>
/// <param name="Session">The session.</param>
/// <param name="Healthy">Whether its process is alive and listening.</param>
public sealed record TtydSessionStatus(TtydSession Session, bool Healthy);
