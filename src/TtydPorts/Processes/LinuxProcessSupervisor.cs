using System.Collections.Concurrent;
using System.Collections.Immutable;
using System.Net;
using System.Net.Sockets;
using System.Runtime.InteropServices;

namespace TtydPorts;

/// <summary>
/// Default <see cref="IProcessSupervisor"/> for Linux. Starts processes with <c>posix_spawn</c> in a session of
/// their own (so a Ctrl+C at the host's terminal does not reach them, and they can outlive the host), with
/// default signal dispositions, standard input from <c>/dev/null</c>, and output to a log file rather than a pipe
/// that would break, or fill up, when nobody reads it. Reads liveness and start times from <c>/proc</c>.
/// </summary>
internal sealed class LinuxProcessSupervisor : IProcessSupervisor, IProcessEvents, IDisposable
{
    private static readonly TimeSpan KillWait = TimeSpan.FromSeconds(5);

    // Children spawned by this process: only we can collect them, and a collected child's exit code is kept
    // for the start error that reports it.
    private readonly ConcurrentDictionary<int, int?> _children = new();

    // A pidfd per process being watched: liveness is one poll and signals cannot hit a recycled PID.
    private readonly ConcurrentDictionary<ProcessIdentity, PidFd> _handles = new();

    // Exits, stops and continues of watched processes, collected from the kernel when status asks.
    private readonly ProcessEvents _events = new();

    /// <summary>
    /// Creates the supervisor. It waits on real processes, so it keeps real time even where the host registers a
    /// fake <see cref="TimeProvider"/> to move the manager's clock.
    /// </summary>
    public LinuxProcessSupervisor()
    {
    }

    // How often a starting process is asked whether it is ready, in microseconds (the benchmarks try other values).
    internal static uint ReadinessInterval { get; set; } = Ticker.FineInterval;

    // How many starts may wait for readiness on their own thread at once (the benchmarks try other values), and for how long.
    internal static int MaxInlineWaits { get; set; } = 1;

    private static readonly TimeSpan InlineWaitLimit = TimeSpan.FromMilliseconds(20);
    private static int _inlineWaits;

    // A lone start waits on its own thread, polling at the readiness interval for at most InlineWaitLimit (ttyd is
    // ready in about 4 ms): the answer is seen by the thread that goes on with it, without the hop to the ticker
    // thread and back through the thread pool, each a wake-up that a busy machine makes late. One thread (a pool
    // thread, blocked for a few milliseconds) at most; concurrent starts, and a start that takes longer, go on to
    // the ticker. False when the condition does not hold yet.
    private static bool WaitInline(Func<bool> settled, CancellationToken cancellationToken)
    {
        if (Interlocked.Increment(ref _inlineWaits) > MaxInlineWaits)
        {
            Interlocked.Decrement(ref _inlineWaits);
            return false;
        }

        try
        {
            var started = System.Diagnostics.Stopwatch.GetTimestamp();
            while (!settled())
            {
                cancellationToken.ThrowIfCancellationRequested();
                if (System.Diagnostics.Stopwatch.GetElapsedTime(started) >= InlineWaitLimit)
                {
                    return false;
                }

                _ = Native.usleep(ReadinessInterval);
            }

            return true;
        }
        finally
        {
            Interlocked.Decrement(ref _inlineWaits);
        }
    }

    /// <inheritdoc />
    public async Task<ProcessIdentity> StartAsync(ProcessLaunch launch, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(launch);
        cancellationToken.ThrowIfCancellationRequested();
        var pid = Spawn(launch);
        _children[pid] = null;
        var identity = ProcFs.ReadStat(pid) is { } stat ? new ProcessIdentity(pid, stat.StartTime) : new ProcessIdentity(pid, 0);

        // Our unreaped child cannot lose its PID, so this handle is certainly on it.
        if (PidFd.Open(pid) is { } handle && !_handles.TryAdd(identity, handle))
        {
            handle.Dispose();
        }

        try
        {
            // Something accepting on the port is not enough: a foreign listener may have taken it between the port probe
            // and our bind. Ready means the socket that accepts belongs to this process. (A Unix socket lives in the
            // manager's private folder, where nobody else can put one.)
            var ready = false;
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            timeout.CancelAfter(launch.ReadyTimeout);

            // Never a blocking connect: these checks run on the ticker thread that every concurrent start shares.
            using var probe = new ConnectProbe(launch.ReadyEndpoint);
            try
            {
                // Not stopped either: the kernel takes connections into a frozen (SIGSTOP) listener's backlog, so accepting
                // alone would hand out a process that never answers; one frozen at start fails it as not ready.
                bool Settled() => !IsAlive(identity)
                    || (ready = probe.Accepts() && (launch.ReadyEndpoint is not IPEndPoint tcp || ProcFs.OwnsListeningSocket(pid, tcp.Port))
                        && !IsStopped(identity));
                if (!WaitInline(Settled, timeout.Token))
                {
                    await Ticker.Shared.WhenAsync(Settled, ReadinessInterval, timeout.Token).ConfigureAwait(false);
                }
            }
            catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
            {
                throw new ProcessLaunchException(
                    LaunchFailure.Timeout,
                    $"'{launch.FileName}' (pid {pid}) {(IsStopped(identity) ? "was stopped (SIGSTOP) and did not serve" : "did not accept connections")} on {launch.ReadyEndpoint} within {launch.ReadyTimeout}. Its output: {ReadTail(launch)}",
                    null,
                    ReadTail(launch) ?? "");
            }

            if (ready)
            {
                return identity;
            }

            _children.TryRemove(pid, out var exitCode);
            var output = ReadTail(launch);
            throw new ProcessLaunchException(
                LaunchFailure.ExitedEarly,
                $"'{launch.FileName}' exited with code {exitCode?.ToString(System.Globalization.CultureInfo.InvariantCulture) ?? "?"} before {launch.ReadyEndpoint} accepted connections." +
                (string.IsNullOrWhiteSpace(output) ? "" : $" Its output: {output}"),
                exitCode,
                output ?? "");
        }
        catch (Exception e) when (e is not ProcessLaunchException { Failure: LaunchFailure.ExitedEarly })
        {
            // Timed out or cancelled: nothing half-started is left behind.
            await StopAsync(identity, TimeSpan.Zero, CancellationToken.None).ConfigureAwait(false);
            throw;
        }
    }

    /// <inheritdoc />
    public bool IsAlive(ProcessIdentity process)
    {
        if (_handles.TryGetValue(process, out var handle))
        {
            if (!handle.HasExited)
            {
                return true;
            }

            Forget(process);
            Reap(process.ProcessId);
            return false;
        }

        Reap(process.ProcessId);
        return Track(process, out _);
    }

    /// <inheritdoc />
    public bool IsStopped(ProcessIdentity process) =>
        _handles.TryGetValue(process, out var handle) ? handle.IsStopped
        : ProcFs.ReadStat(process.ProcessId) is { State: 'T' or 't' } stat && stat.StartTime == process.StartTime;

    /// <inheritdoc />
    public ProcessWatch? Watch(ProcessIdentity process) =>
        IsAlive(process) && _handles.TryGetValue(process, out var handle)
            ? _events.Watch(handle, process.ProcessId, child: _children.TryGetValue(process.ProcessId, out var code) && code is null) // unreaped: certainly this process
            : null;

    /// <inheritdoc />
    public void Refresh() => _events.Refresh();

    // Verifies the process by PID and start time and, where pidfds exist, keeps a handle on it from then on.
    private bool Track(ProcessIdentity process, out PidFd? handle)
    {
        handle = null;
        if (!Matches(process))
        {
            return false;
        }

        if (PidFd.Open(process.ProcessId) is not { } opened)
        {
            return true; // no pidfds on this kernel: the /proc check above is the answer
        }

        // The PID may have been recycled between the check and the open: check again through the handle's eyes.
        if (opened.HasExited || !Matches(process))
        {
            opened.Dispose();
            return false;
        }

        handle = _handles.GetOrAdd(process, opened);
        if (handle != opened)
        {
            opened.Dispose();
        }

        return true;
    }

    private static bool Matches(ProcessIdentity process) =>
        ProcFs.ReadStat(process.ProcessId) is { } stat && !stat.HasExited && stat.StartTime == process.StartTime;

    private void Forget(ProcessIdentity process)
    {
        if (_handles.TryRemove(process, out var handle))
        {
            handle.Dispose();
        }
    }

    /// <inheritdoc />
    public async Task<bool> StopAsync(ProcessIdentity process, TimeSpan gracePeriod, CancellationToken cancellationToken = default)
    {
        if (!IsAlive(process))
        {
            _children.TryRemove(process.ProcessId, out _);
            Forget(process);
            return false;
        }

        // The tree is taken before the first signal: once ttyd exits, its children are reparented and no longer
        // recognisable as its own.
        var tree = CollectTree(process);
        Signal(process, Native.SIGTERM);
        Signal(process, Native.SIGCONT); // a stopped process would hold SIGTERM pending until the grace period ran out
        if (!await WaitAllExitedAsync(tree, gracePeriod, cancellationToken).ConfigureAwait(false))
        {
            foreach (var member in tree)
            {
                Signal(member, Native.SIGKILL);
            }

            if (!await WaitAllExitedAsync(tree, KillWait, CancellationToken.None).ConfigureAwait(false))
            {
                var alive = string.Join(", ", tree.Where(IsAlive).Select(p => p.ProcessId));
                throw new ProcessStopException($"Processes {alive} of the tree of pid {process.ProcessId} survived SIGKILL.");
            }
        }

        _children.TryRemove(process.ProcessId, out _);
        tree.ForEach(Forget);
        return true;
    }

    /// <inheritdoc />
    public IReadOnlyList<MarkedProcess> FindMarkedProcesses(string markerPrefix, string markerName, string? markerValue = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(markerPrefix);
        ArgumentException.ThrowIfNullOrEmpty(markerName);
        var found = new List<MarkedProcess>();
        bool Matches(Dictionary<string, string>? markers) =>
            markers is not null && markers.TryGetValue(markerName, out var value) && (markerValue is null || value == markerValue);

        foreach (var pid in ProcFs.EnumeratePids())
        {
            // Most processes carry no marker: one read. A marked one is read again between two looks at its start time, so
            // that markers, owner, executable and namespace all belong to the process the identity names: a marked process
            // that exited with its PID taken by another in between would otherwise lend that one its markers (and its tree
            // the stop's signals).
            if (!Matches(ProcFs.ReadEnvironment(pid, markerPrefix))
                || ProcFs.ReadStat(pid) is not { HasExited: false } before
                || ProcFs.ReadEnvironment(pid, markerPrefix) is not { } markers || !Matches(markers))
            {
                continue;
            }

            var marked = new MarkedProcess
            {
                Process = new ProcessIdentity(pid, before.StartTime),
                ParentProcessId = before.ParentId,
                Markers = markers,
                OwnerUid = ProcFs.ReadOwner(pid),
                ExecutablePath = ProcFs.ReadExecutable(pid),
                MountNamespace = ProcFs.ReadMountNamespace(pid),
            };
            if (ProcFs.ReadStat(pid) is { HasExited: false } after && after.StartTime == before.StartTime)
            {
                found.Add(marked);
            }
        }

        return found;
    }

    private List<ProcessIdentity> CollectTree(ProcessIdentity root)
    {
        var tree = new List<ProcessIdentity> { root };
        for (var i = 0; i < tree.Count; i++)
        {
            foreach (var child in ProcFs.ReadChildren(tree[i].ProcessId))
            {
                if (ProcFs.ReadStat(child) is { HasExited: false } stat)
                {
                    tree.Add(new ProcessIdentity(child, stat.StartTime));
                }
            }
        }

        return tree;
    }

    // Signals only the process it identifies: a PID that was recycled since is left alone.
    private void Signal(ProcessIdentity process, int signal)
    {
        if (!IsAlive(process))
        {
            return;
        }

        var sent = _handles.TryGetValue(process, out var handle)
            ? handle.Signal(signal)
            : Native.kill(process.ProcessId, signal) == 0; // no pidfds on this kernel: checked by start time just above
        if (!sent && Marshal.GetLastPInvokeError() != Native.ESRCH)
        {
            throw new ProcessStopException($"Could not send signal {signal} to pid {process.ProcessId}: errno {Marshal.GetLastPInvokeError()}.");
        }
    }

    // The kernel says when each process exits (a pidfd turns readable); the wait costs nothing while they run.
    private async Task<bool> WaitAllExitedAsync(List<ProcessIdentity> tree, TimeSpan timeout, CancellationToken cancellationToken)
    {
        var handles = new List<PidFd>();
        foreach (var member in tree)
        {
            if (!IsAlive(member))
            {
                continue;
            }

            if (!_handles.TryGetValue(member, out var handle))
            {
                return await PollAllExitedAsync(tree, timeout, cancellationToken).ConfigureAwait(false); // no pidfds on this kernel
            }

            handles.Add(handle);
        }

        if (handles.Count > 0 && !await ExitWaiter.Shared.WhenAllExitedAsync(handles, timeout, cancellationToken).ConfigureAwait(false))
        {
            return false;
        }

        // Reaps our own child and closes the handles; a member without a handle (opened too late) is checked by /proc.
        return !tree.Exists(IsAlive) || await PollAllExitedAsync(tree, timeout, cancellationToken).ConfigureAwait(false);
    }

    private async Task<bool> PollAllExitedAsync(List<ProcessIdentity> tree, TimeSpan timeout, CancellationToken cancellationToken)
    {
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        deadline.CancelAfter(timeout);
        try
        {
            await Ticker.Shared.WhenAsync(() => !tree.Exists(IsAlive), deadline.Token).ConfigureAwait(false);
            return true;
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            return false;
        }
    }

    private void Reap(int pid)
    {
        if (_children.TryGetValue(pid, out var code) && code is null
            && Native.waitpid(pid, out var status, Native.WNOHANG) == pid)
        {
            // WIFEXITED: low 7 bits zero, exit code in the next byte; otherwise 128 + the signal, as shells report it.
            _children[pid] = (status & 0x7f) == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f);
        }
    }

    // The output is scrubbed here, where it is read, so that no layer above (exceptions, LastError, logs, HTTP
    // bodies) ever holds a secret. Scrubbed before it is cut to its tail, so no fragment of a secret survives the cut.
    private static string? ReadTail(ProcessLaunch launch)
    {
        if (launch.LogPath is not { } path)
        {
            return null;
        }

        string text;
        try
        {
            using var file = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite);
            file.Seek(Math.Max(0, file.Length - 65536), SeekOrigin.Begin);
            using var reader = new StreamReader(file);
            text = reader.ReadToEnd();
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return null;
        }

        text = Redact(text, launch.Secrets);
        return text.Length > 2000 ? text[^2000..].Trim() : text.Trim();
    }

    internal static string Redact(string text, ImmutableArray<string> secrets)
    {
        // Longest first, so that a secret containing another is replaced whole.
        foreach (var secret in secrets.Where(s => !string.IsNullOrEmpty(s)).OrderByDescending(s => s.Length))
        {
            text = text.Replace(secret, "***", StringComparison.Ordinal);
        }

        return text;
    }

    private static unsafe int Spawn(ProcessLaunch launch)
    {
        var argv = new List<string>(launch.Arguments.Length + 1) { launch.FileName };
        argv.AddRange(launch.Arguments);
        // The launch's environment is the whole environment: nothing of the host's is inherited. Markers first.
        var env = TtydProcessDiscovery.MarkersFirst(launch.Environment).ToList();

        var strings = new List<IntPtr>();
        var fileActions = NativeMemory.AllocZeroed(Native.FileActionsSize);
        var attributes = NativeMemory.AllocZeroed(Native.SpawnAttrSize);
        var sigset = NativeMemory.AllocZeroed(Native.SigSetSize);
        var argvPtr = (byte**)NativeMemory.AllocZeroed((nuint)(argv.Count + 1), (nuint)sizeof(byte*));
        var envPtr = (byte**)NativeMemory.AllocZeroed((nuint)(env.Count + 1), (nuint)sizeof(byte*));
        try
        {
            for (var i = 0; i < argv.Count; i++)
            {
                argvPtr[i] = Utf8(argv[i], strings);
            }

            var n = 0;
            foreach (var (key, value) in env)
            {
                // Named, never quoted: a value may be a secret.
                envPtr[n++] = !key.Contains('\0', StringComparison.Ordinal) && !value.Contains('\0', StringComparison.Ordinal)
                    ? Utf8($"{key}={value}", strings)
                    : throw new ArgumentException($"Environment variable {SessionIds.Quote(key)} contains a NUL character.", nameof(launch));
            }

            Check(Native.posix_spawn_file_actions_init(fileActions), "posix_spawn_file_actions_init");
            Check(Native.posix_spawn_file_actions_addopen(fileActions, 0, "/dev/null", Native.O_RDONLY, 0), "addopen stdin");
            Check(Native.posix_spawn_file_actions_addopen(fileActions, 1, launch.LogPath ?? "/dev/null", Native.O_WRONLY | Native.O_CREAT | Native.O_APPEND, 0x180 /* 0600 */), "addopen stdout");
            Check(Native.posix_spawn_file_actions_adddup2(fileActions, 1, 2), "adddup2 stderr");
            Check(Native.posix_spawnattr_init(attributes), "posix_spawnattr_init");

            // .NET ignores SIGPIPE and blocks some signals; the child must start with the defaults.
            Check(Native.posix_spawnattr_setflags(attributes, Native.POSIX_SPAWN_SETSID | Native.POSIX_SPAWN_SETSIGDEF | Native.POSIX_SPAWN_SETSIGMASK), "setflags");
            Native.sigfillset(sigset);
            Check(Native.posix_spawnattr_setsigdefault(attributes, sigset), "setsigdefault");
            Native.sigemptyset(sigset);
            Check(Native.posix_spawnattr_setsigmask(attributes, sigset), "setsigmask");

            var error = Native.posix_spawnp(out var pid, launch.FileName, fileActions, attributes, argvPtr, envPtr);
            if (error != 0)
            {
                throw new ProcessLaunchException(
                    LaunchFailure.NotExecutable,
                    $"Cannot run '{launch.FileName}': {Marshal.GetPInvokeErrorMessage(error)} (errno {error}). Install it or set its path in the options.",
                    null,
                    "");
            }

            return pid;
        }
        finally
        {
            Native.posix_spawn_file_actions_destroy(fileActions);
            Native.posix_spawnattr_destroy(attributes);
            foreach (var s in strings)
            {
                Marshal.FreeCoTaskMem(s);
            }

            NativeMemory.Free(argvPtr);
            NativeMemory.Free(envPtr);
            NativeMemory.Free(fileActions);
            NativeMemory.Free(attributes);
            NativeMemory.Free(sigset);
        }
    }

    private static unsafe byte* Utf8(string value, List<IntPtr> owned)
    {
        if (value.Contains('\0', StringComparison.Ordinal))
        {
            throw new ArgumentException($"Argument {SessionIds.Quote(value)} contains a NUL character.", nameof(value));
        }

        var ptr = Marshal.StringToCoTaskMemUTF8(value);
        owned.Add(ptr);
        return (byte*)ptr;
    }

    private static void Check(int result, string call)
    {
        if (result != 0)
        {
            throw new ProcessLaunchException(LaunchFailure.NotExecutable, $"{call} failed with errno {result}.", null, "");
        }
    }


    /// <summary>Closes the process handles; the processes themselves are not touched.</summary>
    public void Dispose()
    {
        _events.Dispose();
        foreach (var process in _handles.Keys)
        {
            Forget(process);
        }
    }
}
