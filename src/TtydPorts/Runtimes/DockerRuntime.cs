using System.Collections.Immutable;
using Microsoft.Extensions.Logging;

namespace TtydPorts;

/// <summary>
/// Docker: containers through the Engine API, terminals through <c>docker exec -it</c> pinned to the same engine with
/// <c>--host</c> (and, for a TCP engine, <c>--tlsverify</c> with the same certificates), whatever a context or the
/// client's config says. A local or rootless engine's socket, or a remote engine over TLS.
/// </summary>
internal sealed class DockerRuntime(EngineEndpoint endpoint, string dockerPath, IProcessSupervisor supervisor, ILogger? logger = null, string? execClientPath = null)
    : EngineRuntime(endpoint, supervisor, logger, execClientPath)
{
    public override string Name => "docker";

    protected override ImmutableArray<string> ClientPrefix { get; } = [dockerPath, .. endpoint.DockerCliOptions];

    protected override ImmutableDictionary<string, string> ClientEnvironment { get; } = endpoint.DockerVariables;
}
