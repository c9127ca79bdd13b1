using System.Collections.Concurrent;
using System.Collections.Immutable;
using System.Diagnostics.Metrics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;

namespace TtydPorts;

/// <summary>
/// Default <see cref="ITtydSessionManager"/>. Sessions live in a per-container slot whose gate serialises
/// creation and stopping for that container only, so concurrent calls for one container start one ttyd while
/// calls for other containers go on in parallel. The reuse path takes no lock and reads one <c>/proc</c> file.
/// </summary>
public sealed class TtydSessionManager : ITtydSessionManager, IAsyncDisposable, IDisposable
{
    // Processes left inside a container get a moment to end on SIGTERM; interactive shells ignore it.
    private static readonly TimeSpan ExecGracePeriod = TimeSpan.FromMilliseconds(500);

    private readonly IPortAllocator _ports;
    private readonly IProcessSupervisor _supervisor;
    private readonly IContainerInventory _inventory;
    private readonly TtydSessionOptions _options;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly IPAddress _address;
    private readonly string _runtimeDirectory;
    private readonly bool _useSockets;
    private readonly bool _useCredentials;
    private readonly TtydPortsMetrics _metrics;
    private readonly ConcurrentDictionary<string, SessionSlot> _slots = new(StringComparer.Ordinal);
    private readonly Lock _adoptLock = new();
    private readonly Lock _limitLock = new();
    private readonly Dictionary<string, int> _perUser = new(StringComparer.Ordinal);
    private int _sessionCount;
    private volatile bool _adopted;
    private volatile string? _lastError;

    /// <summary>Creates the manager from its parts.</summary>
    public TtydSessionManager(
        IPortAllocator ports,
        IProcessSupervisor supervisor,
        IContainerInventory inventory,
        IOptions<TtydSessionOptions> options,
        TimeProvider timeProvider,
        ILogger<TtydSessionManager>? logger = null,
        IMeterFactory? meterFactory = null)
    {
        ArgumentNullException.ThrowIfNull(ports);
        ArgumentNullException.ThrowIfNull(supervisor);
        ArgumentNullException.ThrowIfNull(inventory);
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(timeProvider);
        _ports = ports;
        _supervisor = supervisor;
        _inventory = inventory;
        _options = options.Value;
        _time = timeProvider;
        _logger = logger ?? NullLogger<TtydSessionManager>.Instance;
        _address = IPAddress.Parse(_options.BindAddress);
        _runtimeDirectory = _options.RuntimeDirectory ?? DefaultRuntimeDirectory();
        _useSockets = _options.ListenMode == TtydListenMode.UnixSocket;
        _useCredentials = _useSockets || _options.RequireCredentials || _options.AllowRemoteAccess || !IPAddress.IsLoopback(_address);
        _metrics = new TtydPortsMetrics(meterFactory, () => Volatile.Read(ref _sessionCount), () => _ports.ReservedCount);
        if (!_useCredentials)
        {
            Log.UnauthenticatedTerminals(_logger, _options.BindAddress);
        }
    }

    /// <inheritdoc />
    public ValueTask<TtydSession?> EnsureSessionAsync(string container, string userId, string? topologyId = null, CancellationToken cancellationToken = default)
    {
        SessionIds.ThrowIfInvalidContainerName(container, nameof(container));
        SessionIds.ThrowIfInvalidId(userId, nameof(userId));
        if (topologyId is not null)
        {
            SessionIds.ThrowIfInvalidId(topologyId, nameof(topologyId));
        }

        EnsureAdopted();
        if (_slots.TryGetValue(container, out var slot) && slot.Current is { } current && IsHealthy(current.Session))
        {
            ThrowIfConflict(current.Session, userId, topologyId);
            _metrics.Started("reused");
            return new(current.Session);
        }

        return new(EnsureSlowAsync(container, userId, topologyId, cancellationToken));
    }

    private async Task<TtydSession?> EnsureSlowAsync(string container, string userId, string? topologyId, CancellationToken cancellationToken)
    {
        while (true)
        {
            var slot = _slots.GetOrAdd(container, static _ => new SessionSlot());
            await slot.Gate.WaitAsync(cancellationToken).ConfigureAwait(false);
            try
            {
                if (!_slots.TryGetValue(container, out var registered) || registered != slot)
                {
                    continue; // emptied and dropped while we waited; take the current slot
                }

                if (slot.Current is { } existing)
                {
                    if (IsHealthy(existing.Session))
                    {
                        ThrowIfConflict(existing.Session, userId, topologyId);
                        _metrics.Started("reused");
                        return existing.Session;
                    }

                    Log.SessionUnhealthy(_logger, container, existing.Session.ProcessId, existing.Session.Port);
                    await StopEntryAsync(existing, StopReason.Dead, FindExecProcesses(existing.Token)).ConfigureAwait(false);
                    slot.Current = null;
                }

                slot.Current = await StartAsync(container, userId, topologyId, cancellationToken).ConfigureAwait(false);
                return slot.Current?.Session;
            }
            finally
            {
                if (slot.Current is null)
                {
                    _slots.TryRemove(new KeyValuePair<string, SessionSlot>(container, slot));
                }

                slot.Gate.Release();
            }
        }
    }

    private async Task<SessionEntry?> StartAsync(string container, string userId, string? topologyId, CancellationToken cancellationToken)
    {
        ContainerInfo? info;
        try
        {
            info = await _inventory.GetContainerAsync(container, cancellationToken).ConfigureAwait(false);
        }
        catch (ContainerEngineException)
        {
            _metrics.Started("failed");
            throw;
        }

        if (info is null || !info.IsRunning)
        {
            _metrics.Started("refused");
            throw new ContainerNotFoundException(container, info?.State);
        }

        ReserveLimit(userId, container);
        var started = _time.GetTimestamp();
        try
        {
            var entry = await StartProcessAsync(container, userId, topologyId, cancellationToken).ConfigureAwait(false);
            if (entry is null)
            {
                ReleaseLimit(userId);
                _metrics.Started("refused");
                return null;
            }

            _lastError = null;
            _metrics.Started("created");
            _metrics.StartDuration.Record(_time.GetElapsedTime(started).TotalSeconds);
            return entry;
        }
        catch (Exception e)
        {
            ReleaseLimit(userId);
            _metrics.Started("failed");
            if (e is TtydStartException)
            {
                _lastError = e.Message;
            }

            throw;
        }
    }

    private async Task<SessionEntry?> StartProcessAsync(string container, string userId, string? topologyId, CancellationToken cancellationToken)
    {
        ProcessLaunchException? last = null;
        for (var attempt = 1; attempt <= _options.MaxStartAttempts; attempt++)
        {
            var port = 0;
            if (!_useSockets && !_ports.TryAcquire(out port))
            {
                Log.PortsExhausted(_logger, container, _ports.RangeStart, _ports.RangeEnd, _ports.ReservedCount);
                return last is null ? null : throw StartFailed(container, attempt - 1, last);
            }

            var token = Guid.NewGuid().ToString("N");
            var planned = new TtydSession(
                container, port, _address, default, userId, topologyId, _time.GetUtcNow(),
                _useSockets ? SocketPathFor(token) : null,
                _useCredentials ? TtydCredential.CreateRandom() : null,
                _options.BasePath is { } basePath ? $"{basePath}/{container}" : null);
            ProcessLaunch launch;
            try
            {
                launch = BuildLaunch(planned, token);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException or InvalidOperationException)
            {
                ReleaseEndpoint(planned);
                throw new TtydStartException($"Cannot prepare ttyd for container '{container}': {e.Message}", e);
            }

            try
            {
                var process = await _supervisor.StartAsync(launch, cancellationToken).ConfigureAwait(false);
                var session = planned with { Process = process };
                Log.SessionStarted(_logger, container, port, process.ProcessId, userId, topologyId);
                return new SessionEntry(session, token, launch.LogPath, _time.GetTimestamp());
            }
            catch (ProcessLaunchException e)
            {
                ReleaseEndpoint(planned);
                DeleteLog(launch.LogPath);
                Log.StartAttemptFailed(_logger, container, port, attempt, e.Message);
                if (e.Failure == LaunchFailure.NotExecutable)
                {
                    throw new TtydStartException($"Cannot start ttyd for container '{container}': {e.Message}", e);
                }

                last = e;
            }
            catch
            {
                // Cancelled or failed otherwise: the supervisor has stopped what it started.
                ReleaseEndpoint(planned);
                DeleteLog(launch.LogPath);
                throw;
            }
        }

        throw StartFailed(container, _options.MaxStartAttempts, last!);
    }

    private static TtydStartException StartFailed(string container, int attempts, ProcessLaunchException last) =>
        new($"ttyd for container '{container}' failed to start after {attempts} attempt(s). Last error: {last.Message}", last);

    private void ReserveLimit(string userId, string container)
    {
        lock (_limitLock)
        {
            if (_options.MaxSessions > 0 && _sessionCount >= _options.MaxSessions)
            {
                _metrics.Started("refused");
                throw new SessionLimitExceededException(SessionLimitScope.Global, _options.MaxSessions, userId, container);
            }

            var mine = _perUser.GetValueOrDefault(userId);
            if (_options.MaxSessionsPerUser > 0 && mine >= _options.MaxSessionsPerUser)
            {
                _metrics.Started("refused");
                throw new SessionLimitExceededException(SessionLimitScope.User, _options.MaxSessionsPerUser, userId, container);
            }

            _perUser[userId] = mine + 1;
            _sessionCount++;
        }
    }

    private void ReleaseLimit(string userId)
    {
        lock (_limitLock)
        {
            if (_perUser.TryGetValue(userId, out var mine))
            {
                if (mine <= 1)
                {
                    _perUser.Remove(userId);
                }
                else
                {
                    _perUser[userId] = mine - 1;
                }
            }

            _sessionCount--;
        }
    }

    private ProcessLaunch BuildLaunch(TtydSession planned, string token)
    {
        var container = planned.Container;
        var arguments = ImmutableArray.CreateBuilder<string>();
        if (planned.SocketPath is { } socket)
        {
            arguments.AddRange("-i", socket);
        }
        else
        {
            arguments.AddRange("-p", planned.Port.ToString(CultureInfo.InvariantCulture), "-i", _address.ToString());
            if (_address.AddressFamily == AddressFamily.InterNetworkV6)
            {
                arguments.Add("-6");
            }
        }

        if (_options.Writable)
        {
            arguments.Add("-W");
        }

        if (planned.BasePath is { } basePath)
        {
            arguments.AddRange("-b", basePath);
        }

        if (_options.CheckOrigin)
        {
            arguments.Add("-O");
        }

        if (_options.MaxClientsPerTerminal > 0)
        {
            arguments.AddRange("-m", _options.MaxClientsPerTerminal.ToString(CultureInfo.InvariantCulture));
        }

        if (planned.Credential is { } credential)
        {
            // ttyd takes the credential only on its command line, which every local user can read; what keeps it
            // useful is where ttyd listens (README, threat model). It is never logged by this library.
            arguments.AddRange("-c", $"{credential.UserName}:{credential.Password}");
        }

        arguments.AddRange(_options.ExtraTtydArguments);

        // The exec'd shell carries the session token, so that the processes it leaves inside the container can be
        // found from the host when the session stops (a killed `docker exec` client does not end them).
        arguments.AddRange(_options.DockerPath, "exec", "-it", "-e", $"{TtydProcessDiscovery.ExecMarker}={token}", container, _options.Shell);

        var environment = ImmutableDictionary.CreateRange(StringComparer.Ordinal, TtydProcessDiscovery.Markers(_options.InstanceName, token, planned));
        if (_options.DockerEndpoint is { } endpoint)
        {
            // docker exec must reach the engine the inventory asked.
            environment = environment.SetItem("DOCKER_HOST", endpoint);
        }

        return new ProcessLaunch(
            _options.TtydPath,
            arguments.ToImmutable(),
            environment,
            planned.SocketPath is { } path
                ? new UnixDomainSocketEndPoint(path)
                : new IPEndPoint(_address.Equals(IPAddress.Any) ? IPAddress.Loopback : _address.Equals(IPAddress.IPv6Any) ? IPAddress.IPv6Loopback : _address, planned.Port),
            _options.StartTimeout,
            LogPathOf(container, planned.Port));
    }

    private string SocketPathFor(string token)
    {
        var path = Path.Combine(EnsureRuntimeDirectory(), $"{token[..24]}.sock");
        return path.Length < 108 ? path
            : throw new InvalidOperationException($"The Unix socket path '{path}' is too long ({path.Length} bytes, at most 107); choose a shorter RuntimeDirectory.");
    }

    // The runtime folder holds the sessions' sockets and logs (which carry their secrets): only this user may enter
    // it. In a shared folder such as /tmp another user could have put a folder, or a link to one, there first: such a
    // folder is refused, never taken over (chmod would follow a link).
    private string EnsureRuntimeDirectory()
    {
        if (OperatingSystem.IsWindows())
        {
            return _runtimeDirectory;
        }

        Directory.CreateDirectory(_runtimeDirectory, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        const ushort typeMask = 0xF000, directory = 0x4000;
        var found = Native.LStat(_runtimeDirectory);
        if (found is not { } stat || (stat.Mode & typeMask) != directory || stat.Uid != Native.geteuid())
        {
            throw new InvalidOperationException(
                $"RuntimeDirectory '{_runtimeDirectory}' is {(found is null ? "missing" : (found.Value.Mode & typeMask) != directory ? "not a directory (a link?)" : $"owned by uid {found.Value.Uid}")}, " +
                $"not a directory of this user (uid {Native.geteuid()}); refusing to keep terminal sockets and logs there.");
        }

        if ((stat.Mode & 0x1FF) != 0x1C0)
        {
            File.SetUnixFileMode(_runtimeDirectory, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        }

        return _runtimeDirectory;
    }

    private void ReleaseEndpoint(TtydSession session)
    {
        if (session.SocketPath is { } socket)
        {
            DeleteLog(socket);
        }
        else
        {
            _ports.Release(session.Port);
        }
    }

    private string LogPathOf(string container, int port) => Path.Combine(EnsureRuntimeDirectory(), $"{_options.InstanceName}-{container}-{port}.log");

    private static void DeleteLog(string? path)
    {
        if (path is not null)
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

    private static string DefaultRuntimeDirectory()
    {
        var runtime = Environment.GetEnvironmentVariable("XDG_RUNTIME_DIR");
        return string.IsNullOrEmpty(runtime)
            ? Path.Combine(Path.GetTempPath(), $"ttydports-{Native.geteuid()}")
            : Path.Combine(runtime, "ttydports");
    }

    private bool IsHealthy(TtydSession session) =>
        _supervisor.IsAlive(session.Process) && (session.SocketPath is { } socket ? File.Exists(socket) : _ports.IsListening(session.Port));

    /// <inheritdoc />
    public TtydSession? FindSession(string container)
    {
        SessionIds.ThrowIfInvalidContainerName(container, nameof(container));
        EnsureAdopted();
        return _slots.TryGetValue(container, out var slot) ? slot.Current?.Session : null;
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
        return StopWhereAsync(e => string.Equals(e.Session.UserId, userId, StringComparison.Ordinal), StopReason.User, cancellationToken);
    }

    /// <inheritdoc />
    public Task<CleanupResult> ClearTopologyAsync(string topologyId, CancellationToken cancellationToken = default)
    {
        SessionIds.ThrowIfInvalidId(topologyId, nameof(topologyId));
        return StopWhereAsync(e => string.Equals(e.Session.TopologyId, topologyId, StringComparison.Ordinal), StopReason.Topology, cancellationToken);
    }

    /// <inheritdoc />
    public Task<CleanupResult> DeleteNodeAsync(string container, CancellationToken cancellationToken = default)
    {
        SessionIds.ThrowIfInvalidContainerName(container, nameof(container));
        return StopWhereAsync(e => string.Equals(e.Session.Container, container, StringComparison.Ordinal), StopReason.Node, cancellationToken);
    }

    /// <inheritdoc />
    public Task<CleanupResult> CleanupAllAsync(CancellationToken cancellationToken = default) =>
        StopWhereAsync(static _ => true, StopReason.All, cancellationToken);

    /// <inheritdoc />
    public async Task<CleanupResult> CleanupOrphansAsync(CancellationToken cancellationToken = default)
    {
        var dead = await StopWhereAsync(e => !IsHealthy(e.Session), StopReason.Dead, cancellationToken).ConfigureAwait(false);
        var existing = await ListContainerNamesAsync(cancellationToken).ConfigureAwait(false);
        var orphans = await StopWhereAsync(e => !existing.Contains(e.Session.Container), StopReason.Orphan, cancellationToken).ConfigureAwait(false);
        return Combine(dead, orphans);
    }

    /// <inheritdoc />
    public async Task<CleanupResult> RepairAsync(CancellationToken cancellationToken = default)
    {
        var dead = await StopWhereAsync(e => !IsHealthy(e.Session), StopReason.Dead, cancellationToken).ConfigureAwait(false);

        var orphans = CleanupResult.Empty;
        HashSet<string>? existing = null;
        try
        {
            existing = await ListContainerNamesAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (ContainerEngineException e)
        {
            Log.InventoryFailed(_logger, e);
        }

        if (existing is not null)
        {
            var now = _time.GetTimestamp();
            foreach (var slot in _slots.Values)
            {
                if (slot.Current is { } entry)
                {
                    entry.MissingSince = existing.Contains(entry.Session.Container) ? 0 : entry.MissingSince == 0 ? now : entry.MissingSince;
                }
            }

            orphans = await StopWhereAsync(
                e => e.MissingSince != 0 && _time.GetElapsedTime(e.MissingSince) >= _options.ContainerGracePeriod,
                StopReason.Orphan,
                cancellationToken).ConfigureAwait(false);
        }

        var idle = CleanupResult.Empty;
        if (_options.IdleTimeout is { } idleTimeout)
        {
            var clients = _useSockets ? null : _ports.CountEstablishedConnections();
            var socketClients = _useSockets ? ProcFs.CountUnixConnections() : null;
            var now = _time.GetTimestamp();
            foreach (var slot in _slots.Values)
            {
                if (slot.Current is { } entry
                    && (entry.Session.SocketPath is { } socket ? socketClients?.GetValueOrDefault(socket) : clients?.GetValueOrDefault(entry.Session.Port)) > 0)
                {
                    entry.LastActive = now;
                }
            }

            idle = await StopWhereAsync(e => _time.GetElapsedTime(e.LastActive) >= idleTimeout, StopReason.Idle, cancellationToken).ConfigureAwait(false);
        }

        return Combine(Combine(dead, orphans), idle);
    }

    private async Task<HashSet<string>> ListContainerNamesAsync(CancellationToken cancellationToken) =>
        (await _inventory.ListContainersAsync(cancellationToken).ConfigureAwait(false)).Select(c => c.Name).ToHashSet(StringComparer.Ordinal);

    private static CleanupResult Combine(CleanupResult a, CleanupResult b) =>
        a.Stopped.Count + a.Failed.Count == 0 ? b
        : b.Stopped.Count + b.Failed.Count == 0 ? a
        : new CleanupResult([.. a.Stopped, .. b.Stopped], [.. a.Failed, .. b.Failed]);

    /// <inheritdoc />
    public TtydStatus GetStatus()
    {
        EnsureAdopted();
        var sessions = new List<TtydSessionStatus>(_slots.Count);
        foreach (var slot in _slots.Values)
        {
            if (slot.Current is { } entry)
            {
                sessions.Add(new TtydSessionStatus(entry.Session, IsHealthy(entry.Session)));
            }
        }

        sessions.Sort(static (a, b) => string.CompareOrdinal(a.Session.Container, b.Session.Container));
        var names = sessions.ConvertAll(s => s.Session.Container);
        return new TtydStatus(sessions.Count(s => s.Healthy), sessions.Count, sessions.Count, names, names, sessions, _lastError);
    }

    private async Task<CleanupResult> StopWhereAsync(Func<SessionEntry, bool> match, StopReason reason, CancellationToken cancellationToken)
    {
        EnsureAdopted();
        var targets = new List<(string Container, SessionSlot Slot)>();
        foreach (var (container, slot) in _slots)
        {
            if (slot.Current is { } entry && match(entry))
            {
                targets.Add((container, slot));
            }
        }

        if (targets.Count == 0)
        {
            return CleanupResult.Empty;
        }

        // One look at the machine for every session's leftovers inside containers, not one per session.
        var execs = FindExecProcesses(token: null);
        var outcomes = await Task.WhenAll(targets.Select(t => StopSlotAsync(t.Container, t.Slot, match, reason, execs, cancellationToken))).ConfigureAwait(false);
        return new CleanupResult(
            [.. outcomes.Where(o => o.Stopped is not null).Select(o => o.Stopped!)],
            [.. outcomes.Where(o => o.Failed is not null).Select(o => o.Failed!)]);
    }

    private async Task<(TtydSession? Stopped, StopFailure? Failed)> StopSlotAsync(
        string container, SessionSlot slot, Func<SessionEntry, bool> match, StopReason reason, ILookup<string, ProcessIdentity> execs, CancellationToken cancellationToken)
    {
        await slot.Gate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            // Re-checked under the gate: the session may have been replaced or stopped meanwhile.
            if (slot.Current is not { } entry || !match(entry))
            {
                return (null, null);
            }

            try
            {
                await StopEntryAsync(entry, reason, execs).ConfigureAwait(false);
            }
            catch (TtydPortsException e)
            {
                return (null, new StopFailure(entry.Session, e));
            }

            slot.Current = null;
            _slots.TryRemove(new KeyValuePair<string, SessionSlot>(container, slot));
            return (entry.Session, null);
        }
        finally
        {
            slot.Gate.Release();
        }
    }

    private ILookup<string, ProcessIdentity> FindExecProcesses(string? token) =>
        _supervisor.FindMarkedProcesses(TtydProcessDiscovery.MarkerPrefix, TtydProcessDiscovery.ExecMarker, token)
            .ToLookup(p => p.Markers[TtydProcessDiscovery.ExecMarker], p => p.Process, StringComparer.Ordinal);

    // Stops the process tree, then what the session left inside its container; the port is released only once
    // ttyd is gone. Not cancellable: a stop abandoned half-way would leave a process whose port we no longer track.
    private async Task StopEntryAsync(SessionEntry entry, StopReason reason, ILookup<string, ProcessIdentity> execs)
    {
        var session = entry.Session;
        try
        {
            await _supervisor.StopAsync(session.Process, _options.StopGracePeriod, CancellationToken.None).ConfigureAwait(false);
        }
        catch (ProcessStopException e)
        {
            Log.StopFailed(_logger, e, session.Container, session.Port, session.ProcessId);
            throw;
        }

        foreach (var leftover in execs[entry.Token])
        {
            try
            {
                await _supervisor.StopAsync(leftover, ExecGracePeriod, CancellationToken.None).ConfigureAwait(false);
            }
            catch (ProcessStopException e)
            {
                Log.StopFailed(_logger, e, session.Container, session.Port, leftover.ProcessId);
            }
        }

        ReleaseEndpoint(session);
        ReleaseLimit(session.UserId);
        DeleteLog(entry.LogPath);
        _metrics.Stopped(reason);
        Log.SessionStopped(_logger, session.Container, session.Port, session.ProcessId, reason);
    }

    // Re-adopts the ttyd processes a previous run of this instance started, from their environment markers.
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

            foreach (var found in TtydProcessDiscovery.Find(_supervisor, _options.InstanceName))
            {
                var session = found.Session with { Address = _address };
                var slot = _slots.GetOrAdd(session.Container, static _ => new SessionSlot());
                if (slot.Current is null && _supervisor.IsAlive(session.Process) && (session.SocketPath is not null || _ports.TryAcquire(session.Port)))
                {
                    var log = Path.Combine(_runtimeDirectory, $"{_options.InstanceName}-{session.Container}-{session.Port}.log");
                    slot.Current = new SessionEntry(session, found.Token, log, _time.GetTimestamp());
                    lock (_limitLock)
                    {
                        _perUser[session.UserId] = _perUser.GetValueOrDefault(session.UserId) + 1;
                        _sessionCount++;
                    }

                    Log.SessionAdopted(_logger, session.Container, session.Port, session.ProcessId);
                }
            }

            _adopted = true;
        }
    }

    /// <summary>Stops every session when <see cref="TtydSessionOptions.StopSessionsOnShutdown"/> is set; otherwise leaves them running for the next run to adopt.</summary>
    public async ValueTask DisposeAsync()
    {
        if (_options.StopSessionsOnShutdown)
        {
            await StopWhereAsync(static _ => true, StopReason.Shutdown, CancellationToken.None).ConfigureAwait(false);
        }

        _metrics.Dispose();
    }

    /// <inheritdoc cref="DisposeAsync" />
    public void Dispose() => DisposeAsync().AsTask().GetAwaiter().GetResult();

    private sealed class SessionSlot
    {
        public readonly SemaphoreSlim Gate = new(1, 1);
        public volatile SessionEntry? Current;
    }

    private sealed class SessionEntry(TtydSession session, string token, string? logPath, long lastActive)
    {
        public TtydSession Session { get; } = session;
        public string Token { get; } = token;
        public string? LogPath { get; } = logPath;

        // TimeProvider timestamps, touched only by repair passes.
        public long LastActive { get; set; } = lastActive;
        public long MissingSince { get; set; }
    }
}
