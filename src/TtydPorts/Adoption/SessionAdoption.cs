namespace TtydPorts;

/// <summary>Why a marked process was not taken for a session of ours.</summary>
internal enum AdoptionRefusal
{
    None,
    Incomplete,
    OtherUser,
    OtherExecutable,
    OtherFolder,
    UntrustedFolder,
    BadSignature,
}

/// <summary>
/// The one place that decides which running processes are sessions this library started, so that adoption, signals and
/// file deletions never act on a process another party set up. A marked process is ours only when all hold: it runs as
/// the expected OS user; its executable is the ttyd its markers name (and, for a manager, the configured ttyd); its
/// runtime folder passes <see cref="RuntimeFolder.Check"/>; and its markers carry a valid signature under that folder's
/// instance key. Paths are never taken from markers: sockets and logs are named by the folder from the session token.
/// </summary>
internal sealed class SessionAdoption
{
    /// <summary>Marker: the runtime folder that holds the instance key, sockets and logs.</summary>
    public const string RuntimeMarker = "TTYDPORTS_RUNTIME";

    /// <summary>Marker: the canonical path of the ttyd executable that was started.</summary>
    public const string ExecutableMarker = "TTYDPORTS_EXE";

    private readonly RuntimeFolder? _folder;
    private readonly string? _executable;
    private readonly bool _anyUser;

    private SessionAdoption(RuntimeFolder? folder, string? executable, bool anyUser)
    {
        _folder = folder;
        _executable = executable;
        _anyUser = anyUser;
    }

    /// <summary>For a manager: its own folder and ttyd, its own OS user.</summary>
    public static SessionAdoption ForManager(RuntimeFolder folder, string? executable) => new(folder, executable, anyUser: false);

    /// <summary>
    /// For the <c>ttyd-ports</c> tool, which knows no configuration: each session's folder (from its signed markers) must
    /// be trusted for that session's OS user. Root sees every user's sessions; another user only their own.
    /// </summary>
    public static SessionAdoption ForMachine() => new(null, null, anyUser: Native.geteuid() == 0);

    /// <summary>The sessions of <paramref name="instanceName"/> (every instance when null) that pass the checks.</summary>
    public IReadOnlyList<DiscoveredSession> Find(IProcessSupervisor supervisor, string? instanceName)
    {
        var marked = supervisor.FindMarkedProcesses(TtydProcessDiscovery.MarkerPrefix, TtydProcessDiscovery.InstanceMarker, instanceName);
        var pids = marked.Select(m => m.Process.ProcessId).ToHashSet();
        var keys = new Dictionary<(string Folder, uint Uid, string Instance), byte[]?>();
        var found = new List<DiscoveredSession>();

        // Children of ttyd (its docker exec clients) inherit its environment; the session's own process is the one
        // whose parent carries no markers. An orphaned child fails the executable check below.
        var observers = new Dictionary<string, ProcessIdentity>(StringComparer.Ordinal);
        foreach (var process in marked.Where(m => !pids.Contains(m.ParentProcessId)))
        {
            if (Verify(process, keys) is { } session)
            {
                // An observer ttyd (signed role marker) belongs to the session with its token, never a session of its own.
                if (process.Markers.GetValueOrDefault(TtydProcessDiscovery.RoleMarker) == TtydProcessDiscovery.ObserverRole)
                {
                    observers[session.Token] = process.Process;
                }
                else if (!process.Markers.ContainsKey(TtydProcessDiscovery.RoleMarker))
                {
                    found.Add(session);
                }
            }
        }

        return [.. found.Select(f => observers.TryGetValue(f.Token, out var observer) && f.Folder is not null ? f with { Observer = observer } : f)];
    }

    /// <summary>Why <paramref name="process"/> is not taken for a session, or <see cref="AdoptionRefusal.None"/>.</summary>
    internal AdoptionRefusal Check(MarkedProcess process)
    {
        Verify(process, [], out var refusal);
        return refusal;
    }

    private DiscoveredSession? Verify(MarkedProcess process, Dictionary<(string, uint, string), byte[]?> keys) => Verify(process, keys, out _);

    private DiscoveredSession? Verify(MarkedProcess process, Dictionary<(string, uint, string), byte[]?> keys, out AdoptionRefusal refusal)
    {
        var m = process.Markers;
        if (!m.TryGetValue(RuntimeMarker, out var runtime) || !m.TryGetValue(ExecutableMarker, out var exe)
            || !m.TryGetValue(TtydProcessDiscovery.InstanceMarker, out var instance) || !SessionIds.IsValidId(instance)
            || process.OwnerUid is not { } uid)
        {
            refusal = AdoptionRefusal.Incomplete;
            return null;
        }

        if (!_anyUser && uid != Native.geteuid())
        {
            refusal = AdoptionRefusal.OtherUser;
            return null;
        }

        if (process.ExecutablePath is not { } actual || !string.Equals(actual, exe, StringComparison.Ordinal)
            || (_executable is not null && !string.Equals(actual, _executable, StringComparison.Ordinal)))
        {
            refusal = AdoptionRefusal.OtherExecutable;
            return null;
        }

        var folder = _folder ?? new RuntimeFolder(runtime, uid);
        if (!string.Equals(folder.Path, runtime, StringComparison.Ordinal) || folder.Owner != uid)
        {
            refusal = AdoptionRefusal.OtherFolder;
            return null;
        }

        if (!keys.TryGetValue((runtime, uid, instance), out var key))
        {
            key = keys[(runtime, uid, instance)] = folder.Check(create: false) is null ? folder.ReadKey(instance, byName: true) : null;
        }

        if (key is null)
        {
            refusal = AdoptionRefusal.UntrustedFolder;
            return null;
        }

        if (!MarkerSignature.Verify(key, m) || TtydProcessDiscovery.TryParse(process) is not { } found || !RuntimeFolder.IsToken(found.Token))
        {
            refusal = AdoptionRefusal.BadSignature;
            return null;
        }

        // The socket is where the folder names it for this token, whatever else a marker might say.
        if (found.Session.SocketPath is not null)
        {
            found = found with { Session = found.Session with { SocketPath = folder.SocketPath(found.Token) } };
        }

        refusal = AdoptionRefusal.None;
        return found with { Folder = folder };
    }
}
