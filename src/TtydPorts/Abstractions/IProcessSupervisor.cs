namespace TtydPorts;

/// <summary>Starts, watches and stops the ttyd processes of this library, and only those.</summary>
public interface IProcessSupervisor
{
    /// <summary>
    /// Starts the process and returns once <see cref="ProcessLaunch.ReadyEndpoint"/> accepts connections.
    /// </summary>
    /// <exception cref="ProcessLaunchException">The process could not be started, exited early, or was not ready in time.</exception>
    Task<ProcessIdentity> StartAsync(ProcessLaunch launch, CancellationToken cancellationToken = default);

    /// <summary>Whether the process still runs and is the same process (PID and start time both match; zombies count as gone).</summary>
    bool IsAlive(ProcessIdentity process);

    /// <summary>
    /// Whether the process is stopped (SIGSTOP, or a tracer holds it): alive, but it would never answer. Defaults to
    /// <see langword="false"/> for supervisors that cannot tell.
    /// </summary>
    bool IsStopped(ProcessIdentity process) => false;

    /// <summary>
    /// Stops the process and every descendant it spawned: SIGTERM, then SIGKILL after <paramref name="gracePeriod"/>.
    /// Returns once all of them are gone; <see langword="false"/> when the process was already gone.
    /// </summary>
    /// <exception cref="ProcessStopException">A process survived SIGKILL.</exception>
    Task<bool> StopAsync(ProcessIdentity process, TimeSpan gracePeriod, CancellationToken cancellationToken = default);

    /// <summary>
    /// Lists running processes whose environment carries <paramref name="markerName"/> (with the value
    /// <paramref name="markerValue"/>, when one is given), with their variables whose names start with <paramref name="markerPrefix"/>.
    /// </summary>
    IReadOnlyList<MarkedProcess> FindMarkedProcesses(string markerPrefix, string markerName, string? markerValue = null);
}
