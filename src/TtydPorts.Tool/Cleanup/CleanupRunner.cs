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
internal sealed record StopResult(CleanupTarget Target, StopOutcome Outcome, string? Error);

/// <summary>Stops the planned processes through the library's supervisor (SIGTERM, then SIGKILL, whole tree, identity-checked).</summary>
internal sealed class CleanupRunner(IProcessSupervisor supervisor, IHostProcessTable table)
{
    private const int MaxParallel = 8;

    public async Task<IReadOnlyList<StopResult>> RunAsync(IReadOnlyList<CleanupTarget> targets, TimeSpan gracePeriod, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(targets);
        var results = new StopResult[targets.Count];
        await Parallel.ForEachAsync(
            Enumerable.Range(0, targets.Count),
            new ParallelOptions { MaxDegreeOfParallelism = MaxParallel, CancellationToken = cancellationToken },
            async (i, ct) => results[i] = await StopAsync(targets[i], gracePeriod, ct).ConfigureAwait(false)).ConfigureAwait(false);
        return results;
    }

    private async Task<StopResult> StopAsync(CleanupTarget target, TimeSpan gracePeriod, CancellationToken cancellationToken)
    {
        // The session's log is ttyd's standard output; once ttyd is gone nothing else removes it.
        var log = target.Session is { } s ? SessionLog(s) : null;
        try
        {
            var stopped = await supervisor.StopAsync(target.Process, gracePeriod, cancellationToken).ConfigureAwait(false);
            if (log is not null)
            {
                TryDelete(log);
            }

            // In proxy mode ttyd listened on a Unix socket: ttyd removes it on SIGTERM, not when it had to be killed.
            if (target.Session?.Session.SocketPath is { } socket && IsSessionSocket(socket))
            {
                TryDelete(socket);
            }

            return new StopResult(target, stopped ? StopOutcome.Stopped : StopOutcome.AlreadyGone, null);
        }
        catch (TtydPortsException e)
        {
            return new StopResult(target, StopOutcome.Failed, e.Message);
        }
    }

    // Only a file named the way the library names session logs is ever deleted.
    private string? SessionLog(SessionView view)
    {
        var path = table.StandardOutputFile(view.Session.ProcessId);
        var expected = $"{view.Found.InstanceName}-{view.Session.Container}-{view.Session.Port}.log";
        return path is not null && string.Equals(Path.GetFileName(path), expected, StringComparison.Ordinal) ? path : null;
    }

    // Only a file named the way the library names session sockets (24 hex digits) is ever deleted.
    private static bool IsSessionSocket(string path) =>
        Path.GetFileName(path) is { Length: 29 } name && name.EndsWith(".sock", StringComparison.Ordinal)
        && name[..24].All(char.IsAsciiHexDigitLower) && File.Exists(path);

    private static void TryDelete(string path)
    {
        try
        {
            File.Delete(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
        }
    }
}
