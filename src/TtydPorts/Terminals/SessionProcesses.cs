namespace TtydPorts;

/// <summary>
/// A session's processes other than its ttyd that outlive ttyd's process tree: the tmux server of a persistent shell
/// (it daemonizes, so it is no child of ttyd) with the <c>docker exec</c> client it runs, and the observer ttyd. Each
/// inherited or was given the session's markers; only those run by the folder's owner whose markers carry a valid
/// signature under the instance key are taken, so a process with copied or forged markers is never signalled. The key is
/// the caller's: a manager's is the one it holds in memory (<see cref="InstanceKey"/>), so its sessions are still found
/// after their folder and its key file were deleted; the tool reads the folder's (<see cref="RuntimeFolder.ReadKey(string, bool)"/>).
/// A null key (none read or created) finds nothing.
/// </summary>
internal static class SessionProcesses
{
    /// <summary>
    /// The session's processes (by token; one token when <paramref name="token"/> is given, else every session's), each
    /// the top of its own tree: a process whose parent is marked too is reached through that parent.
    /// </summary>
    public static ILookup<string, ProcessIdentity> Find(IProcessSupervisor supervisor, RuntimeFolder folder, string instanceName, byte[]? key, string? token) =>
        Verified(supervisor, folder, instanceName, key, token).ToLookup(m => m.Markers[TtydProcessDiscovery.SessionMarker], m => m.Process, StringComparer.Ordinal);

    /// <summary>
    /// The processes of sessions whose ttyd is gone (not in <paramref name="adopted"/>, and no process of the session is a
    /// ttyd without a role: its signed executable, the one <c>/proc</c> shows or, after an upgrade, that path "(deleted)"),
    /// with a process's markers per session. A session whose ttyd still runs is never among them, adopted or not.
    /// </summary>
    public static List<Leftover> FindLeftovers(IProcessSupervisor supervisor, RuntimeFolder folder, string instanceName, byte[]? key, IReadOnlySet<string> adopted)
    {
        var leftovers = new List<Leftover>();
        foreach (var session in Verified(supervisor, folder, instanceName, key, null).GroupBy(m => m.Markers[TtydProcessDiscovery.SessionMarker], StringComparer.Ordinal))
        {
            if (!adopted.Contains(session.Key) && !session.Any(IsSessionTtyd))
            {
                leftovers.Add(new Leftover(session.Key, [.. session.Select(m => m.Process)], session.First().Markers));
            }
        }

        return leftovers;
    }

    /// <summary>What a session whose ttyd is gone left: its token, its processes, the markers they carry.</summary>
    public sealed record Leftover(string Token, IReadOnlyList<ProcessIdentity> Processes, IReadOnlyDictionary<string, string> Markers);

    private static bool IsSessionTtyd(MarkedProcess process) =>
        !process.Markers.ContainsKey(TtydProcessDiscovery.RoleMarker)
        && process.Markers.GetValueOrDefault(SessionAdoption.ExecutableMarker) is { } exe
        && (process.ExecutablePath == exe || process.ExecutablePath == exe + " (deleted)");

    private static IEnumerable<MarkedProcess> Verified(IProcessSupervisor supervisor, RuntimeFolder folder, string instanceName, byte[]? key, string? token)
    {
        if (key is null)
        {
            return [];
        }

        var marked = supervisor.FindMarkedProcesses(TtydProcessDiscovery.MarkerPrefix, TtydProcessDiscovery.SessionMarker, token);
        if (marked.Count == 0)
        {
            return [];
        }

        var pids = marked.Select(m => m.Process.ProcessId).ToHashSet();
        return marked
            .Where(m => !pids.Contains(m.ParentProcessId) && m.OwnerUid == folder.Owner
                && m.Markers.GetValueOrDefault(TtydProcessDiscovery.InstanceMarker) == instanceName
                && m.Markers.GetValueOrDefault(SessionAdoption.RuntimeMarker) == folder.Path
                && MarkerSignature.Verify(key, m.Markers));
    }
}
