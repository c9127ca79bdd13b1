namespace TtydPorts;

/// <summary>
/// One container runtime behind one seam: it finds containers (id, name, labels, state), says which program and
/// arguments open a terminal in one, talks to one engine, and ends what a terminal left inside a container when its
/// session stops. The session manager knows nothing else of the runtime. The defaults are Docker (local socket,
/// rootless socket, or a remote engine over TCP with TLS client certificates) and Podman, chosen with
/// <see cref="TtydSessionOptions.ContainerRuntime"/> or the builder's <c>UseDocker()</c> / <c>UsePodman()</c>; a host
/// plugs in another with <c>UseContainerRuntime&lt;T&gt;()</c>.
/// </summary>
public interface IContainerRuntime : IContainerInventory
{
    /// <summary>The runtime's name for status, logs and errors, e.g. <c>docker</c> or <c>podman</c>.</summary>
    string Name { get; }

    /// <summary>The engine it talks to, e.g. <c>unix:///var/run/docker.sock</c> or <c>tcp://10.0.0.5:2376</c>.</summary>
    string Endpoint { get; }

    /// <summary>
    /// The program, arguments and environment that open <see cref="ContainerExecRequest.Command"/> in the container,
    /// interactive with a terminal, carrying <see cref="ContainerExecRequest.Marker"/> so that what it leaves behind can
    /// be ended. Pure: starts nothing. ttyd (or the session's tmux) runs the result as an argument list, never through a
    /// shell.
    /// </summary>
    ContainerExec CreateExec(ContainerExecRequest request);

    /// <summary>
    /// Ends every process that the terminals' execs left inside their containers (a killed exec client does not end
    /// them), after the terminals' ttyd processes are gone. Called once for a batch of stopped sessions. Failures are
    /// logged, never thrown: the sessions are stopped either way.
    /// </summary>
    Task EndTerminalsAsync(IReadOnlyCollection<ContainerTerminal> terminals, CancellationToken cancellationToken = default);
}
