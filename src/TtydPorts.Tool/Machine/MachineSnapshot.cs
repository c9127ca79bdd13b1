using System.Net;

namespace TtydPorts.Tool.Machine;

/// <summary>What the engine says of a session's container.</summary>
internal enum ContainerPresence
{
    /// <summary>The engine could not be asked.</summary>
    Unknown,
    /// <summary>The session's container runs on another engine than the one the tool reads: not judged.</summary>
    OtherEngine,
    /// <summary>The container runs.</summary>
    Running,
    /// <summary>The container exists but does not run.</summary>
    NotRunning,
    /// <summary>No container of that name exists: the session is an orphan.</summary>
    Missing,
}

/// <summary>One session of this library found on the machine, and how it is doing.</summary>
/// <param name="Found">What its markers say.</param>
/// <param name="Health">The library's own health verdict (<see cref="SessionHealth"/>), as the manager sees it.</param>
/// <param name="Container">Whether its container exists.</param>
internal sealed record SessionView(DiscoveredSession Found, SessionHealthState Health, ContainerPresence Container)
{
    public TtydSession Session => Found.Session;

    public bool Orphan => Container == ContainerPresence.Missing;

    public bool Alive => Health != SessionHealthState.Gone;

    public bool Listening => Health == SessionHealthState.Healthy;

    public bool Healthy => Health == SessionHealthState.Healthy;

    /// <summary>A short word for tables: ok, orphan, dead, stopped, not-listening.</summary>
    public string State => Orphan ? "orphan" : Health switch
    {
        SessionHealthState.Gone => "dead",
        SessionHealthState.Stopped => "stopped",
        SessionHealthState.NotListening => "not-listening",
        _ => "ok",
    };
}

/// <summary>Everything the commands read from the machine, taken at one moment.</summary>
internal sealed record MachineSnapshot(
    IReadOnlyList<SessionView> Sessions,
    IReadOnlyList<HostProcess> Foreign,
    IReadOnlyList<Listener> Listeners,
    IReadOnlySet<int> OwnLineage,
    string? ContainerError,
    DateTimeOffset TakenAt)
{
    /// <summary>
    /// Processes that carry the markers of a session but were not believed, with why: each is neither listed nor
    /// touched, and none stops the others from being read. Only refusals worth an operator's eye are kept (not a
    /// session's own children, other users' processes, or processes of another program).
    /// </summary>
    public IReadOnlyList<RefusedProcess> Refused { get; init; } = [];

    /// <summary>Writes one warning line per refused process to <paramref name="error"/>, its text escaped.</summary>
    public async Task WarnRefusedAsync(TextWriter error, string? instance)
    {
        ArgumentNullException.ThrowIfNull(error);
        foreach (var refused in Refused.Where(r => instance is null || r.Process.Markers.GetValueOrDefault(TtydProcessDiscovery.InstanceMarker) == instance))
        {
            var owner = refused.Process.OwnerUid is { } uid ? $"uid {uid}" : "unknown user";
            await error.WriteLineAsync(Output.TerminalText.Escape(string.Create(System.Globalization.CultureInfo.InvariantCulture,
                $"ttyd-ports: warning: pid {refused.Process.Process.ProcessId} ({owner}) carries TtydPorts markers but is not taken for a session: {refused.Reason.TrimEnd('.')}."))).ConfigureAwait(false);
        }
    }
}

/// <summary>Reads a <see cref="MachineSnapshot"/> through the library's own parts plus the tool's process table.</summary>
internal sealed class MachineReader(IProcessSupervisor supervisor, IContainerInventory inventory, IHostProcessTable table, TimeProvider time)
{
    public IHostProcessTable Table => table;

    /// <summary>Reads the sessions of every instance (commands narrow them to <c>--instance</c>), and the foreign ttyd when asked.</summary>
    public async Task<MachineSnapshot> ReadAsync(bool foreign, CancellationToken cancellationToken)
    {
        var refused = new List<RefusedProcess>();
        var found = TtydProcessDiscovery.Find(supervisor, refused: refused);
        var listeners = table.ReadListeners();

        string? containerError = null;
        Dictionary<string, bool>? containers = null;
        if (found.Count > 0)
        {
            try
            {
                containers = (await inventory.ListContainersAsync(cancellationToken).ConfigureAwait(false))
                    .GroupBy(c => c.Name, StringComparer.Ordinal)
                    .ToDictionary(g => g.Key, g => g.Any(c => c.IsRunning), StringComparer.Ordinal);
            }
            catch (ContainerEngineException e)
            {
                containerError = e.Message;
            }
        }

        // A session started on another engine (Podman, a remote Docker) is never called an orphan from this engine's list.
        var engine = (inventory as IContainerRuntime)?.Endpoint;
        var sessions = found
            .Select(f => new SessionView(
                f,
                SessionHealth.Check(f.Session, supervisor, port => IsListening(f.Session, listeners)),
                f.Engine is not null && engine is not null && !string.Equals(f.Engine, engine, StringComparison.Ordinal) ? ContainerPresence.OtherEngine
                : containers is null ? ContainerPresence.Unknown
                    : containers.TryGetValue(f.Session.Container, out var running) ? (running ? ContainerPresence.Running : ContainerPresence.NotRunning)
                    : ContainerPresence.Missing))
            .OrderBy(s => s.Found.InstanceName, StringComparer.Ordinal)
            .ThenBy(s => s.Session.Container, StringComparer.Ordinal)
            .ThenBy(s => s.Session.Port)
            .ToList();

        return new MachineSnapshot(sessions, foreign ? table.FindForeignTtyd() : [], listeners, table.OwnLineage(), containerError, time.GetUtcNow())
        {
            Refused = [.. refused.Where(r => r.Refusal is not (AdoptionRefusal.Incomplete or AdoptionRefusal.OtherUser or AdoptionRefusal.OtherExecutable))],
        };
    }

    /// <summary>
    /// Whether the session's process holds a socket listening on its port. When the port's listener cannot be
    /// attributed to any process (not readable), a listener on the port counts: the tool errs towards keeping a session.
    /// </summary>
    internal static bool IsListening(TtydSession session, IReadOnlyList<Listener> listeners) =>
        listeners.Any(l => l.Port == session.Port && (l.Owners.Count == 0 || l.Owners.Any(o => o.ProcessId == session.ProcessId)));

    /// <summary>Whether a listener on <paramref name="listener"/> keeps a new socket from binding <paramref name="bind"/> on the same port.</summary>
    internal static bool Conflicts(IPAddress listener, IPAddress bind)
    {
        static bool IsAny(IPAddress a) => a.Equals(IPAddress.Any) || a.Equals(IPAddress.IPv6Any);
        static IPAddress Plain(IPAddress a) => a.IsIPv4MappedToIPv6 ? a.MapToIPv4() : a;
        return IsAny(listener) || IsAny(bind) || Plain(listener).Equals(Plain(bind));
    }
}
