using System.Collections.Immutable;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace TtydPorts;

/// <summary>
/// What Docker and Podman share: the Engine API (Podman serves a compatible one) for finding containers and their
/// removal, and the two ways to end what a terminal left inside its container. An engine on this machine's Unix socket
/// runs its containers' processes in this machine's <c>/proc</c>, where one scan finds every marked leftover of a
/// batch; a remote engine's are out of reach, so a short script runs inside each container through the engine's exec
/// API instead. The subclasses only say how their CLI opens a terminal. With an exec client (<c>ExecClientPath</c>) and an
/// engine on a Unix socket, terminals are opened by that client through the Engine API instead of the CLI: the engine
/// creates the process either way, so its confinement is the same; only the program on the host is smaller.
/// </summary>
internal abstract class EngineRuntime : IContainerRuntime, IContainerEventSource, IContainerChangeSource, IDisposable
{
    // Processes left inside a container get a moment to end on SIGHUP/SIGTERM; interactive shells ignore SIGTERM.
    internal static readonly TimeSpan LeftoverGracePeriod = TimeSpan.FromMilliseconds(500);

    // How long a stop waits for the engine to finish starting its containers' execs (about 120 ms each here), and how often it asks.
    internal static readonly TimeSpan ExecStartWait = TimeSpan.FromSeconds(5);
    private static readonly TimeSpan ExecStartPollInterval = TimeSpan.FromMilliseconds(20);
    private const int ExecStartParallelism = 8;

    /// <summary>
    /// Whether the local process <paramref name="pid"/> is still runc's init for an exec (named <c>runc:[2:INIT]</c> and the
    /// like until it becomes the command): the engine reports the exec's pid from then on, but the process carries the
    /// command's environment, and with it the session's marker, only once it has become the command. Only while it is
    /// younger than <see cref="ExecStartWait"/>: a name is the process's own to choose, and a tenant's shell that calls
    /// itself so would otherwise hold every stop of its container for the whole wait.
    /// </summary>
    internal static bool IsInRuntimeInit(int pid) =>
        ProcFs.ReadComm(pid)?.StartsWith("runc:[", StringComparison.Ordinal) == true
        && ProcFs.ReadStat(pid) is { HasExited: false } stat && ProcFs.ReadUptimeTicks() is { } now
        && now - Math.Min(now, stat.StartTime) < (ulong)(ExecStartWait.TotalSeconds * 100);

    private readonly IProcessSupervisor _supervisor;
    private readonly ILogger _logger;
    private readonly string? _execClientPath;

    /// <param name="endpoint">The engine.</param>
    /// <param name="supervisor">Signals leftovers on this machine.</param>
    /// <param name="logger">Where failures to end leftovers go.</param>
    /// <param name="execClientPath">The Engine API exec client (<c>ttydports-exec</c>) that opens terminals on a Unix-socket
    /// engine instead of the CLI; <see langword="null"/>, or a TCP engine: the CLI.</param>
    protected EngineRuntime(EngineEndpoint endpoint, IProcessSupervisor supervisor, ILogger? logger, string? execClientPath = null)
    {
        ArgumentNullException.ThrowIfNull(endpoint);
        ArgumentNullException.ThrowIfNull(supervisor);
        _supervisor = supervisor;
        _logger = logger ?? NullLogger.Instance;
        _execClientPath = execClientPath;
        Api = new EngineApiClient(endpoint, Name);
    }

    public abstract string Name { get; }

    public string Endpoint => Api.Endpoint.Uri;

    internal EngineApiClient Api { get; }

    // Always the engine's answer at the time of the call (0.26 ms median here): a list kept by the event stream was
    // tried and answered a renamed container's old name for a few milliseconds after the rename returned.
    public Task<ContainerInfo?> GetContainerAsync(string name, CancellationToken cancellationToken = default) => Api.GetContainerAsync(name, cancellationToken);

    public Task<IReadOnlyList<ContainerInfo>> ListContainersAsync(CancellationToken cancellationToken = default) => Api.ListContainersAsync(cancellationToken);

    public IAsyncEnumerable<ContainerInfo> WatchRemovedContainersAsync(CancellationToken cancellationToken) => Api.WatchRemovedContainersAsync(cancellationToken);

    public IAsyncEnumerable<ContainerEvent> WatchChangesAsync(long? since, CancellationToken cancellationToken) => Api.WatchEventsAsync(since, cancellationToken);

    public ContainerExec CreateExec(ContainerExecRequest request)
    {
        ArgumentNullException.ThrowIfNull(request);
        TerminalCommand.ThrowIfInvalid(request.Command, nameof(request));

        // The target is the id recorded at start, never the name: a container that takes the name later is another one.
        if (!SessionIds.IsValidContainerId(request.ContainerId))
        {
            throw new ArgumentException($"Container id {SessionIds.Quote(request.ContainerId)} is not a 64-digit hex id.", nameof(request));
        }

        if (request.Marker is null || !RuntimeFolder.IsToken(request.Marker))
        {
            throw new ArgumentException($"Marker {SessionIds.Quote(request.Marker)} must be 32 hex digits.", nameof(request));
        }

        if (_execClientPath is { } client && Api.Endpoint.SocketPath is { } socket)
        {
            return ExecClientLine(client, socket, request);
        }

        // Each value is one argument of the CLI's own: after the target, it passes every argument on unparsed. The marker
        // makes what the exec leaves behind findable when the session stops (a killed client does not end it).
        return new ContainerExec
        {
            Arguments = [.. ClientPrefix, "exec", "-it", "-e", $"{TtydProcessDiscovery.ExecMarker}={request.Marker}",
                .. UserAndFolder(request.Command, "-u", "-w"), .. Variables(request), request.ContainerId, .. request.Command.Arguments],
            Environment = ClientEnvironment,
        };
    }

    // The exec client's line: the same exec (marker, user, folder, variables, TERM, id, argv) as the CLI's, sent by the
    // client as one Engine API request. Its options stop at the id; "--" ends them, so no argument is read as an option.
    private static ContainerExec ExecClientLine(string client, string socket, ContainerExecRequest request) => new()
    {
        Arguments = [client, "--socket", socket, .. UserAndFolder(request.Command, "--user", "--workdir"),
            "-e", $"{TtydProcessDiscovery.ExecMarker}={request.Marker}", .. Variables(request), request.ContainerId, "--", .. request.Command.Arguments],
    };

    // The command's user and folder under the flags of the CLI or the client that runs it.
    private static IEnumerable<string> UserAndFolder(TerminalCommand command, string userFlag, string folderFlag)
    {
        if (command.User is { } user)
        {
            yield return userFlag;
            yield return user;
        }

        if (command.WorkingDirectory is { } folder)
        {
            yield return folderFlag;
            yield return folder;
        }
    }

    // The command's variables, then the terminal type, each one "-e NAME=VALUE" argument.
    private static IEnumerable<string> Variables(ContainerExecRequest request)
    {
        foreach (var (name, value) in request.Command.SortedEnvironment())
        {
            yield return "-e";
            yield return $"{name}={value}";
        }

        if (request.TerminalType is { } term)
        {
            yield return "-e";
            yield return $"TERM={term}";
        }
    }

    /// <summary>
    /// What is wrong with <paramref name="path"/> as <c>ExecClientPath</c>, naming it, or <see langword="null"/>: it must be
    /// an absolute path to an executable regular file (links resolved) that only root or this user owns and can write, in
    /// folders nobody else can write to (sticky ones excepted), since ttyd runs it for every terminal.
    /// </summary>
    internal static string? ExecClientProblem(string path)
    {
        if (!Path.IsPathFullyQualified(path) || path.Contains('\0', StringComparison.Ordinal))
        {
            return $"ExecClientPath {SessionIds.Quote(path)} must be an absolute path (scripts/install-exec-client.sh installs /usr/local/lib/ttydports/ttydports-exec).";
        }

        if (Native.RealPath(path) is not { } real || Native.LStat(real) is not { } file)
        {
            return $"ExecClientPath {SessionIds.Quote(path)} does not exist (scripts/install-exec-client.sh installs /usr/local/lib/ttydports/ttydports-exec).";
        }

        var self = Native.geteuid();
        if ((file.Mode & 0xF000) != 0x8000 || (file.Mode & 0x49) == 0)
        {
            return $"ExecClientPath {SessionIds.Quote(path)} is not an executable file.";
        }

        if ((file.Mode & 0x12) != 0 || (file.Uid != 0 && file.Uid != self))
        {
            return $"ExecClientPath {SessionIds.Quote(path)} is writable by other users or owned by another user (uid {file.Uid}); ttyd runs it for every terminal, so only root or this user may be able to replace it.";
        }

        for (var folder = Path.GetDirectoryName(real); folder is not null; folder = Path.GetDirectoryName(folder))
        {
            if (Native.LStat(folder) is not { } dir || (dir.Uid != 0 && dir.Uid != self) || ((dir.Mode & 0x12) != 0 && (dir.Mode & 0x200) == 0))
            {
                return $"ExecClientPath {SessionIds.Quote(path)} lies in the folder {SessionIds.Quote(folder)}, which another user owns or can write to (and so replace the client).";
            }
        }

        return null;
    }

    /// <summary>The CLI and its global options that pin it to this engine.</summary>
    protected abstract ImmutableArray<string> ClientPrefix { get; }

    /// <summary>The CLI's variables for the same engine (for a CLI path that is a wrapper script).</summary>
    protected abstract ImmutableDictionary<string, string> ClientEnvironment { get; }

    public async Task EndTerminalsAsync(IReadOnlyCollection<ContainerTerminal> terminals, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(terminals);
        var wanted = terminals.Where(t => t.Marker is not null && RuntimeFolder.IsToken(t.Marker)).ToList();
        if (wanted.Count == 0)
        {
            return;
        }

        await WaitForExecsStartingAsync(wanted.Select(t => t.ContainerId).Distinct(StringComparer.Ordinal), cancellationToken).ConfigureAwait(false);
        if (Api.Endpoint.IsLocal)
        {
            await EndOnThisMachineAsync(wanted).ConfigureAwait(false);
        }
        else
        {
            // As the terminal's own user: a container's root has no CAP_SYS_PTRACE by default, so it cannot read the
            // environment (and the marker) of another user's process; the same user can, and may signal it.
            await Task.WhenAll(wanted.GroupBy(t => (t.ContainerId, t.User))
                .Select(g => EndInContainerAsync(g.First().Container, g.Key.ContainerId, g.Key.User, [.. g.Select(t => t.Marker)], cancellationToken))).ConfigureAwait(false);
        }
    }

    // An exec whose client was killed while the engine was still starting it (the terminal's stop hung up its client
    // right after a browser connected, or a tmux server's pane) runs its process anyway, some 100 ms later: a look
    // before then finds nothing, and the shell would stay in the container. So the look waits until the engine starts
    // none of these containers' execs, a bounded time: a frozen or dead engine delays a stop by at most that.
    private async Task WaitForExecsStartingAsync(IEnumerable<string> containerIds, CancellationToken cancellationToken)
    {
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        deadline.CancelAfter(ExecStartWait);
        var waiting = containerIds.ToList();
        try
        {
            while (waiting.Count > 0)
            {
                // A few containers at a time: a batch can hold thousands, and each is one or more requests to the engine.
                var counts = new int[waiting.Count];
                await Parallel.ForEachAsync(Enumerable.Range(0, waiting.Count), new ParallelOptions { MaxDegreeOfParallelism = ExecStartParallelism, CancellationToken = deadline.Token },
                    async (i, ct) => counts[i] = await Api.CountExecsStartingAsync(waiting[i], Api.Endpoint.IsLocal ? IsInRuntimeInit : null, ct).ConfigureAwait(false)).ConfigureAwait(false);
                waiting = [.. waiting.Where((_, i) => counts[i] > 0)];
                if (waiting.Count > 0)
                {
                    await Task.Delay(ExecStartPollInterval, deadline.Token).ConfigureAwait(false);
                }
            }
        }
        catch (Exception e) when (e is OperationCanceledException or ContainerEngineException && !cancellationToken.IsCancellationRequested)
        {
            Log.ExecStartNotAwaited(_logger, Endpoint, ExecStartWait, e is OperationCanceledException ? "the engine did not answer in time" : e.Message.TrimEnd('.'));
        }
    }

    // One look at /proc for the whole batch; only processes carrying a marker we generated for these sessions are signalled.
    private async Task EndOnThisMachineAsync(List<ContainerTerminal> terminals)
    {
        var byMarker = terminals.ToDictionary(t => t.Marker, StringComparer.Ordinal);
        var found = _supervisor.FindMarkedProcesses(TtydProcessDiscovery.MarkerPrefix, TtydProcessDiscovery.ExecMarker, terminals.Count == 1 ? terminals[0].Marker : null)
            .Where(p => byMarker.ContainsKey(p.Markers[TtydProcessDiscovery.ExecMarker]))
            .ToList();
        await Task.WhenAll(found.Select(async leftover =>
        {
            try
            {
                await _supervisor.StopAsync(leftover.Process, LeftoverGracePeriod, CancellationToken.None).ConfigureAwait(false);
            }
            catch (ProcessStopException e)
            {
                Log.ExecStopFailed(_logger, e, byMarker[leftover.Markers[TtydProcessDiscovery.ExecMarker]].Container, leftover.Process.ProcessId);
            }
        })).ConfigureAwait(false);
    }

    // Inside the container, through the engine: find the processes whose environment carries one of the markers (passed as
    // arguments, never put into the script's text), hang them up, then kill what is left after the grace period. Needs
    // sh, tr, kill and sleep in the image (busybox or coreutils have them); where an image has none, the leftovers stay
    // until the container stops, and the log says so.
    internal const string EndScript =
        "found=''; for d in /proc/[0-9]*; do p=${d#/proc/}; [ \"$p\" = \"$$\" ] && continue; " +
        "e=$(tr '\\000' '\\n' < \"$d/environ\" 2>/dev/null) || continue; " +
        "for m in \"$@\"; do case \"$e\" in *\"TTYDPORTS_EXEC=$m\"*) found=\"$found $p\";; esac; done; done; " +
        "[ -z \"$found\" ] && exit 0; kill -HUP $found 2>/dev/null; kill -TERM $found 2>/dev/null; i=0; " +
        "while [ $i -lt 10 ]; do alive=''; for p in $found; do [ -d /proc/$p ] && alive=\"$alive $p\"; done; " +
        "[ -z \"$alive\" ] && exit 0; sleep 0.1 2>/dev/null || sleep 1; i=$((i+1)); done; kill -KILL $alive 2>/dev/null; exit 0";

    private async Task EndInContainerAsync(string container, string containerId, string? user, string[] markers, CancellationToken cancellationToken)
    {
        try
        {
            var (code, output) = await Api.RunAsync(containerId, ["sh", "-c", EndScript, "ttydports-end", .. markers], user, cancellationToken).ConfigureAwait(false);
            if (code != 0)
            {
                Log.LeftoversNotEnded(_logger, container, Endpoint, $"exit code {code}: {output.Trim()}");
            }
        }
        catch (ContainerEngineException e)
        {
            // A container removed meanwhile took its processes with it; anything else is worth a line.
            Log.LeftoversNotEnded(_logger, container, Endpoint, e.Message);
        }
    }

    public void Dispose() => Api.Dispose();
}
