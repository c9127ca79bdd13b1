namespace TtydPorts.Tool.Machine;

/// <summary>
/// <see cref="IHostProcessTable"/> over the library's own reading of Linux's <c>/proc</c> (<see cref="ProcFs"/>): the
/// listening sockets, the socket inodes each process holds, and what a process is.
/// </summary>
internal sealed class LinuxProcessTable : IHostProcessTable
{
    private const string InstanceMarker = TtydProcessDiscovery.InstanceMarker + "=";

    public IReadOnlyList<Listener> ReadListeners()
    {
        var sockets = ProcFs.ReadTcpListeners();
        var owners = OwnersOf([.. sockets.Select(s => s.Inode)]);
        return [.. sockets
            .OrderBy(s => s.LocalPort)
            .Select(s => new Listener(s.LocalAddress!, s.LocalPort, owners.TryGetValue(s.Inode, out var list) ? list : []))];
    }

    private static Dictionary<ulong, List<HostProcess>> OwnersOf(HashSet<ulong> inodes)
    {
        var owners = new Dictionary<ulong, List<HostProcess>>();
        if (inodes.Count == 0)
        {
            return owners;
        }

        foreach (var pid in ProcFs.EnumeratePids())
        {
            if (ProcFs.ReadSocketInodes(pid) is not { } held || !held.Overlaps(inodes))
            {
                continue;
            }

            if (Describe(pid) is not { } process)
            {
                continue;
            }

            foreach (var inode in held.Where(inodes.Contains))
            {
                var list = owners.TryGetValue(inode, out var l) ? l : owners[inode] = [];
                if (!list.Contains(process))
                {
                    list.Add(process);
                }
            }
        }

        return owners;
    }

    public IReadOnlyList<HostProcess> FindForeignTtyd()
    {
        var found = new List<HostProcess>();
        foreach (var pid in ProcFs.EnumeratePids())
        {
            if (IsTtyd(pid) && !CarriesMarker(pid) && Describe(pid) is { } process)
            {
                found.Add(process);
            }
        }

        return found;
    }

    // By executable when it can be read, else by name (another user's process).
    private static bool IsTtyd(int pid) => ProcFs.ReadExecutableName(pid) == "ttyd" || ProcFs.ReadComm(pid) == "ttyd";

    // A process whose environment cannot be read counts as unmarked: the library's discovery cannot see it either.
    private static bool CarriesMarker(int pid) => ProcFs.ReadEnvironment(pid, InstanceMarker) is { Count: > 0 };

    public IReadOnlySet<int> OwnLineage()
    {
        var lineage = new HashSet<int>();
        for (var pid = Environment.ProcessId; pid > 0 && lineage.Add(pid);)
        {
            pid = ProcFs.ReadStat(pid) is { } stat ? stat.ParentId : 0;
        }

        return lineage;
    }

    private static HostProcess? Describe(int pid) =>
        ProcFs.ReadStat(pid) is { HasExited: false } stat ? new HostProcess(new ProcessIdentity(pid, stat.StartTime), ProcFs.ReadCommandLine(pid)) : null;
}
