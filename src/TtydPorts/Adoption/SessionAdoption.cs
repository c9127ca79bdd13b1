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

    /// <summary>Its user could not be read, or its real, effective and saved ids differ: a set-user-ID or set-group-ID program.</summary>
    UnknownOwner,

    /// <summary>Its runtime folder marker names no folder (empty, relative, not canonical).</summary>
    InvalidMarker,

    /// <summary>It runs as root where its folder's path may mean another folder than it does to the tool (a container's root).</summary>
    RootElsewhere,

    /// <summary>Verifying it failed with an error: it is refused, and the others are still verified.</summary>
    Failed,
}

/// <summary>A marked process that was not taken for a session, and why (the reason may quote its markers: escape before printing).</summary>
internal sealed record RefusedProcess(MarkedProcess Process, AdoptionRefusal Refusal, string Reason);

/// <summary>
/// The one place that decides which running processes are sessions this library started, so that adoption, signals and
/// file deletions never act on a process another party set up. A marked process is ours only when all hold: it runs as
/// the expected OS user, with equal real, effective and saved ids (never a set-user-ID program another user started);
/// its executable is the ttyd its markers name (and, for a manager, the configured ttyd); its runtime folder passes
/// <see cref="RuntimeFolder.Check"/>; and its markers carry a valid signature under that folder's instance key. Until
/// the signature is verified nothing is done but reading: a folder named by a marker is never created or changed.
/// Paths are never taken from markers: sockets and logs are named by the folder from the session token.
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
    private readonly ulong? _mountNamespace;

    private readonly byte[]? _key;

    private SessionAdoption(RuntimeFolder? folder, string? executable, bool anyUser, ulong? mountNamespace = null, byte[]? key = null)
    {
        _key = key;
        _folder = folder;
        _executable = executable;
        _anyUser = anyUser;
        _mountNamespace = mountNamespace;
    }

    /// <summary>For a manager: its own folder and ttyd, its own OS user, and the key it keeps (read from the folder just before).</summary>
    public static SessionAdoption ForManager(RuntimeFolder folder, string? executable, byte[]? key) => new(folder, executable, anyUser: false, key: key);

    /// <summary>
    /// For the <c>ttyd-ports</c> tool, which knows no configuration: each session's folder (from its signed markers) must
    /// be trusted for that session's OS user. Root sees every user's sessions; another user only their own.
    /// </summary>
    public static SessionAdoption ForMachine() => ForMachine(Native.geteuid(), ProcFs.ReadOwnMountNamespace());

    /// <summary>
    /// <see cref="ForMachine()"/> for a tool run as <paramref name="toolUid"/> in the mount namespace
    /// <paramref name="mountNamespace"/>. Run as root, it believes a root session only in root's default folder or when
    /// the session's process shares its mount namespace: uid 0 is also the root of every container of a rootful engine,
    /// which can point its marker at a root-owned 0700 folder of its own (its file system is reachable from the host, e.g.
    /// through <c>/proc/PID/root</c>) and sign with a key it wrote there. A path names the same folder for the tool and
    /// the process only in one mount namespace; and a container's root cannot write root's default folder.
    /// </summary>
    internal static SessionAdoption ForMachine(uint toolUid, ulong? mountNamespace) => new(null, null, anyUser: toolUid == 0, mountNamespace);

    /// <summary>
    /// The sessions of <paramref name="instanceName"/> (every instance when null) that pass the checks; the processes
    /// refused, with why, are added to <paramref name="refused"/> when given. Never throws for one process: an error while
    /// verifying it refuses that process, and the others are still verified.
    /// </summary>
    public IReadOnlyList<DiscoveredSession> Find(IProcessSupervisor supervisor, string? instanceName, ICollection<RefusedProcess>? refused = null)
    {
        var marked = supervisor.FindMarkedProcesses(TtydProcessDiscovery.MarkerPrefix, TtydProcessDiscovery.InstanceMarker, instanceName);
        var pids = marked.Select(m => m.Process.ProcessId).ToHashSet();
        var keys = new Dictionary<(string Folder, uint Uid, string Instance), (byte[]? Key, string? Problem)>();
        var found = new List<DiscoveredSession>();

        // Children of ttyd (its docker exec clients) inherit its environment; the session's own process is the one
        // whose parent carries no markers. An orphaned child fails the executable check below.
        var observers = new Dictionary<string, ProcessIdentity>(StringComparer.Ordinal);
        foreach (var process in marked.Where(m => !pids.Contains(m.ParentProcessId)))
        {
            if (Verify(process, keys, out var refusal, out var reason) is { } session)
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
            else
            {
                refused?.Add(new RefusedProcess(process, refusal, reason));
            }
        }

        return [.. found.Select(f => observers.TryGetValue(f.Token, out var observer) && f.Folder is not null ? f with { Observer = observer } : f)];
    }

    /// <summary>Why <paramref name="process"/> is not taken for a session, or <see cref="AdoptionRefusal.None"/>.</summary>
    internal AdoptionRefusal Check(MarkedProcess process) => Check(process, out _);

    /// <summary>Why <paramref name="process"/> is not taken for a session (and in words), or <see cref="AdoptionRefusal.None"/>.</summary>
    internal AdoptionRefusal Check(MarkedProcess process, out string reason)
    {
        Verify(process, [], out var refusal, out reason);
        return refusal;
    }

    private DiscoveredSession? Verify(MarkedProcess process, Dictionary<(string, uint, string), (byte[]?, string?)> keys, out AdoptionRefusal refusal, out string reason)
    {
        try
        {
            var session = VerifyOrRefuse(process, keys, out refusal, out var why);
            reason = why ?? "";
            return session;
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            // Whatever a process's markers or folder make a check throw, it refuses that process only.
            refusal = AdoptionRefusal.Failed;
            reason = $"verifying it failed: {e.GetType().Name}: {e.Message}";
            return null;
        }
    }

    private DiscoveredSession? VerifyOrRefuse(MarkedProcess process, Dictionary<(string, uint, string), (byte[]?, string?)> keys, out AdoptionRefusal refusal, out string? reason)
    {
        var m = process.Markers;
        if (!m.TryGetValue(RuntimeMarker, out var runtime) || !m.TryGetValue(ExecutableMarker, out var exe)
            || !m.TryGetValue(TtydProcessDiscovery.InstanceMarker, out var instance) || !SessionIds.IsValidId(instance))
        {
            (refusal, reason) = (AdoptionRefusal.Incomplete, "its markers are incomplete");
            return null;
        }

        if (process.OwnerUid is not { } uid)
        {
            (refusal, reason) = (AdoptionRefusal.UnknownOwner,
                "its user could not be read, or its real, effective and saved user or group ids differ (a set-user-ID or set-group-ID program), which no session is");
            return null;
        }

        if (!_anyUser && uid != Native.geteuid())
        {
            (refusal, reason) = (AdoptionRefusal.OtherUser, $"it runs as uid {uid}");
            return null;
        }

        if (process.ExecutablePath is not { } actual || !string.Equals(actual, exe, StringComparison.Ordinal)
            || (_executable is not null && !string.Equals(actual, _executable, StringComparison.Ordinal)))
        {
            (refusal, reason) = (AdoptionRefusal.OtherExecutable, "its executable is not the ttyd its markers name");
            return null;
        }

        RuntimeFolder folder;
        if (_folder is not null)
        {
            if (!string.Equals(_folder.Path, runtime, StringComparison.Ordinal) || _folder.Owner != uid)
            {
                (refusal, reason) = (AdoptionRefusal.OtherFolder, "its runtime folder is not this manager's");
                return null;
            }

            folder = _folder;
        }
        else
        {
            if (RuntimeFolder.MarkerProblem(runtime) is { } problem)
            {
                (refusal, reason) = (AdoptionRefusal.InvalidMarker, problem);
                return null;
            }

            if (uid == 0 && !string.Equals(runtime, RuntimeFolder.RootDefaultPath, StringComparison.Ordinal)
                && (_mountNamespace is not { } own || process.MountNamespace != own))
            {
                (refusal, reason) = (AdoptionRefusal.RootElsewhere,
                    $"it runs as root in another mount namespace than this tool (a container's root, say) and its runtime folder {SessionIds.Quote(runtime)} is not root's default {RuntimeFolder.RootDefaultPath}, so that path may name a folder it controls");
                return null;
            }

            // Read only: a folder from a marker is checked and its key read, and never created or changed.
            folder = RuntimeFolder.FromMarker(runtime, uid);
        }

        if (!keys.TryGetValue((runtime, uid, instance), out var key))
        {
            key = keys[(runtime, uid, instance)] = _key is not null ? (_key, null) : (folder.TryReadKey(instance, out var problem), problem);
        }

        if (key.Item1 is not { } secret)
        {
            (refusal, reason) = (AdoptionRefusal.UntrustedFolder, key.Item2 ?? "its runtime folder cannot be trusted");
            return null;
        }

        if (!MarkerSignature.Verify(secret, m) || TtydProcessDiscovery.TryParse(process) is not { } found || !RuntimeFolder.IsToken(found.Token))
        {
            (refusal, reason) = (AdoptionRefusal.BadSignature, $"its markers carry no valid signature under the key of instance {SessionIds.Quote(instance)} in {SessionIds.Quote(runtime)}");
            return null;
        }

        // The socket is where the folder names it for this token, whatever else a marker might say.
        if (found.Session.SocketPath is not null)
        {
            found = found with { Session = found.Session with { SocketPath = folder.SocketPath(found.Token) } };
        }

        (refusal, reason) = (AdoptionRefusal.None, null);
        return found with { Folder = folder };
    }
}
