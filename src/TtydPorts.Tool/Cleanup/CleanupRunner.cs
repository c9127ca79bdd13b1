using TtydPorts.Tool.Machine;

namespace TtydPorts.Tool.Cleanup;

/// <summary>How stopping one target ended.</summary>
internal enum StopOutcome
{
    /// <summary>Stopped, with every process it had spawned.</summary>
    Stopped,
    /// <summary>It had already exited (or its PID now belongs to another process, which was left alone).</summary>
    AlreadyGone,
    /// <summary>It could not be stopped.</summary>
    Failed,
}

/// <summary>One target's outcome.</summary>
internal sealed record StopResult(CleanupTarget Target, StopOutcome Outcome, string? Error)
{
    /// <summary>Why what the session's terminal left in its container was not ended (<see cref="LeftoverTrust"/>); null when it was, or there was none to end.</summary>
    public string? LeftoversKept { get; init; }
}

/// <summary>
/// Stops the planned processes through the library's supervisor (SIGTERM, then SIGKILL, whole tree, identity-checked),
/// then has the runtime end what the stopped sessions' terminals left inside their containers, as the manager does,
/// for the sessions <see cref="LeftoverTrust"/> vouches for.
/// </summary>
internal sealed class CleanupRunner(IProcessSupervisor supervisor, IContainerRuntime? runtime, LeftoverTrust trust)
{
    private const int MaxParallel = 8;

    public async Task<IReadOnlyList<StopResult>> RunAsync(IReadOnlyList<CleanupTarget> targets, TimeSpan gracePeriod, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(targets);

        // Decided before anything stops: the trust reads the groups of each session's running process.
        var kept = targets.Select(t => EndsLeftovers(t) ? trust.Refusal(t.Session!) : null).ToArray();
        var results = new StopResult[targets.Count];
        await Parallel.ForEachAsync(
            Enumerable.Range(0, targets.Count),
            new ParallelOptions { MaxDegreeOfParallelism = MaxParallel, CancellationToken = cancellationToken },
            async (i, ct) => results[i] = await StopAsync(targets[i], gracePeriod, ct).ConfigureAwait(false)).ConfigureAwait(false);
        var leftovers = new List<ContainerTerminal>();
        for (var i = 0; i < results.Length; i++)
        {
            if (results[i].Outcome == StopOutcome.Failed || !EndsLeftovers(results[i].Target))
            {
                continue;
            }

            if (kept[i] is { } reason)
            {
                results[i] = results[i] with { LeftoversKept = reason };
            }
            else
            {
                leftovers.Add(ContainerTerminal.Of(targets[i].Session!.Session, targets[i].Session!.Found.Token)!);
            }
        }

        if (leftovers.Count > 0)
        {
            await runtime!.EndTerminalsAsync(leftovers, cancellationToken).ConfigureAwait(false);
        }

        return results;
    }

    // A session whose container id is known and whose engine this runtime reaches has leftovers this tool would end.
    private bool EndsLeftovers(CleanupTarget target) =>
        runtime is not null && target.Session?.Found is { Session.ContainerId: not null } found && Reaches(found.Engine);

    // The engine the tool reads is the session's; or both are on this machine, where the leftovers are in this /proc.
    private bool Reaches(string? engine) =>
        engine is null || string.Equals(engine, runtime!.Endpoint, StringComparison.Ordinal)
        || (engine.StartsWith("unix://", StringComparison.Ordinal) && runtime!.Endpoint.StartsWith("unix://", StringComparison.Ordinal));

    private async Task<StopResult> StopAsync(CleanupTarget target, TimeSpan gracePeriod, CancellationToken cancellationToken)
    {
        try
        {
            var stopped = await supervisor.StopAsync(target.Process, gracePeriod, cancellationToken).ConfigureAwait(false);

            // The session's log, and its socket when ttyd had to be killed, are removed by the folder that named them
            // (the session's own runtime folder, verified when the session was found), never from a path in a marker.
            if (target.Session?.Found is { Folder: { } folder } found)
            {
                // A persistent shell's tmux server and the observer ttyd are no children of ttyd: found by their signed markers.
                foreach (var rest in SessionProcesses.Find(supervisor, folder, found.InstanceName, folder.ReadKey(found.InstanceName, byName: true), found.Token)[found.Token])
                {
                    await supervisor.StopAsync(rest, gracePeriod, cancellationToken).ConfigureAwait(false);
                }

                folder.DeleteSessionFiles(found.Token);
            }

            return new StopResult(target, stopped ? StopOutcome.Stopped : StopOutcome.AlreadyGone, null);
        }
        catch (TtydPortsException e)
        {
            return new StopResult(target, StopOutcome.Failed, e.Message);
        }
    }
}
