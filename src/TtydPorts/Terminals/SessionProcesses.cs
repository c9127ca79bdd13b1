namespace TtydPorts;

/// <summary>
/// A session's processes other than its ttyd that outlive ttyd's process tree: the tmux server of a persistent shell
/// (it daemonizes, so it is no child of ttyd) with the <c>docker exec</c> client it runs, and the observer ttyd. Each
/// inherited or was given the session's markers; only those run by the folder's owner whose markers carry a valid
/// signature under the instance key are taken, so a process with copied or forged markers is never signalled.
/// </summary>
internal static class SessionProcesses
{
    /// <summary>
    /// The session's processes (by token; one token when <paramref name="token"/> is given, else every session's), each
    /// the top of its own tree: a process whose parent is marked too is reached through that parent.
    /// </summary>
    public static ILookup<string, ProcessIdentity> Find(IProcessSupervisor supervisor, RuntimeFolder folder, string instanceName, string? token)
    {
        var marked = supervisor.FindMarkedProcesses(TtydProcessDiscovery.MarkerPrefix, TtydProcessDiscovery.SessionMarker, token);
        if (marked.Count == 0 || folder.ReadKey(instanceName, byName: true) is not { } key)
        {
            return Array.Empty<ProcessIdentity>().ToLookup(_ => "");
        }

        var pids = marked.Select(m => m.Process.ProcessId).ToHashSet();
        return marked
            .Where(m => !pids.Contains(m.ParentProcessId) && m.OwnerUid == folder.Owner
                && m.Markers.GetValueOrDefault(TtydProcessDiscovery.InstanceMarker) == instanceName
                && m.Markers.GetValueOrDefault(SessionAdoption.RuntimeMarker) == folder.Path
                && MarkerSignature.Verify(key, m.Markers))
            .ToLookup(m => m.Markers[TtydProcessDiscovery.SessionMarker], m => m.Process, StringComparer.Ordinal);
    }
}
