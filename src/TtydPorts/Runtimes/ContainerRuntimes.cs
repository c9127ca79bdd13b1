using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace TtydPorts;

/// <summary>Makes the built-in runtime the options ask for.</summary>
internal static class ContainerRuntimes
{
    /// <summary>The runtime of <paramref name="options"/>; the supervisor is the one that may signal leftovers on this machine.</summary>
    /// <exception cref="InvalidOperationException">The endpoint cannot be used (start-up validation reports the same).</exception>
    public static EngineRuntime Create(TtydSessionOptions options, IProcessSupervisor supervisor, ILogger? logger = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        var endpoint = EngineEndpoint.Resolve(options);
        var execClient = string.IsNullOrEmpty(options.ExecClientPath) ? null : options.ExecClientPath; // "" from configuration: the CLI
        return options.ContainerRuntime == ContainerRuntimeKind.Podman
            ? new PodmanRuntime(endpoint, options.PodmanPath, supervisor, logger, execClient)
            : new DockerRuntime(endpoint, options.DockerPath, supervisor, logger, execClient);
    }

    internal static IContainerRuntime Create(IServiceProvider services) =>
        Create(services.GetRequiredService<IOptions<TtydSessionOptions>>().Value, services.GetRequiredService<IProcessSupervisor>(),
            services.GetService<ILoggerFactory>()?.CreateLogger("TtydPorts.ContainerRuntime"));
}
