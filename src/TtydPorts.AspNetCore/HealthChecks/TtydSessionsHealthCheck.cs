using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Options;

namespace TtydPorts.AspNetCore;

/// <summary>
/// Unhealthy when ttyd (or tmux, with persistent shells) cannot be found, the runtime folder cannot be trusted or the container engine does not answer;
/// in TCP mode, degraded when 90% or more of the port range is reserved (proxy mode takes no port: no port figures, no
/// port-based degradation). Reads no process table: one <c>PATH</c> lookup, a few <c>statx</c> calls and one engine request.
/// </summary>
internal sealed class TtydSessionsHealthCheck(
    IOptions<TtydSessionOptions> options,
    IPortAllocator ports,
    IContainerInventory inventory,
    ITtydSessionManager manager) : IHealthCheck
{
    /// <summary>Share of the port range in use from which the check reports <see cref="HealthStatus.Degraded"/>.</summary>
    internal const double DegradedShare = 0.9;

    // A name no lab uses: the engine answers 404 for it, which is all the check wants to hear.
    internal const string ProbeContainer = "ttydports-health-probe";

    public async Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        var ttydPath = options.Value.TtydPath;
        var resolved = Native.ResolveExecutable(ttydPath);

        // In proxy mode (Unix sockets) no session takes a port: the range's figures would only mislead.
        var usesPorts = options.Value.ListenMode == TtydListenMode.Tcp;
        var data = new Dictionary<string, object>(StringComparer.Ordinal)
        {
            ["ttyd"] = resolved ?? "(not found)",
            ["listen_mode"] = usesPorts ? "tcp" : "unix_socket",
            ["active_sessions"] = manager.GetStatus().ActiveSessions,
        };

        int rangeSize = 0, reserved = 0;
        if (usesPorts)
        {
            rangeSize = ports.RangeEnd - ports.RangeStart + 1;
            reserved = ports.ReservedCount;
            data["port_range"] = $"{ports.RangeStart}-{ports.RangeEnd}";
            data["ports_reserved"] = reserved;
            data["ports_total"] = rangeSize;
        }

        var problems = new List<string>();
        if (resolved is null)
        {
            problems.Add(ttydPath.Contains('/', StringComparison.Ordinal)
                ? $"ttyd '{ttydPath}' does not exist or is not executable."
                : $"ttyd '{ttydPath}' is not on PATH.");
        }

        // Persistent shells without tmux start nothing: say so here too, never fall back.
        if (options.Value.PersistentShells)
        {
            var tmux = Native.ResolveExecutable(options.Value.TmuxPath);
            data["tmux"] = tmux ?? "(not found)";
            if (tmux is null)
            {
                problems.Add($"tmux '{options.Value.TmuxPath}' was not found (PATH or TmuxPath) and PersistentShells is on: no terminal starts. Install tmux, or set PersistentShells = false.");
            }
        }

        // A runtime folder another user planted or can replace stops every start: say so here, not only in a log.
        var folder = new RuntimeFolder(options.Value.RuntimeDirectory ?? RuntimeFolder.DefaultPath(), Native.geteuid());
        data["runtime_directory"] = folder.Path;
        if (folder.Check(create: true) is { } folderProblem)
        {
            problems.Add(folderProblem);
        }

        Exception? engineError = null;
        try
        {
            _ = await inventory.GetContainerAsync(ProbeContainer, cancellationToken).ConfigureAwait(false);
        }
        catch (ContainerEngineException e)
        {
            engineError = e;
            problems.Add(e.Message);
        }

        if (problems.Count > 0)
        {
            return new HealthCheckResult(context.Registration.FailureStatus, string.Join(" ", problems), engineError, data);
        }

        if (!usesPorts)
        {
            return HealthCheckResult.Healthy($"ttyd found, engine answers, {data["active_sessions"]} session(s) on Unix sockets.", data);
        }

        var share = (double)reserved / rangeSize;
        return share >= DegradedShare
            ? HealthCheckResult.Degraded($"{reserved} of {rangeSize} ports ({share:P0}) of the range {ports.RangeStart}-{ports.RangeEnd} are in use.", data: data)
            : HealthCheckResult.Healthy($"ttyd found, engine answers, {reserved} of {rangeSize} ports in use.", data);
    }
}
