using System.Collections.Concurrent;
using System.Collections.Immutable;
using System.Diagnostics;
using System.Diagnostics.Metrics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Runtime.ExceptionServices;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;

namespace TtydPorts;

/// <summary>
/// Default <see cref="ITtydSessionManager"/>. Sessions live in a per-container slot whose gate serialises
/// creation and stopping for that container only, so concurrent calls for one container start one ttyd while
/// calls for other containers go on in parallel. The reuse path takes no lock and reads one <c>/proc</c> file.
/// </summary>
internal sealed class TtydSessionManager : ITtydSessionManager, IObserverTerminals, IContainerGuesses, IAsyncDisposable, IDisposable
{
    private readonly IPortAllocator _ports;
    private readonly IProcessSupervisor _supervisor;
    private readonly IContainerRuntime _runtime;
    private readonly TtydSessionOptions _options;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly RuntimeFolder _folder;
    private readonly InstanceKey _key;
    private bool _keyRestoreFailed; // said once until the key file is back (RestoreKeyFile)
    private readonly RuntimeFolder? _recordings;
    private readonly TtydLaunchBuilder _launch;
    private readonly TtydPortsMetrics _metrics;
    private readonly ListenerProbe _listeners;

    // Repair's HTTP round trip to each ttyd; unit tests, whose processes are mocks, replace it.
    internal Func<TtydSession, CancellationToken, Task<bool>> AnswersProbe { get; set; }

    // The health model's questions about ports, asked of the machine; unit tests, whose processes are mocks, replace them.
    internal Func<int, bool> IsPortListening { get; set; }

    internal Func<IReadOnlyDictionary<int, int>> CountPortClients { get; set; }
    private readonly ConcurrentDictionary<string, SessionSlot> _slots = new(StringComparer.Ordinal);

    // The creates on the slow path, for the cleanups that must win over them (PendingCreate).
    private readonly ConcurrentDictionary<PendingCreate, byte> _creates = new();

    // Moved on whenever a slot is added or removed: status keeps its sorted order until then.
    private int _slotsVersion;
    private volatile SlotOrder? _order;
    private readonly Lock _adoptLock = new();
    private readonly SessionLimits _limits;
    private readonly RecentContainers _recent = new();
    private volatile bool _adopted;

    // What an earlier run left for sessions whose ttyd is gone, found while adopting; stopped once, right after.
    private SessionProcesses.Leftover[] _leftovers = [];
    private volatile string? _lastError;

    /// <summary>Creates the manager from its parts.</summary>
    public TtydSessionManager(
        IPortAllocator ports,
        IProcessSupervisor supervisor,
        IContainerRuntime runtime,
        IOptions<TtydSessionOptions> options,
        TimeProvider timeProvider,
        ILogger<TtydSessionManager>? logger = null,
        IMeterFactory? meterFactory = null)
    {
        ArgumentNullException.ThrowIfNull(ports);
        ArgumentNullException.ThrowIfNull(supervisor);
        ArgumentNullException.ThrowIfNull(runtime);
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(timeProvider);
        _ports = ports;
        _supervisor = supervisor;
        _runtime = runtime;
        _options = options.Value;
        _time = timeProvider;
        _logger = logger ?? NullLogger<TtydSessionManager>.Instance;
        _limits = new SessionLimits(_options.MaxSessions, _options.MaxSessionsPerUser);
        _folder = new RuntimeFolder(_options.RuntimeDirectory ?? RuntimeFolder.DefaultPath(), Native.geteuid());
        _key = new InstanceKey(_folder, _options.InstanceName);
        _recordings = _options.RecordingDirectory is { } recordings && _options.PersistentShells ? RuntimeFolder.ForRecordings(recordings, Native.geteuid()) : null;
        _launch = new TtydLaunchBuilder(_options, _folder.Path, _runtime, Environment.GetEnvironmentVariable);
        _listeners = new ListenerProbe(_launch.Address);
        IsPortListening = _listeners.IsListening;
        CountPortClients = () => ListenerProbe.CountEstablishedConnections(_ports.RangeStart, _ports.RangeEnd);
        AnswersProbe = (session, ct) => SessionHealth.AnswersAsync(session, _launch.Address, _options.ResponseTimeout, ct);
        _metrics = new TtydPortsMetrics(meterFactory, () => _limits.Count, () => _ports.ReservedCount);
        if (!_launch.UseCredentials)
        {
            Log.UnauthenticatedTerminals(_logger, _options.BindAddress);
        }
    }

    /// <inheritdoc />
    public ValueTask<TtydSession?> EnsureSessionAsync(string container, string userId, string? topologyId = null, CancellationToken cancellationToken = default) =>
        EnsureSessionAsync(container, userId, topologyId, NoRequest, cancellationToken);

    private static readonly TerminalRequest NoRequest = new();

    /// <inheritdoc />
    public ValueTask<TtydSession?> EnsureSessionAsync(string container, string userId, string? topologyId, TerminalRequest request, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(request);
        if (request.Command is not null)
        {
            TerminalCommand.ThrowIfInvalid(request.Command, nameof(request));
        }

        SessionIds.ThrowIfInvalidContainerName(container, nameof(container));
        SessionIds.ThrowIfInvalidId(userId, nameof(userId));
        if (topologyId is not null)
        {
            SessionIds.ThrowIfInvalidId(topologyId, nameof(topologyId));
        }

        if (_slots.TryGetValue(container, out var slot) && slot.Current is { } current && IsHealthy(current)
            && (request.Command is null || request.Command.Equals(current.Session.Command)))
        {
            ThrowIfConflict(current.Session, userId, topologyId);
            _metrics.Started("reused");
            if (_logger.IsEnabled(LogLevel.Debug))
            {
                Log.SessionReused(_logger, container, Log.EndpointOf(current.Session), current.Session.ProcessId);
            }

            return new(current.Session);
        }

        return new(EnsureSlowAsync(container, userId, topologyId, request.Command, cancellationToken));
    }

    private async Task<TtydSession?> EnsureSlowAsync(string container, string userId, string? topologyId, TerminalCommand? command, CancellationToken cancellationToken)
    {
        using var activity = TtydPortsActivities.StartCreate(container, topologyId);
        try
        {
            return await EnsureSlowAsync(container, userId, topologyId, command, activity, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception e)
        {
            TtydPortsActivities.Failed(activity, e);
            throw;
        }
    }

    private async Task<TtydSession?> EnsureSlowAsync(string container, string userId, string? topologyId, TerminalCommand? command, Activity? activity, CancellationToken cancellationToken)
    {
        // Known to every cleanup from here until it hands a session out or fails: one that matches it revokes it, and this
        // create then hands nothing out and stops what it started (PendingCreate), so no terminal outlives that cleanup.
        using var pending = new PendingCreate(container, userId, topologyId, cancellationToken);
        _creates.TryAdd(pending, 0);
        try
        {
            return await EnsureSlowAsync(container, userId, topologyId, command, activity, pending, pending.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested && pending.RevokedBy is { } revocation)
        {
            throw CleanedUp(container, revocation); // its caller did not give up: the cleanup it lost to is the answer
        }
        finally
        {
            _creates.TryRemove(pending, out _);
            pending.End();
        }
    }

    private static SessionCleanedUpException CleanedUp(string container, PendingCreate.Revocation revocation, Exception? stopFailure = null) =>
        new(container, revocation.Reason,
            $"Container '{container}' got no terminal: {revocation.Cleanup} ran while it was being created, and the cleanup wins; "
            + (stopFailure is null ? "what the create had started was stopped." : "stopping what the create had started failed (inner exception), and the cleanup reports it."),
            stopFailure);

    private async Task<TtydSession?> EnsureSlowAsync(string container, string userId, string? topologyId, TerminalCommand? command, Activity? activity, PendingCreate pending, CancellationToken cancellationToken)
    {
        // A start must never race a process an earlier run left for the same container: adopt first if the host has
        // not (the hosted service does it at start; a manager used without a host does it here).
        EnsureAdopted();
        await StopLeftoversAsync().ConfigureAwait(false);
        while (true)
        {
            var slot = SlotFor(container);
            await slot.Gate.WaitAsync(cancellationToken).ConfigureAwait(false);
            try
            {
                if (!_slots.TryGetValue(container, out var registered) || registered != slot)
                {
                    continue; // emptied and dropped while we waited; take the current slot
                }

                // Before anything is handed out: a cleanup that finds this create handed out waits for this gate.
                pending.Slot = slot;
                if (pending.RevokedBy is { } revokedEarly)
                {
                    throw CleanedUp(container, revokedEarly);
                }

                if (slot.Current is { } existing)
                {
                    if (existing.Stale)
                    {
                        // Bound to a container that is gone: never handed out, whoever asks for the name now.
                        Log.SessionStale(_logger, container, existing.Session.ProcessId, existing.Session.ContainerId ?? "(not recorded)");
                        Log.SessionReplaced(_logger, container, Log.EndpointOf(existing.Session), existing.Session.ProcessId, "its container is gone or the name means another one");
                        await StopEntryAsync(existing, StopReason.Replaced).ConfigureAwait(false);
                        slot.Current = null;
                    }
                    else if (IsHealthy(existing) && command is not null && !command.Equals(existing.Session.Command))
                    {
                        // Same owner, another command (another owner is a conflict, below): the host asked for this one
                        // now, so the old terminal is replaced, never handed out with the wrong program.
                        ThrowIfConflict(existing.Session, userId, topologyId);
                        Log.CommandReplaced(_logger, container, existing.Session.Command?.ToString() ?? "(not recorded)", command.ToString());
                        Log.SessionReplaced(_logger, container, Log.EndpointOf(existing.Session), existing.Session.ProcessId, "another command was asked for");
                        await StopEntryAsync(existing, StopReason.Replaced).ConfigureAwait(false);
                        slot.Current = null;
                    }
                    else if (IsHealthy(existing))
                    {
                        ThrowIfConflict(existing.Session, userId, topologyId);
                        if (!pending.TryHandOut())
                        {
                            throw CleanedUp(container, pending.RevokedBy!); // the cleanup stops this session once it has the gate
                        }

                        _metrics.Started("reused");
                        TtydPortsActivities.Created(activity, "reused", existing.Session);
                        Log.SessionReused(_logger, container, Log.EndpointOf(existing.Session), existing.Session.ProcessId);
                        return existing.Session;
                    }
                    else
                    {
                        var endpoint = Log.EndpointOf(existing.Session);
                        if (existing.Unfit)
                        {
                            Log.SessionReplaced(_logger, container, endpoint, existing.Session.ProcessId, "adopted from a run with other options");
                        }
                        else
                        {
                            var state = Health(existing.Session);
                            Log.SessionUnhealthy(_logger, container, endpoint, existing.Session.ProcessId, state);
                            Log.SessionReplaced(_logger, container, endpoint, existing.Session.ProcessId, $"its ttyd is {state}");
                        }
                        await StopEntryAsync(existing, StopReason.Dead).ConfigureAwait(false);
                        slot.Current = null;
                    }
                }

                if (slot.Current is null)
                {
                    Log.SessionMissing(_logger, container, Log.TopologyOf(topologyId));
                }

                var started = await StartAsync(container, userId, topologyId, command, cancellationToken).ConfigureAwait(false);

                // Decided before the session is in the slot, where the reuse path could hand it out: a cleanup that matched
                // this create came first, so what it started is stopped here, under the gate the cleanup waits for.
                if (!pending.TryHandOut())
                {
                    var revocation = pending.RevokedBy!;
                    if (started is not null)
                    {
                        started.Stale = true; // never handed out, also while it stops or should its stop fail (then repair does)
                        slot.Current = started;
                        try
                        {
                            await StopEntryAsync(started, revocation.Reason).ConfigureAwait(false);
                        }
                        catch (TtydPortsException e)
                        {
                            // The caller is still told that the cleanup won (the stop's failure inside); the cleanup reports it.
                            pending.StopFailed = new StopFailure { Session = started.Session, Error = e };
                            throw CleanedUp(container, revocation, e);
                        }

                        slot.Current = null;
                    }

                    throw CleanedUp(container, revocation);
                }

                slot.Current = started;

                // The engine may have reported the container removed while this create ran, after its answer: the removal's
                // scan of the slots cannot have seen a session not in one yet. In the slot first, then asked: either the
                // scan sees the session, or this sees the removal.
                Interlocked.MemoryBarrier();
                if (slot.Current is { Session.ContainerId: { } id } created && _recent.WasRemoved(id))
                {
                    created.Stale = true; // never handed out, also while it stops or should its stop fail
                    await StopEntryAsync(created, StopReason.Orphan).ConfigureAwait(false);
                    slot.Current = null;
                    throw new ContainerNotFoundException(container);
                }

                TtydPortsActivities.Created(activity, slot.Current is null ? "refused" : "created", slot.Current?.Session);
                return slot.Current?.Session;
            }
            finally
            {
                if (slot.Current is null)
                {
                    RemoveSlot(container, slot);
                }

                slot.Gate.Release();
            }
        }
    }

    private async Task<SessionEntry?> StartAsync(string container, string userId, string? topologyId, TerminalCommand? requested, CancellationToken cancellationToken)
    {
        // A container seen running under this name before (RecentContainers: earlier answers, the repair pass's list, the
        // engine's start events) gets its start prepared while the engine answers, and kept only if the answer confirms the
        // guess. On a socket in the private folder ttyd itself is started at once (it takes ~5 ms to listen, the answer
        // 0.3-0.7 ms): nobody but the manager can connect to it, so nothing runs its command before the answer. A TCP
        // ttyd's credential is on its command line, which local users can read: in direct mode everything up to the spawn
        // is done on the guess, and the spawn waits for the answer. Taken before the lookup, which records its answer.
        var guess = _recent.Guess(container);

        // The engine's answer is a round trip. Meanwhile this thread prepares what does not depend on the container, read
        // only: without a guess nothing is created for a container that may not exist, and whatever is not ready (no
        // folder or key yet, a folder that fails its check) is done after the answer exactly as before. (A start on a
        // guess may create the instance's key and check the recordings folder before the answer: per instance, not per
        // container.)
        var lookup = LookupAsync(container, cancellationToken);
        var answered = lookup.IsCompleted;
        var early = answered ? default : Prepare();
        var report = new StartReport();
        if (!answered && guess is not null)
        {
            // An answer that does not confirm the guess (or no answer) ends the start on the guess at once, not once ttyd is
            // ready. A failed lookup is observed here too: a start that fails or is refused before it needs the answer
            // leaves it to nobody.
            using var refuted = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            _ = lookup.ContinueWith(
                static (t, state) =>
                {
                    var (source, guessed) = ((CancellationTokenSource, ContainerInfo))state!;
                    _ = t.Exception;
                    if (!(t.IsCompletedSuccessfully && RecentContainers.Confirms(guessed, t.Result)))
                    {
                        try
                        {
                            // Callbacks on the pool: the start's own cleanup must not run on the engine client's thread.
                            _ = source.CancelAsync();
                        }
                        catch (ObjectDisposedException)
                        {
                            // the start on the guess is over already
                        }
                    }
                },
                (refuted, guess),
                CancellationToken.None,
                TaskContinuationOptions.ExecuteSynchronously,
                TaskScheduler.Default);

            ExceptionDispatchInfo? failure = null;
            var outcome = (Started: false, Entry: (SessionEntry?)null);
            try
            {
                outcome = await StartAsync(container, userId, topologyId, requested, guess, lookup, early, report, refuted.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
            {
                Report(report);
                throw;
            }
            catch (OperationCanceledException) when (refuted.IsCancellationRequested)
            {
                // refuted: what it started is stopped
            }
            catch (Exception e)
            {
                failure = ExceptionDispatchInfo.Capture(e);
            }

            // A session, or a refusal (no port) or failure on the guess, stands only if the engine confirms the guess;
            // otherwise the engine's answer (or its failure) decides, as if there had been no guess: a container gone is
            // "not found", not a full limit. Counted once, for the attempt that stands.
            if (outcome.Entry is not null || ((failure is not null || outcome.Started) && await ConfirmedAsync(guess, lookup, cancellationToken).ConfigureAwait(false)))
            {
                Report(report);
                failure?.Throw();
                return outcome.Entry;
            }

            // The guess was wrong (the name means another container now, or none), or the engine did not answer: as if
            // there had been no guess (an engine failure is then counted and thrown by the start on the answer).
            report = new StartReport();
        }

        // A refuted guess is said whichever path ran (the engine may answer before a guess is needed: a thread preempted
        // right after sending the inspect).
        if (guess is not null && lookup.IsCompletedSuccessfully && !RecentContainers.Confirms(guess, lookup.Result))
        {
            Log.ContainerGuessWrong(_logger, container, guess.Id);
        }

        try
        {
            return (await StartAsync(container, userId, topologyId, requested, null, lookup, early, report, cancellationToken).ConfigureAwait(false)).Entry;
        }
        finally
        {
            Report(report);
        }
    }

    // Whether the engine's answer confirms the guess; an engine that failed confirms nothing. WaitAsync: an inventory of the
    // host's own that ignores the token must not hold a started ttyd, or the create, for good.
    private static async Task<bool> ConfirmedAsync(ContainerInfo guess, Task<ContainerInfo?> lookup, CancellationToken cancellationToken)
    {
        try
        {
            return RecentContainers.Confirms(guess, await lookup.WaitAsync(cancellationToken).ConfigureAwait(false));
        }
        catch (ContainerEngineException)
        {
            return false;
        }
    }

    // The engine's answer for a name, remembered as the next create's guess.
    private async Task<ContainerInfo?> LookupAsync(string container, CancellationToken cancellationToken)
    {
        var asked = _recent.Now;
        var info = await _runtime.GetContainerAsync(container, cancellationToken).ConfigureAwait(false);
        _recent.Record(container, info, asked);
        return info;
    }

    // How one start attempt ended, counted only for the attempt that stands (a start on a wrong guess is not counted).
    private sealed class StartReport
    {
        public string? Outcome { get; set; }

        public string? Error { get; set; }

        public TimeSpan? Duration { get; set; }
    }

    private void Report(StartReport report)
    {
        if (report.Outcome is { } outcome)
        {
            _metrics.Started(outcome);
        }

        if (report.Duration is { } duration)
        {
            _lastError = null;
            _metrics.StartDuration.Record(duration.TotalSeconds);
        }
        else if (report.Error is { } error)
        {
            _lastError = error;
        }
    }

    // One start on the engine's answer, or on a guess of it that the answer must confirm once ttyd is ready; Started is
    // false (and nothing is left) when the answer does not confirm the guess.
    private async Task<(bool Started, SessionEntry? Entry)> StartAsync(string container, string userId, string? topologyId, TerminalCommand? requested,
        ContainerInfo? guess, Task<ContainerInfo?> lookup, Prepared early, StartReport report, CancellationToken cancellationToken)
    {
        ContainerInfo? info;
        try
        {
            info = guess ?? await lookup.ConfigureAwait(false);
        }
        catch (ContainerEngineException)
        {
            report.Outcome = "failed";
            throw;
        }

        if (info is null || !info.IsRunning)
        {
            report.Outcome = "refused";
            throw new ContainerNotFoundException(container, info?.State);
        }

        if (_recent.WasRemoved(info.Id))
        {
            // An answer the engine sent before it reported the container removed (ids are never reused): nothing starts.
            report.Outcome = "refused";
            throw new ContainerNotFoundException(container);
        }

        if (!SessionIds.IsValidContainerId(info.Id))
        {
            // The id goes on the runtime's exec line as the target: only what an id can look like.
            report.Outcome = "failed";
            throw new ContainerEngineException($"The container engine gave container '{container}' the id {SessionIds.Quote(info.Id)}, which is not a 64-digit hex id; no terminal was started.");
        }

        var (command, source) = TerminalCommandResolver.Resolve(_options, info.Labels, requested);
        if (TerminalCommand.Problem(command) is { } problem)
        {
            // Only a mapping changed after validation gets here; the host's own command was checked on entry.
            report.Outcome = "refused";
            throw new ArgumentException($"The command for container '{container}' is invalid: {problem}", nameof(requested));
        }

        Log.CommandChosen(_logger, container, command.ToString(), source);
        try
        {
            _limits.Reserve(userId, container);
        }
        catch (SessionLimitExceededException)
        {
            report.Outcome = "refused";
            throw;
        }

        var started = _time.GetTimestamp();
        try
        {
            var entry = await StartProcessAsync(container, info.Id, userId, topologyId, command, early, guess is null ? null : new Confirmation(guess, lookup), cancellationToken).ConfigureAwait(false);
            if (entry is null)
            {
                _limits.Release(userId);
                report.Outcome = "refused";
                return (true, null);
            }

            report.Outcome = "created";
            report.Duration = _time.GetElapsedTime(started);
            return (true, entry);
        }
        catch (GuessNotConfirmedException)
        {
            _limits.Release(userId);
            return (false, null);
        }
        catch (OperationCanceledException) when (guess is not null && !lookup.IsCompleted)
        {
            // The caller gave up while the engine had not answered: not counted, as a create without a guess is not.
            _limits.Release(userId);
            throw;
        }
        catch (Exception e)
        {
            _limits.Release(userId);
            report.Outcome = "failed";
            if (e is TtydStartException)
            {
                report.Error = e.Message;
            }

            throw;
        }
    }

    // A start on a guess, and the engine's answer that must confirm it.
    private readonly record struct Confirmation(ContainerInfo Guess, Task<ContainerInfo?> Answer);

    // A guessed container that the engine's answer does not confirm; its ttyd is already stopped.
    private sealed class GuessNotConfirmedException : Exception;

    // What a start needs that does not depend on its container; each part null when it must be done the ordinary way.
    private readonly record struct Prepared(byte[]? Key, string? Ttyd, string? Tmux);

    // Read only, and never throws: the folder is checked (Check without creating) and the key read as GetOrCreateKey
    // does when both exist; the executables are looked up as the start would.
    private Prepared Prepare()
    {
        byte[]? key;
        try
        {
            key = _folder.ReadKey(_options.InstanceName, byName: true);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or ArgumentException)
        {
            key = null;
        }

        return new Prepared(key, Native.ResolveExecutable(_options.TtydPath), _options.PersistentShells ? Native.ResolveExecutable(_options.TmuxPath) : null);
    }

    private async Task<SessionEntry?> StartProcessAsync(string container, string containerId, string userId, string? topologyId, TerminalCommand command, Prepared early,
        Confirmation? confirmation, CancellationToken cancellationToken)
    {
        ProcessLaunchException? last = null;
        var tmux = _options.PersistentShells ? early.Tmux ?? TmuxOrThrow(container) : null;
        for (var attempt = 1; attempt <= _options.MaxStartAttempts; attempt++)
        {
            var port = 0;
            if (!_launch.UseSockets && !_ports.TryAcquire(out port))
            {
                Log.PortsExhausted(_logger, container, _ports.RangeStart, _ports.RangeEnd, _ports.ReservedCount);
                return last is null ? null : throw StartFailed(container, attempt - 1, last);
            }

            var token = Guid.NewGuid().ToString("N");
            TtydSession planned;
            ProcessLaunch launch;
            byte[] key;
            try
            {
                // The folder is checked at every start, not once: folders above it can change hands. (The first attempt's
                // check may have been made while the engine answered, moments ago, within this start.)
                // The key in memory signs every session of this manager, whatever became of its file (InstanceKey).
                key = (attempt == 1 && early.Key is { } checkedKey ? _key.Accept(checkedKey) : null) ?? _key.ForStart(ForeignKey);

                // Recording was promised: an unsafe folder refuses the terminal rather than running it unrecorded.
                _recordings?.EnsureTrusted();
                planned = new TtydSession
                {
                    Container = container,
                    ContainerId = containerId,
                    UserId = userId,
                    TopologyId = topologyId,
                    Port = port,
                    Address = _launch.Address,
                    StartedAt = _time.GetUtcNow(),
                    SocketPath = _launch.UseSockets ? _folder.SocketPath(token) : null,
                    Credential = _launch.UseCredentials ? TtydCredential.CreateRandom() : null,
                    BasePath = _launch.BasePathFor(container),
                    Persistent = tmux is not null,
                    Command = command,
                    ObserverSocketPath = _launch.UseObservers ? _folder.ObserverSocketPath(token) : null,
                };
                launch = _launch.Build(planned, token, key, (attempt == 1 ? early.Ttyd : null) ?? Native.ResolveExecutable(_options.TtydPath) ?? _options.TtydPath, _folder.LogPath(token),
                    tmux, tmux is null ? null : _folder.TmuxSocketPath(token));
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException or InvalidOperationException)
            {
                if (!_launch.UseSockets)
                {
                    _ports.Release(port);
                }

                Log.RuntimeFolderRefused(_logger, e.Message);
                throw new TtydStartException($"Cannot prepare ttyd for container '{container}': {e.Message}", e);
            }

            ProcessIdentity? process = null;
            var reachable = false;
            try
            {
                if (confirmation is { } before && !_launch.UseSockets)
                {
                    await ConfirmAsync(before, cancellationToken).ConfigureAwait(false);
                }

                process = await _supervisor.StartAsync(launch, cancellationToken).ConfigureAwait(false);
                var session = planned with { Process = process.Value };
                if (confirmation is { } pending && _launch.UseSockets)
                {
                    await ConfirmAsync(pending, cancellationToken).ConfigureAwait(false);
                }

                reachable = true; // from here on a shell start, a recorder or (direct mode) a client may run its command

                // A create whose caller gave up, or that a cleanup revoked, while ttyd started: no shell is started for a
                // ttyd about to be stopped (a docker exec killed while the engine sets it up can leave its shell behind).
                cancellationToken.ThrowIfCancellationRequested();

                Log.SessionStarted(_logger, container, Log.EndpointOf(session), session.ProcessId, userId, Log.TopologyOf(topologyId));
                return new SessionEntry(session, token, _time.GetTimestamp())
                {
                    HoldsPort = !_launch.UseSockets,
                    ShellStart = tmux is null || !_options.StartShellWithSession ? null : ShellStarter.Start(container, tmux,
                        TmuxCommand.Create(tmux, _folder.TmuxSocketPath(token), _options.ScrollbackLines, _launch.ShellCommand(session, token)),
                        launch.Environment, _options.StartTimeout, _logger),
                    Recorder = StartRecorder(session, token, key, launch.FileName, tmux),
                    Watch = (_supervisor as IProcessEvents)?.Watch(session.Process), // last: nothing after it can throw
                };
            }
            catch (ProcessLaunchException e) when (process is null)
            {
                ReleaseEndpoint(planned, token);
                _folder.DeleteSessionFiles(token, socket: false);
                Log.StartAttemptFailed(_logger, container, Log.EndpointOf(planned), attempt, e.Message);
                if (e.Failure == LaunchFailure.NotExecutable)
                {
                    throw new TtydStartException($"Cannot start ttyd for container '{container}': {e.Message}", e);
                }

                last = e;
            }
            catch
            {
                // Cancelled, failed otherwise or not confirmed. A ttyd that started is stopped here with whatever could
                // have come of it (the supervisor stops what it started only when its own start fails).
                try
                {
                    if (process is { } running)
                    {
                        await AbandonAsync(planned with { Process = running }, token, reachable).ConfigureAwait(false);
                    }
                }
                finally
                {
                    ReleaseEndpoint(planned, token);
                    _folder.DeleteSessionFiles(token, socket: false);
                }

                throw;
            }
        }

        throw StartFailed(container, _options.MaxStartAttempts, last!);
    }

    // The engine's answer for a start on a guess: in socket mode once ttyd is ready and before anything can run its command
    // (the shell start, the recorder and the session's route come after), in direct mode before the spawn (nothing to
    // stop then but the endpoint to release): anything but the guessed container, running,
    // with the same labels, or no answer, refutes the guess (the start on the answer then meets the engine's failure).
    private static async Task ConfirmAsync(Confirmation confirmation, CancellationToken cancellationToken)
    {
        if (!await ConfirmedAsync(confirmation.Guess, confirmation.Answer, cancellationToken).ConfigureAwait(false))
        {
            throw new GuessNotConfirmedException();
        }
    }

    // A ttyd started but never handed out. Before anything could run its command (a guess not confirmed: its socket is
    // private, and no shell start or recorder exists yet) its tree is all there is; after that, whatever could have come
    // of it (a tmux server, a shell in the container) is stopped too, as a stop does. A failure is logged, never thrown
    // over the start's own error.
    private async Task AbandonAsync(TtydSession session, string token, bool reachable)
    {
        if (!await StopOutsideTreeAsync(session, session.Process).ConfigureAwait(false) || !reachable)
        {
            return;
        }

        try
        {
            // The shell first, while its tmux server still runs (StopWhereAsync says why).
            var processes = FindSessionProcesses(token)[token].Where(p => p != session.Process).ToList();
            if (ContainerTerminal.Of(session, token) is { } terminal)
            {
                await _runtime.EndTerminalsAsync([terminal], CancellationToken.None).ConfigureAwait(false);
            }

            foreach (var process in processes)
            {
                await StopOutsideTreeAsync(session, process).ConfigureAwait(false);
            }
        }
#pragma warning disable CA1031 // Whatever the sweep meets, the start's own error is the one to report.
        catch (Exception e)
#pragma warning restore CA1031
        {
            Log.StopFailed(_logger, e, session.Container, Log.EndpointOf(session), session.ProcessId);
        }
    }

    private SessionRecorder? StartRecorder(TtydSession session, string token, byte[] key, string ttyd, string? tmux) =>
        _recordings is null || tmux is null || !session.Persistent ? null
        : SessionRecorder.Start(
            new RecorderPlan
            {
                Container = session.Container,
                Token = token,
                Tmux = tmux,
                TmuxSocket = _folder.TmuxSocketPath(token),
                Shell = session.Command?.ToString() ?? _options.Shell,
                Folder = _recordings,
                MaxBytes = _options.RecordingMaxBytes,
                StopGracePeriod = _options.StopGracePeriod,
                Environment = _launch.RecorderEnvironment(session, token, key, ttyd),
            },
            _logger,
            _time);

    // Persistence never falls back silently to a shell that dies with the page.
    private string TmuxOrThrow(string container) =>
        Native.ResolveExecutable(_options.TmuxPath)
        ?? throw new TtydStartException($"Cannot start a terminal for container '{container}': tmux {SessionIds.Quote(_options.TmuxPath)} was not found (PATH or TmuxPath), and PersistentShells is on. Install tmux, or set TtydSessionOptions.PersistentShells = false for shells that end with their connection.");

    private static readonly TimeSpan ObserverRetryDelay = TimeSpan.FromSeconds(5);

    private bool IsServing(ObserverTerminal observer) => _supervisor.IsAlive(observer.Process) && !_supervisor.IsStopped(observer.Process);

    /// <inheritdoc />
    // Started by the first watcher, not with the session: most sessions are never watched, and an idle ttyd per session
    // doubled the processes a proxy-mode host holds, stops and has the kernel walk (issue 16's scale figures). The
    // owner's terminal does not depend on it: a failure is logged, and the watch path answers 404 this time.
    public async ValueTask<ObserverTerminal?> EnsureObserverAsync(TtydSession session, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(session);
        if (session.ObserverSocketPath is null || !_slots.TryGetValue(session.Container, out var slot))
        {
            return null;
        }

        if (slot.Current is { Observer: { } running, Stale: false, Unfit: false } current && ReferenceEquals(current.Session, session) && IsServing(running))
        {
            current.ObserverUsed = _time.GetTimestamp(); // a watcher is about to connect: not idle
            return running;
        }

        // The watch attaches to the owner's shell and ends at once when there is none yet: a watcher who comes right after
        // the session was created waits for the shell started with it (bounded by StartTimeout; a failure is logged by the
        // start, and the watch then ends as it would have). Before the gate, which stops and creates need meanwhile.
        if (slot.Current is { ShellStart: { IsCompleted: false } shellStart } starting && ReferenceEquals(starting.Session, session))
        {
            await shellStart.WaitAsync(cancellationToken).ConfigureAwait(false);
        }

        await slot.Gate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            // Under the gate no stop runs: the session is either still the container's current one, or gone for good. Only
            // a healthy one gets an observer: one started for a dead session would be left to repair, or to nobody
            // should the host stop first (adoption skips a dead session, and with it its observer).
            if (slot.Current is not { } entry || !ReferenceEquals(entry.Session, session) || !IsHealthy(entry))
            {
                return null;
            }

            if (entry.Observer is { } observer)
            {
                if (IsServing(observer))
                {
                    entry.ObserverUsed = _time.GetTimestamp();
                    return observer;
                }

                // Frozen (SIGSTOP): it would accept the watcher's connection and never answer. Replaced like a dead one.
                if (_supervisor.IsAlive(observer.Process) && !await TryStopObserverAsync(entry, observer).ConfigureAwait(false))
                {
                    return null;
                }
            }

            // A start that just failed is not retried by every request that follows, each holding this container's gate.
            if (entry.ObserverFailedAt is { } failedAt && _time.GetElapsedTime(failedAt) < ObserverRetryDelay)
            {
                return null;
            }

            entry.Observer = null;
            if (Native.ResolveExecutable(_options.TmuxPath) is not { } tmux)
            {
                entry.ObserverFailedAt = _time.GetTimestamp();
                Log.ObserverStartFailed(_logger, session.Container, $"tmux {SessionIds.Quote(_options.TmuxPath)} was not found");
                return null;
            }

            try
            {
                var key = _key.ForStart(ForeignKey);
                var ttyd = Native.ResolveExecutable(_options.TtydPath) ?? _options.TtydPath;
                _folder.DeleteObserverSocket(entry.Token); // one a dead observer left: ttyd does not bind over it
                var process = await _supervisor.StartAsync(_launch.BuildObserver(session, entry.Token, key, ttyd, tmux, _folder.TmuxSocketPath(entry.Token)), cancellationToken).ConfigureAwait(false);
                entry.Observer = new ObserverTerminal(session.ObserverSocketPath, process);
                entry.ObserverFailedAt = null;
                entry.ObserverUsed = _time.GetTimestamp(); // its watcher is about to connect
                return entry.Observer;
            }
            catch (Exception e) when (e is ProcessLaunchException or IOException or UnauthorizedAccessException or InvalidOperationException)
            {
                entry.ObserverFailedAt = _time.GetTimestamp();
                Log.ObserverStartFailed(_logger, session.Container, e.Message);
                return null;
            }
        }
        finally
        {
            slot.Gate.Release();
        }
    }

    private static TtydStartException StartFailed(string container, int attempts, ProcessLaunchException last) =>
        new($"ttyd for container '{container}' failed to start after {attempts} attempt(s). Last error: {last.Message}", last);

    private void ReleaseEndpoint(TtydSession session, string token)
    {
        if (session.SocketPath is not null)
        {
            _folder.DeleteSessionFiles(token, log: false);
        }
        else
        {
            _ports.Release(session.Port);
        }
    }

    // The reuse path: a few system calls, no lock, no I/O beyond them. Always asked of the machine, never learnt: what is
    // handed out must be alive, running and listening at the moment it is handed out.
    private bool IsHealthy(SessionEntry entry) => !entry.Unfit && !entry.Stale && Health(entry.Session) == SessionHealthState.Healthy;

    // Status: the same model from what the kernel reported (call IProcessEvents.Refresh first), no system call per
    // session; a session without a watch is asked.
    private bool IsHealthyAsLearnt(SessionEntry entry) =>
        !entry.Unfit && !entry.Stale && SessionHealth.Check(entry.Session, _supervisor, IsPortListening, entry.Watch) == SessionHealthState.Healthy;

    private SessionHealthState Health(TtydSession session) => SessionHealth.Check(session, _supervisor, IsPortListening);

    /// <inheritdoc />
    public TtydSession? FindSession(string container)
    {
        SessionIds.ThrowIfInvalidContainerName(container, nameof(container));
        return _slots.TryGetValue(container, out var slot) && slot.Current is { Stale: false } entry ? entry.Session : null;
    }

    private static void ThrowIfConflict(TtydSession session, string userId, string? topologyId)
    {
        if (!string.Equals(session.UserId, userId, StringComparison.Ordinal)
            || (topologyId is not null && !string.Equals(session.TopologyId, topologyId, StringComparison.Ordinal)))
        {
            throw new SessionConflictException(session, userId, topologyId);
        }
    }

    /// <inheritdoc />
    public Task<CleanupResult> CleanupUserAsync(string userId, CancellationToken cancellationToken = default)
    {
        SessionIds.ThrowIfInvalidId(userId, nameof(userId));
        return StopScopeAsync(
            new CleanupScope((_, user, _) => string.Equals(user, userId, StringComparison.Ordinal), $"the cleanup of user '{userId}' (CleanupUserAsync)"),
            StopReason.User,
            cancellationToken);
    }

    /// <inheritdoc />
    public Task<CleanupResult> ClearTopologyAsync(string topologyId, CancellationToken cancellationToken = default)
    {
        SessionIds.ThrowIfInvalidId(topologyId, nameof(topologyId));
        return StopScopeAsync(
            new CleanupScope((_, _, topology) => string.Equals(topology, topologyId, StringComparison.Ordinal), $"the clearing of topology '{topologyId}' (ClearTopologyAsync)"),
            StopReason.Topology,
            cancellationToken);
    }

    /// <inheritdoc />
    public Task<CleanupResult> DeleteNodeAsync(string container, CancellationToken cancellationToken = default)
    {
        SessionIds.ThrowIfInvalidContainerName(container, nameof(container));
        return StopScopeAsync(
            new CleanupScope((name, _, _) => string.Equals(name, container, StringComparison.Ordinal), $"the deletion of node '{container}' (DeleteNodeAsync)"),
            StopReason.Node,
            cancellationToken);
    }

    /// <inheritdoc />
    public Task<CleanupResult> CleanupAllAsync(CancellationToken cancellationToken = default) =>
        StopScopeAsync(new CleanupScope(static (_, _, _) => true, "the cleanup of every session (CleanupAllAsync)"), StopReason.All, cancellationToken);

    /// <inheritdoc />
    public async Task<CleanupResult> CleanupOrphansAsync(CancellationToken cancellationToken = default)
    {
        var dead = await StopUnhealthyAsync(cancellationToken).ConfigureAwait(false);
        var existing = await ListContainerIdsAsync(cancellationToken).ConfigureAwait(false);
        RepairDecisions.MarkPresence(Entries(), existing, _time.GetTimestamp());
        var replaced = await StopWhereAsync(static e => e.Stale, StopReason.Replaced, cancellationToken).ConfigureAwait(false);
        var orphans = await StopWhereAsync(e => !existing.ContainsKey(e.Session.Container), StopReason.Orphan, cancellationToken).ConfigureAwait(false);
        return Combine(Combine(dead, replaced), orphans);
    }

    /// <inheritdoc />
    public async Task<CleanupResult> RepairAsync(CancellationToken cancellationToken = default)
    {
        using var activity = TtydPortsActivities.StartRepair();
        try
        {
            var result = await RepairPassAsync(cancellationToken).ConfigureAwait(false);
            TtydPortsActivities.Repaired(activity, result);
            return result;
        }
        catch (Exception e)
        {
            TtydPortsActivities.Failed(activity, e);
            throw;
        }
    }

    private async Task<CleanupResult> RepairPassAsync(CancellationToken cancellationToken)
    {
        RestoreKeyFile();

        // Clients are counted first: the health probe below opens connections of its own.
        var unixClients = _launch.UseSockets && (_options.IdleTimeout is not null || Entries().Any(static e => e.Observer is not null))
            ? ProcFs.CountUnixConnections() : null;
        if (_options.IdleTimeout is not null)
        {
            RepairDecisions.MarkActive(Entries(), _launch.UseSockets ? null : CountPortClients(), unixClients, _time.GetTimestamp());
        }

        if (unixClients is not null)
        {
            await StopIdleObserversAsync(RepairDecisions.IdleObservers(Entries(), unixClients, _time.GetTimestamp(), _time.TimestampFrequency, _options.RepairInterval), cancellationToken).ConfigureAwait(false);
        }

        var lost = LostSockets();
        var dead = lost.Count == 0 ? CleanupResult.Empty : await StopWhereAsync(lost.Contains, StopReason.Dead, cancellationToken).ConfigureAwait(false);
        dead = Combine(dead, await StopUnhealthyAsync(cancellationToken).ConfigureAwait(false));

        // A ttyd that is alive and listening but does not answer (frozen) is replaced too; the reuse path does not
        // ask, it would cost a round trip per call.
        var frozen = await FindUnresponsiveAsync(cancellationToken).ConfigureAwait(false);
        if (frozen.Count > 0)
        {
            dead = Combine(dead, await StopWhereAsync(frozen.Contains, StopReason.Dead, cancellationToken).ConfigureAwait(false));
        }

        var orphans = CleanupResult.Empty;
        Dictionary<string, string>? existing = null;
        try
        {
            existing = await ListContainerIdsAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (ContainerEngineException e)
        {
            Log.InventoryFailed(_logger, e);
        }

        if (existing is not null)
        {
            RepairDecisions.MarkPresence(Entries(), existing, _time.GetTimestamp());
            var now = _time.GetTimestamp();
            orphans = await StopWhereAsync(
                e => RepairDecisions.IsOrphanDue(e, now, _time.TimestampFrequency, _options.ContainerGracePeriod),
                StopReason.Orphan,
                cancellationToken).ConfigureAwait(false);
        }

        // Also when the engine does not answer: a destroy event may have marked them.
        var replaced = await StopWhereAsync(static e => e.Stale, StopReason.Replaced, cancellationToken).ConfigureAwait(false);

        var idleSince = _time.GetTimestamp();
        var idle = _options.IdleTimeout is { } idleTimeout
            ? await StopWhereAsync(e => RepairDecisions.IsIdleDue(e, idleSince, _time.TimestampFrequency, idleTimeout), StopReason.Idle, cancellationToken).ConfigureAwait(false)
            : CleanupResult.Empty;

        return Combine(Combine(Combine(dead, replaced), orphans), idle);
    }

    // Each under its slot's gate, re-checked there: the session may have stopped, or a watcher may have been handed the
    // observer (or started another) since the count.
    private async Task StopIdleObserversAsync(List<SessionEntry> due, CancellationToken cancellationToken)
    {
        foreach (var entry in due)
        {
            if (!_slots.TryGetValue(entry.Session.Container, out var slot))
            {
                continue;
            }

            await slot.Gate.WaitAsync(cancellationToken).ConfigureAwait(false);
            try
            {
                if (slot.Current == entry && entry.Observer is { } observer
                    && RepairDecisions.IsObserverIdle(entry, _time.GetTimestamp(), _time.TimestampFrequency, _options.RepairInterval)
                    && await TryStopObserverAsync(entry, observer).ConfigureAwait(false))
                {
                    Log.ObserverIdleStopped(_logger, entry.Session.Container, observer.Process.ProcessId);
                }
            }
            finally
            {
                slot.Gate.Release();
            }
        }
    }

    private IEnumerable<SessionEntry> Entries() => _slots.Values.Select(static s => s.Current).OfType<SessionEntry>();

    private async Task<CleanupResult> StopUnhealthyAsync(CancellationToken cancellationToken)
    {
        var unfit = await StopWhereAsync(static e => e.Unfit, StopReason.Unfit, cancellationToken).ConfigureAwait(false);
        var dead = await StopWhereAsync(e => Health(e.Session) != SessionHealthState.Healthy, StopReason.Dead, cancellationToken).ConfigureAwait(false);
        return Combine(unfit, dead);
    }

    private async Task<HashSet<SessionEntry>> FindUnresponsiveAsync(CancellationToken cancellationToken)
    {
        var frozen = new HashSet<SessionEntry>();
        var entries = Entries().ToList();
        await Parallel.ForEachAsync(
            entries,
            new ParallelOptions { MaxDegreeOfParallelism = 16, CancellationToken = cancellationToken },
            async (entry, ct) =>
            {
                if (!await AnswersProbe(entry.Session, ct).ConfigureAwait(false))
                {
                    Log.SessionUnresponsive(_logger, entry.Session.Container, entry.Session.ProcessId, _options.ResponseTimeout);
                    lock (frozen)
                    {
                        frozen.Add(entry);
                    }
                }
            }).ConfigureAwait(false);

        // A persistent shell's tmux server stopped (SIGSTOP) takes every connection into its socket's backlog and never
        // answers, while ttyd still does: the probe above cannot see it. One look at /proc for every session's processes
        // outside ttyd's tree (the observer has its own check when a watcher comes).
        if (entries.Any(static e => e.Session.Persistent))
        {
            var outside = SessionProcesses.Find(_supervisor, _folder, _options.InstanceName, _key.Current, null);
            foreach (var entry in entries.Where(e => e.Session.Persistent && !frozen.Contains(e)))
            {
                foreach (var process in outside[entry.Token].Where(p => p != entry.Session.Process && p != entry.Observer?.Process && _supervisor.IsStopped(p)).Take(1))
                {
                    Log.SessionShellFrozen(_logger, entry.Session.Container, process.ProcessId);
                    frozen.Add(entry);
                }
            }

            // Its tmux server's socket deleted (with the runtime folder: systemd clears /run/user/UID when that user's last
            // login ends; an operator's rm): ttyd answers, the server and its shell run on, but no client reaches them
            // again. Only once the shell's start has finished (it creates the socket), and only while a server of the
            // session runs or the folder is gone (without a started shell the first client creates the socket).
            var folderGone = Native.LStat(_folder.Path) is null;
            foreach (var entry in entries.Where(e => e.Session.Persistent && !frozen.Contains(e) && e.ShellStart is null or { IsCompleted: true }))
            {
                var tmuxSocket = _folder.TmuxSocketPath(entry.Token);
                if ((folderGone || outside[entry.Token].Any(p => p != entry.Session.Process && p != entry.Observer?.Process)) && !RuntimeFolder.IsSocket(tmuxSocket))
                {
                    Log.SessionFileMissing(_logger, entry.Session.Container, tmuxSocket);
                    frozen.Add(entry);
                }
            }
        }

        return frozen;
    }

    // Proxy-mode sessions whose ttyd runs but whose socket was deleted or replaced by something else (with the runtime
    // folder, say): the health check below would replace them too; this names the lost file in the log.
    private HashSet<SessionEntry> LostSockets()
    {
        var lost = new HashSet<SessionEntry>();
        foreach (var entry in Entries())
        {
            if (entry.Session.SocketPath is { } socket && !RuntimeFolder.IsSocket(socket) && _supervisor.IsAlive(entry.Session.Process))
            {
                Log.SessionFileMissing(_logger, entry.Session.Container, socket);
                lost.Add(entry);
            }
        }

        return lost;
    }

    /// <inheritdoc />
    public bool MarkContainerRemoved(string containerId)
    {
        ArgumentNullException.ThrowIfNull(containerId);
        _recent.Forget(containerId);

        // The removal is visible before the slots are looked at: a create that puts its session in a slot after this look
        // sees the removal (EnsureSlowAsync).
        Interlocked.MemoryBarrier();
        var marked = false;
        foreach (var slot in _slots.Values)
        {
            if (slot.Current is { } entry && string.Equals(entry.Session.ContainerId, containerId, StringComparison.Ordinal))
            {
                entry.Stale = marked = true;
            }
        }

        return marked;
    }

    // What the next create on this name would guess (tests).
    internal ContainerInfo? GuessFor(string container) => _recent.Guess(container);

    /// <inheritdoc />
    void IContainerGuesses.Drop(string containerId) => _recent.Drop(containerId);

    /// <inheritdoc />
    Task<ContainerInfo?> IContainerGuesses.LearnAsync(string name, CancellationToken cancellationToken) => LookupAsync(name, cancellationToken);

    private async Task<Dictionary<string, string>> ListContainerIdsAsync(CancellationToken cancellationToken)
    {
        var idsByName = new Dictionary<string, string>(StringComparer.Ordinal);
        var asked = _recent.Now;
        var containers = await _runtime.ListContainersAsync(cancellationToken).ConfigureAwait(false);
        _recent.RecordAll(containers, asked);
        foreach (var container in containers)
        {
            // A stopped container's terminal cannot work (every exec into it fails): counted as missing, so that its
            // session goes after the grace period. Paused and restarting ones come back as they were, shells and all.
            // States are compared ignoring case, as IsRunning does.
            if (container.IsRunning
                || string.Equals(container.State, "paused", StringComparison.OrdinalIgnoreCase)
                || string.Equals(container.State, "restarting", StringComparison.OrdinalIgnoreCase))
            {
                idsByName[container.Name] = container.Id;
            }
        }

        return idsByName;
    }

    private static CleanupResult Combine(CleanupResult a, CleanupResult b) =>
        a.Stopped.Count + a.Failed.Count == 0 ? b
        : b.Stopped.Count + b.Failed.Count == 0 ? a
        : new CleanupResult { Stopped = [.. a.Stopped, .. b.Stopped], Failed = [.. a.Failed, .. b.Failed] };

    /// <inheritdoc />
    public TtydStatus GetStatus()
    {
        // Exits, stops and continues since the last look, in a fixed number of system calls; then memory only. A
        // frozen ttyd the kernel cannot report (not our child: adopted) is asked, and repair's HTTP probe catches the rest.
        (_supervisor as IProcessEvents)?.Refresh();
        var order = StatusOrder();
        var sessions = new List<TtydSessionStatus>(order.Length);
        foreach (var slot in order)
        {
            if (slot.Current is { } entry)
            {
                sessions.Add(new TtydSessionStatus { Session = entry.Session, Healthy = IsHealthyAsLearnt(entry) });
            }
        }

        return new TtydStatus { Sessions = sessions, LastError = _lastError };
    }

    // The slots by container name, sorted again only after a slot came or went: a sort per call made status grow
    // faster than the sessions (N log N).
    private SessionSlot[] StatusOrder()
    {
        var version = Volatile.Read(ref _slotsVersion);
        if (_order is { } order && order.Version == version)
        {
            return order.Slots;
        }

        // A slot that comes or goes during this read moves the version on, so the next call reads again.
        var slots = _slots.ToArray();
        Array.Sort(slots, static (a, b) => string.CompareOrdinal(a.Key, b.Key));
        var sorted = Array.ConvertAll(slots, static s => s.Value);
        _order = new SlotOrder(version, sorted);
        return sorted;
    }

    private sealed record SlotOrder(int Version, SessionSlot[] Slots);

    private SessionSlot SlotFor(string container)
    {
        if (_slots.TryGetValue(container, out var slot))
        {
            return slot;
        }

        slot = _slots.GetOrAdd(container, static _ => new SessionSlot());
        Interlocked.Increment(ref _slotsVersion); // another caller may have added it: one needless sort at worst
        return slot;
    }

    private void RemoveSlot(string container, SessionSlot slot)
    {
        if (_slots.TryRemove(new KeyValuePair<string, SessionSlot>(container, slot)))
        {
            Interlocked.Increment(ref _slotsVersion);
        }
    }

    // A cleanup by owner: one rule over (container, user, topology) picks both its sessions and the creates under way it
    // also ends, and names the cleanup as such a create's caller is told of it. Repair's stops (dead, stale, orphaned,
    // idle) are not by owner and end no create.
    private sealed record CleanupScope(Func<string, string, string?, bool> Matches, string Cleanup)
    {
        public bool Covers(SessionEntry entry) => Matches(entry.Session.Container, entry.Session.UserId, entry.Session.TopologyId);

        public bool Covers(PendingCreate pending) => Matches(pending.Container, pending.UserId, pending.TopologyId);
    }

    private Task<CleanupResult> StopScopeAsync(CleanupScope scope, StopReason reason, CancellationToken cancellationToken) =>
        StopWhereAsync(scope.Covers, reason, cancellationToken, scope);

    // How one slot's part of a batch ended: its ttyd halted, its stop failed, nothing to stop there, or never begun because
    // the batch was cancelled while it waited for the slot's gate.
    private readonly record struct SlotHalt(HaltedSession? Halted, StopFailure? Failed, bool Cancelled);

    // Cancellation ends only waits before anything is signalled: a stop that has begun (its first signal) is finished
    // whatever the token says, down to the last step below, and only then is the cancellation thrown.
    private async Task<CleanupResult> StopWhereAsync(Func<SessionEntry, bool> match, StopReason reason, CancellationToken cancellationToken, CleanupScope? creates = null)
    {
        EnsureAdopted();

        // A caller that gave up before anything began is told so with nothing done: revoking first would end creates.
        cancellationToken.ThrowIfCancellationRequested();

        // Creates under way first: each that matches is revoked (it hands nothing out, stops what it started, and this
        // waits for it below; also for one another cleanup revoked first), unless it handed its session out already;
        // then that session is in its slot by the time the slot's gate is free, and is stopped there with the others.
        var revoked = new List<PendingCreate>();
        var targets = new List<(string Container, SessionSlot Slot)>();
        var targeted = new HashSet<SessionSlot>();
        if (creates is not null)
        {
            foreach (var (pending, _) in _creates)
            {
                if (!creates.Covers(pending))
                {
                    continue;
                }

                if (pending.TryRevoke(new PendingCreate.Revocation(reason, creates.Cleanup)))
                {
                    Log.CreateRevoked(_logger, pending.Container, creates.Cleanup);
                }

                if (pending.RevokedBy is not null)
                {
                    revoked.Add(pending);
                }
                else if (pending.IsHandedOut && pending.Slot is { } held && targeted.Add(held))
                {
                    targets.Add((pending.Container, held));
                }
            }
        }

        foreach (var (container, slot) in _slots)
        {
            if (slot.Current is { } entry && match(entry) && targeted.Add(slot))
            {
                targets.Add((container, slot));
            }
        }

        if (targets.Count == 0 && revoked.Count == 0)
        {
            return CleanupResult.Empty;
        }

        // 1. Every ttyd of the batch at once, each under its slot's gate. A halt runs synchronously up to its wait (tree,
        // signals): those parts run at most one per core at a time; the waits are the kernel's (pidfds in ExitWaiter's
        // epoll set), cost no thread and all overlap, so a process slow to leave never holds up the others. Every halt
        // is awaited to its end, also when another fails: what was halted goes on to the steps below in any case.
        var halts = new Task<SlotHalt>[targets.Count];
        Parallel.For(0, targets.Count, new ParallelOptions { MaxDegreeOfParallelism = Environment.ProcessorCount }, i => halts[i] = HaltSlotAsync(targets[i].Container, targets[i].Slot, match, reason, cancellationToken));
        await Task.WhenAll(halts.AsEnumerable<Task>()).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        var halted = halts.Where(static h => h.IsCompletedSuccessfully).Select(static h => h.Result).ToList();
        var stopped = halted.Where(h => h.Halted is not null).Select(h => h.Halted!).ToList();
        if (stopped.Count > 0)
        {
            // 2. One look at the machine for every session's other processes and leftovers, not one per session, taken
            // once every ttyd of the batch is gone: nothing can create a tmux server or an exec for them any more, so this
            // look misses none (it replaces a last look per session, which cost a /proc scan each: 2000 sessions, 4,000
            // scans of 4,000 processes).
            var terminals = FindSessionProcesses(token: null);

            // 3. Their files, then what the batch left inside its containers, in one call to the runtime (one /proc scan
            // for a local engine), while the tmux servers still run: a host killed from here on leaves a server carrying
            // the session's markers, which the next host finds and ends with the shell and the files (StopLeftoversAsync).
            // Done after the servers, the shells and files of a host killed in between were left with nothing to find them by.
            Parallel.For(0, stopped.Count, new ParallelOptions { MaxDegreeOfParallelism = Environment.ProcessorCount }, i => DeleteFiles(stopped[i].Entry));
            await EndTerminalsAsync(stopped.Select(h => h.Entry)).ConfigureAwait(false);

            // 4. Their other processes, spread over the cores like the halts; then what a late tmux server started.
            var finishes = new Task[stopped.Count];
            Parallel.For(0, stopped.Count, new ParallelOptions { MaxDegreeOfParallelism = Environment.ProcessorCount }, i => finishes[i] = FinishStopAsync(stopped[i], terminals));
            await Task.WhenAll(finishes).ConfigureAwait(false);
            await StopLateProcessesAsync(stopped.Select(h => h.Entry).ToList(), token: null).ConfigureAwait(false);
        }

        // 5. The creates this revoked, each stopping what it started: a terminal that matched is gone when this returns.
        var cancelled = halted.Count(static h => h.Cancelled);
        var waited = await WaitForRevokedAsync(revoked, reason, cancellationToken).ConfigureAwait(false);
        var stoppedSessions = stopped.Select(h => h.Entry.Session).ToHashSet();
        var failed = halted.Where(h => h.Failed is not null).Select(h => h.Failed!)
            .Concat(revoked.Select(p => p.StopFailed).OfType<StopFailure>())
            .DistinctBy(static f => f.Session) // a revoked create's session whose stop failed stays in its slot, where a halt may fail on it too
            .Where(f => !stoppedSessions.Contains(f.Session)) // ... or succeed: then it is stopped, not failed
            .ToList();
        if (halts.FirstOrDefault(static h => !h.IsCompletedSuccessfully) is { } broken)
        {
            await broken.ConfigureAwait(false); // what no stop expects, thrown only now that the others are finished
        }

        if (cancelled > 0 || !waited)
        {
            Log.CleanupCancelled(_logger, reason, stopped.Count, cancelled);
            throw new OperationCanceledException(cancellationToken);
        }

        return new CleanupResult { Stopped = [.. stopped.Select(h => h.Entry.Session)], Failed = failed };
    }

    // Each revoked create ends soon (its waits and its ttyd start are cancelled), bounded anyway by its own bounds: its
    // start (StartTimeout), then the stops of its ttyd and of its tmux server (a grace period each). False when this
    // cleanup's caller gave up first: the creates still stop what they started.
    private async Task<bool> WaitForRevokedAsync(List<PendingCreate> revoked, StopReason reason, CancellationToken cancellationToken)
    {
        if (revoked.Count == 0)
        {
            return true;
        }

        var bound = _options.StartTimeout + (2 * _options.StopGracePeriod);
        try
        {
            await Task.WhenAll(revoked.Select(static p => p.Ended)).WaitAsync(bound, _time, cancellationToken).ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
            foreach (var pending in revoked.Where(static p => !p.Ended.IsCompleted))
            {
                Log.RevokedCreateOutlasted(_logger, pending.Container, reason, bound);
            }
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            return false;
        }

        return true;
    }

    // The gate is held only while ttyd stops, never while waiting for the rest of the batch: two batches that share
    // slots (a user's cleanup and a topology's) would otherwise each hold a gate the other waits for. Cancellation ends
    // only the wait for the gate: once held, the stop is not cancellable (HaltAsync).
    private async Task<SlotHalt> HaltSlotAsync(
        string container, SessionSlot slot, Func<SessionEntry, bool> match, StopReason reason, CancellationToken cancellationToken)
    {
        try
        {
            await slot.Gate.WaitAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            return new SlotHalt(null, null, Cancelled: true);
        }

        try
        {
            // Re-checked under the gate: the session may have been replaced or stopped meanwhile.
            if (slot.Current is not { } entry || !match(entry))
            {
                return default;
            }

            HaltedSession halted;
            try
            {
                halted = await HaltAsync(entry, reason).ConfigureAwait(false);
            }
            catch (TtydPortsException e)
            {
                return new SlotHalt(null, new StopFailure { Session = entry.Session, Error = e }, Cancelled: false);
            }

            slot.Current = null;
            RemoveSlot(container, slot);
            return new SlotHalt(halted, null, Cancelled: false);
        }
        finally
        {
            slot.Gate.Release();
        }
    }

    // The runtime ends what the sessions' execs left inside their containers (a killed exec client does not end them).
    private Task EndTerminalsAsync(IEnumerable<SessionEntry> stopped)
    {
        var terminals = stopped.Select(e => ContainerTerminal.Of(e.Session, e.Token)).OfType<ContainerTerminal>().ToList();
        return terminals.Count == 0 ? Task.CompletedTask : _runtime.EndTerminalsAsync(terminals, CancellationToken.None);
    }

    private ILookup<string, ProcessIdentity> FindSessionProcesses(string? token) =>
        SessionProcesses.Find(_supervisor, _folder, _options.InstanceName, _key.Current, token);

    // One session alone (replaced on ensure): the same steps as a batch of one, its look limited to its own token.
    private async Task StopEntryAsync(SessionEntry entry, StopReason reason)
    {
        var halted = await HaltAsync(entry, reason).ConfigureAwait(false);
        var terminals = FindSessionProcesses(entry.Token);
        DeleteFiles(entry); // with the shell, before its tmux server, as in a batch (StopWhereAsync)
        await EndTerminalsAsync([entry]).ConfigureAwait(false);
        await FinishStopAsync(halted, terminals).ConfigureAwait(false);
        await StopLateProcessesAsync([entry], entry.Token).ConfigureAwait(false);
    }

    private void DeleteFiles(SessionEntry entry) => _folder.DeleteSessionFiles(entry.Token, socket: entry.Session.SocketPath is not null);

    // A second look, after the first look's processes stopped: a tmux server that a killed tmux client was still
    // daemonizing can come into being after the first (two CI runs found one left behind). Whatever carries a stopped
    // session's markers now is stopped too; the look costs one /proc scan per batch.
    // A late server may have made its socket and started a shell in the container after the first end: both again.
    private async Task StopLateProcessesAsync(List<SessionEntry> stopped, string? token)
    {
        var late = FindSessionProcesses(token);
        var found = new List<SessionEntry>();
        foreach (var entry in stopped)
        {
            var processes = late[entry.Token].Where(p => p != entry.Session.Process).ToList();
            foreach (var process in processes)
            {
                Log.LateProcessStopping(_logger, entry.Session.Container, process.ProcessId);
                await StopOutsideTreeAsync(entry.Session, process).ConfigureAwait(false);
            }

            if (processes.Count > 0)
            {
                DeleteFiles(entry);
                found.Add(entry);
            }
        }

        await EndTerminalsAsync(found).ConfigureAwait(false);
    }

    // A session whose ttyd is gone, its port and its place in the limits given back; its other processes, leftovers and
    // files are the second step's (FinishStopAsync).
    private sealed record HaltedSession(SessionEntry Entry, StopReason Reason, Activity? Activity);

    // Stops ttyd's process tree and whatever could still create a process for the session (its recorder's tmux client,
    // the shell being started); gives back the port and the user's slot, since ttyd is gone. Not cancellable: a stop
    // abandoned half-way would leave a process whose port we no longer track.
    private async Task<HaltedSession> HaltAsync(SessionEntry entry, StopReason reason)
    {
        var session = entry.Session;
        var activity = TtydPortsActivities.StartStop(session, reason);

        // The observer ttyd (recorded at its start, verified by start time like ttyd) goes with ttyd, both exits awaited
        // together: in a batch the machine then tears down every process of it at once, and the look for leftovers
        // that follows has half as many processes to read.
        var observer = entry.Observer is { } watcher ? StopOutsideTreeAsync(session, watcher.Process) : Task.FromResult(true);

        // The recorder ends alongside, before the tmux server goes, so that it does not wait for a server that will never
        // come back; its client, if still there, is also among the session's marked processes. The file stays. Its end
        // is bounded (SessionRecorder): with a frozen server, its client's grace period then overlaps ttyd's.
        var recording = Task.CompletedTask;
        if (entry.Recorder is { } recorder)
        {
            entry.Recorder = null;
            recording = recorder.DisposeAsync().AsTask();
        }

        try
        {
            await _supervisor.StopAsync(session.Process, _options.StopGracePeriod, CancellationToken.None).ConfigureAwait(false);
        }
        catch (ProcessStopException e)
        {
            Log.StopFailed(_logger, e, session.Container, Log.EndpointOf(session), session.ProcessId);
            TtydPortsActivities.Failed(activity, e);
            activity?.Dispose();
            await observer.ConfigureAwait(false);
            await recording.ConfigureAwait(false);
            throw;
        }

        await observer.ConfigureAwait(false);
        await recording.ConfigureAwait(false);

        entry.Watch?.Dispose();

        // A tmux client still starting the shell could create the server after the look for leftovers: let it finish
        // (it is bounded by StartTimeout and logs its own failures).
        if (session.Persistent && entry.ShellStart is { } shellStart)
        {
            await shellStart.ConfigureAwait(false);
        }

        if (session.SocketPath is null && entry.HoldsPort)
        {
            _ports.Release(session.Port);
        }

        _limits.Release(session.UserId);
        return new HaltedSession(entry, reason, activity);
    }

    // A process of the session outside ttyd's tree (tmux server, observer); a failure is logged (false), the stop goes on.
    private async Task<bool> StopOutsideTreeAsync(TtydSession session, ProcessIdentity process)
    {
        try
        {
            await _supervisor.StopAsync(process, _options.StopGracePeriod, CancellationToken.None).ConfigureAwait(false);
            return true;
        }
        catch (ProcessStopException e)
        {
            Log.StopFailed(_logger, e, session.Container, Log.EndpointOf(session), process.ProcessId);
            return false;
        }
    }

    // The session's observer alone (frozen, or unused), under the slot's gate; the session goes on. One that cannot be
    // stopped stays tracked, so the session's own stop tries again.
    private async Task<bool> TryStopObserverAsync(SessionEntry entry, ObserverTerminal observer)
    {
        if (!await StopOutsideTreeAsync(entry.Session, observer.Process).ConfigureAwait(false))
        {
            return false;
        }

        entry.Observer = null;
        _folder.DeleteObserverSocket(entry.Token);
        return true;
    }

    // The session's processes outside ttyd's tree (tmux server, observer), after its files and what it left inside its
    // container are gone (StopWhereAsync says why). Never throws: what cannot be stopped is logged.
    private async Task FinishStopAsync(HaltedSession halted, ILookup<string, ProcessIdentity> terminals)
    {
        var (entry, reason, activity) = halted;
        var session = entry.Session;
        using (activity)
        {
            var observer = entry.Observer?.Process;
            foreach (var process in terminals[entry.Token].Where(p => p != session.Process && p != observer))
            {
                await StopOutsideTreeAsync(session, process).ConfigureAwait(false);
            }

            _metrics.Stopped(reason);
            Log.SessionStopped(_logger, session.Container, Log.EndpointOf(session), session.ProcessId, reason);
        }
    }

    /// <inheritdoc />
    public ValueTask AdoptAsync(CancellationToken cancellationToken = default)
    {
        cancellationToken.ThrowIfCancellationRequested();
        EnsureAdopted();
        return new(StopLeftoversAsync());
    }

    // A session of an earlier run whose ttyd died while no host ran is not adopted, and nothing else would ever stop its
    // tmux server (with the shell's exec client) or its observer: they are found by their verified markers while
    // adopting, and stopped here by the identity recorded then, after, as for any stop, the shells they left inside
    // their containers; then their files. A session whose ttyd still runs is never taken for one (SessionProcesses).
    private async Task StopLeftoversAsync()
    {
        var leftovers = Interlocked.Exchange(ref _leftovers, []);
        if (leftovers.Length == 0)
        {
            return;
        }

        Log.LeftoversStopping(_logger, leftovers.Sum(l => l.Processes.Count), leftovers.Length);

        // The shells they left inside their containers first, as a stop does (StopWhereAsync): a host killed during this
        // leaves the processes that lead the next one here again.
        var terminals = leftovers
            .Where(l => l.Markers.GetValueOrDefault(TtydProcessDiscovery.EngineMarker) is not { } engine || string.Equals(engine, _runtime.Endpoint, StringComparison.Ordinal))
            .Where(l => SessionIds.IsValidContainerId(l.Markers.GetValueOrDefault(TtydProcessDiscovery.ContainerIdMarker)) && SessionIds.IsValidContainerName(l.Markers.GetValueOrDefault(TtydProcessDiscovery.ContainerMarker)))
            .Select(l => new ContainerTerminal
            {
                Container = l.Markers[TtydProcessDiscovery.ContainerMarker],
                ContainerId = l.Markers[TtydProcessDiscovery.ContainerIdMarker],
                Marker = l.Token,
                User = CommandMarkerCodec.Decode(l.Markers.GetValueOrDefault(TtydProcessDiscovery.CommandMarker))?.User,
            })
            .ToList();
        if (terminals.Count > 0)
        {
            await _runtime.EndTerminalsAsync(terminals, CancellationToken.None).ConfigureAwait(false);
        }

        // Every process at once (the waits are the kernel's), as a batch stop does; files only of sessions fully stopped.
        var results = await Task.WhenAll(leftovers.SelectMany(l => l.Processes.Select(async process =>
        {
            try
            {
                await _supervisor.StopAsync(process, _options.StopGracePeriod, CancellationToken.None).ConfigureAwait(false);
                return (l.Token, Stopped: true);
            }
            catch (ProcessStopException e)
            {
                Log.LeftoverStopFailed(_logger, e, process.ProcessId, l.Token);
                return (l.Token, Stopped: false);
            }
        }))).ConfigureAwait(false);
        var failed = results.Where(r => !r.Stopped).Select(r => r.Token).ToHashSet(StringComparer.Ordinal);
        foreach (var leftover in leftovers.Where(l => !failed.Contains(l.Token)))
        {
            _folder.DeleteSessionFiles(leftover.Token);
        }
    }

    // Re-adopts the ttyd processes a previous run of this instance started: only those SessionAdoption proves ours.
    // One that does not fit today's options (listen mode, base path, credentials, address) is adopted only to be
    // replaced: it is never handed out, and repair stops it.
    private void EnsureAdopted()
    {
        if (_adopted)
        {
            return;
        }

        lock (_adoptLock)
        {
            if (_adopted)
            {
                return;
            }

            // A folder that does not exist yet is a first start: nothing to adopt, nothing wrong.
            IReadOnlyList<DiscoveredSession> trusted = [];
            var checkedFolder = false;
            if (Native.LStat(_folder.Path) is not null)
            {
                if (_folder.Check(create: false) is { } problem)
                {
                    Log.RuntimeFolderRefused(_logger, problem); // nothing there can be trusted, so nothing is adopted
                }
                else
                {
                    checkedFolder = true;
                    // The key read here is the one this manager keeps (InstanceKey): what it adopts it can stop after the file is gone.
                    if (_folder.TryReadKey(_options.InstanceName, out _) is { } key)
                    {
                        _key.Remember(key);
                        trusted = SessionAdoption.ForManager(_folder, Native.ResolveExecutable(_options.TtydPath), _key.Current).Find(_supervisor, _options.InstanceName);
                    }
                }
            }

            foreach (var found in trusted)
            {
                // Any persistent proxy-mode session can be watched under today's options; a running observer is kept.
                var session = _launch.UseObservers && found.Session is { Persistent: true, SocketPath: not null }
                    ? found.Session with { ObserverSocketPath = _folder.ObserverSocketPath(found.Token) }
                    : found.Session;
                var slot = SlotFor(session.Container);
                if (slot.Current is null && _supervisor.IsAlive(session.Process))
                {
                    var holdsPort = session.SocketPath is null && _ports.TryAcquire(session.Port);
                    var unfit = !_launch.Fits(session) || (session.SocketPath is null && !holdsPort);
                    slot.Current = new SessionEntry(session, found.Token, _time.GetTimestamp())
                    {
                        Observer = found.Observer is { } observer ? new ObserverTerminal(_folder.ObserverSocketPath(found.Token), observer) : null,
                        ObserverUsed = _time.GetTimestamp(), // an adopted observer gets a full interval, as a new one does
                        Unfit = unfit,
                        HoldsPort = holdsPort,
                        // Status may take listening as proven only for a session seen listening (SessionHealth.Check);
                        // an adopted one that is not is asked on every status until repair replaces it.
                        Watch = unfit || Health(session) != SessionHealthState.Healthy ? null : (_supervisor as IProcessEvents)?.Watch(session.Process),
                    };
                    if (!unfit)
                    {
                        // The earlier run's recorder ended with it: recording goes on in a new file.
                        slot.Current.Recorder = ResumeRecording(session, found.Token);
                    }
                    _limits.Add(session.UserId);

                    if (unfit)
                    {
                        Log.SessionAdoptedUnfit(_logger, session.Container, Log.EndpointOf(session), session.ProcessId);
                    }
                    else
                    {
                        Log.SessionAdopted(_logger, session.Container, Log.EndpointOf(session), session.ProcessId);
                    }
                }
            }

            if (checkedFolder)
            {
                _leftovers = [.. SessionProcesses.FindLeftovers(_supervisor, _folder, _options.InstanceName, _key.Current, Entries().Select(static e => e.Token).ToHashSet(StringComparer.Ordinal))];
            }

            _adopted = true;
        }
    }

    private void ForeignKey(string path) => Log.InstanceKeyForeign(_logger, path);

    // The key file gone with its folder (deleted under a running host) is written back at each repair pass, not only at
    // the next start: sessions that repair keeps (a TCP-mode ttyd still answers) would otherwise be adopted by no later
    // run, and the tool could not verify them. One stat a pass; a folder that cannot be made again is said once.
    private void RestoreKeyFile()
    {
        if (_key.Current is null || File.Exists(_folder.KeyPath(_options.InstanceName)))
        {
            _keyRestoreFailed = false;
            return;
        }

        try
        {
            _ = _key.ForStart(ForeignKey);
            _keyRestoreFailed = false;
        }
        catch (Exception e) when (e is IOException or InvalidOperationException or UnauthorizedAccessException)
        {
            if (!_keyRestoreFailed)
            {
                _keyRestoreFailed = true;
                Log.InstanceKeyNotRestored(_logger, _folder.KeyPath(_options.InstanceName), e.Message);
            }
        }
    }

    private SessionRecorder? ResumeRecording(TtydSession session, string token) =>
        _recordings is null || !session.Persistent || _key.Current is not { } key
            || Native.ResolveExecutable(_options.TmuxPath) is not { } tmux || Native.ResolveExecutable(_options.TtydPath) is not { } ttyd
            ? null
            : StartRecorder(session, token, key, ttyd, tmux);

    /// <summary>Stops every session when <see cref="TtydSessionOptions.StopSessionsOnShutdown"/> is set; otherwise leaves them running for the next run to adopt.</summary>
    public async ValueTask DisposeAsync()
    {
        // A shell start still under way would create its tmux server after this manager is gone, where the next host's
        // stop of the session (one look for its processes) could miss it: each finishes first (bounded by StartTimeout).
        await Task.WhenAll(Entries().Select(static e => e.ShellStart).OfType<Task>()).ConfigureAwait(false);

        if (_options.StopSessionsOnShutdown)
        {
            await StopScopeAsync(new CleanupScope(static (_, _, _) => true, "the host's shutdown (StopSessionsOnShutdown)"), StopReason.Shutdown, CancellationToken.None).ConfigureAwait(false);
        }

        // Sessions outlive the host, their recorders do not (they read from this process): the next run records anew.
        // All at once: each end is bounded, and a recorder whose server is frozen waits out its grace period alone.
        var recorders = new List<Task>();
        foreach (var entry in Entries().ToList())
        {
            entry.Watch?.Dispose();
            if (entry.Recorder is { } recorder)
            {
                entry.Recorder = null;
                recorders.Add(recorder.DisposeAsync().AsTask());
            }
        }

        await Task.WhenAll(recorders).ConfigureAwait(false);

        _metrics.Dispose();
        _listeners.Dispose();
    }

    /// <inheritdoc cref="DisposeAsync" />
    public void Dispose() => DisposeAsync().AsTask().GetAwaiter().GetResult();
}
