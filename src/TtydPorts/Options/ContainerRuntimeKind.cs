namespace TtydPorts;

/// <summary>The built-in container runtimes (<see cref="TtydSessionOptions.ContainerRuntime"/>).</summary>
public enum ContainerRuntimeKind
{
    /// <summary>Docker: a local or rootless engine's socket, or a remote engine over TCP with TLS.</summary>
    Docker,

    /// <summary>Podman, through its Docker-compatible API service and <c>podman exec</c>.</summary>
    Podman,
}
