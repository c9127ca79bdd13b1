using Microsoft.Extensions.Diagnostics.HealthChecks;
using TtydPorts.AspNetCore;

namespace Microsoft.Extensions.DependencyInjection;

/// <summary>Registers the health check of the ttyd session manager.</summary>
public static class TtydHealthChecksBuilderExtensions
{
    /// <summary>
    /// Adds a health check that is unhealthy (or <paramref name="failureStatus"/>) when ttyd cannot be found or the container
    /// engine does not answer, and, in TCP mode, degraded when 90% or more of the port range is in use. Its data carries the
    /// resolved ttyd path, the listen mode (<c>tcp</c> or <c>unix_socket</c>), the runtime folder and the active sessions,
    /// and in TCP mode the port range and the reserved ports. Needs <c>AddTtydSessions()</c> on the services.
    /// </summary>
    /// <param name="builder">The health checks builder.</param>
    /// <param name="name">Name of the check. Default <c>ttyd</c>.</param>
    /// <param name="failureStatus">Status reported when ttyd or the engine is missing. Default <see cref="HealthStatus.Unhealthy"/>.</param>
    /// <param name="tags">Tags, for filtering in <c>MapHealthChecks</c>.</param>
    /// <param name="timeout">How long the check may take (the engine request). Default 5 s.</param>
    public static IHealthChecksBuilder AddTtydSessions(
        this IHealthChecksBuilder builder,
        string name = "ttyd",
        HealthStatus? failureStatus = null,
        IEnumerable<string>? tags = null,
        TimeSpan? timeout = null)
    {
        ArgumentNullException.ThrowIfNull(builder);
        ArgumentException.ThrowIfNullOrWhiteSpace(name);
        return builder.Add(new HealthCheckRegistration(
            name,
            services => ActivatorUtilities.CreateInstance<TtydSessionsHealthCheck>(services),
            failureStatus,
            tags,
            timeout ?? TimeSpan.FromSeconds(5)));
    }
}
