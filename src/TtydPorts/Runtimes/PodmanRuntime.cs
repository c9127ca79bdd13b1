using System.Collections.Immutable;
using Microsoft.Extensions.Logging;

namespace TtydPorts;

/// <summary>
/// Podman: containers through its Docker-compatible API service (<c>podman system service</c>), terminals through
/// <c>podman --remote --url … exec -it</c> against the same service, so that the inventory and the terminals see one engine.
/// </summary>
internal sealed class PodmanRuntime(EngineEndpoint endpoint, string podmanPath, IProcessSupervisor supervisor, ILogger? logger = null, string? execClientPath = null)
    : EngineRuntime(endpoint, supervisor, logger, execClientPath)
{
    public override string Name => "podman";

    protected override ImmutableArray<string> ClientPrefix { get; } = [podmanPath, "--remote", "--url", endpoint.Uri];

    protected override ImmutableDictionary<string, string> ClientEnvironment { get; } = ImmutableDictionary<string, string>.Empty.Add("CONTAINER_HOST", endpoint.Uri);
}
