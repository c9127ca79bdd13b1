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

    public IReadOnlySet<uint>? ReadGroups(ProcessIdentity process)
    {
        string status;
        try
        {
            status = File.ReadAllText($"/proc/{process.ProcessId}/status");
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return null;
        }

        // Read after the status: the text was the process's if its PID still names it now.
        return ProcFs.ReadStat(process.ProcessId) is { HasExited: false } stat && stat.StartTime == process.StartTime ? ParseGroups(status) : null;
    }

    /// <summary>The groups of a <c>/proc/PID/status</c> text: its <c>Gid:</c> line (real, effective, saved, file system) and its <c>Groups:</c> line.</summary>
    internal static HashSet<uint>? ParseGroups(string status)
    {
        var groups = new HashSet<uint>();
        var lines = 0;
        foreach (var line in status.Split('\n'))
        {
            if (!line.StartsWith("Gid:", StringComparison.Ordinal) && !line.StartsWith("Groups:", StringComparison.Ordinal))
            {
                continue;
            }

            lines++;
            foreach (var field in line[(line.IndexOf(':', StringComparison.Ordinal) + 1)..].Split([' ', '\t'], StringSplitOptions.RemoveEmptyEntries))
            {
                if (!uint.TryParse(field, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var gid))
                {
                    return null;
                }

                groups.Add(gid);
            }
        }

        return lines == 2 ? groups : null;
    }

    public EngineSocket? ReadEngineSocket(string endpoint)
    {
        const string Scheme = "unix://";
        if (!endpoint.StartsWith(Scheme + "/", StringComparison.Ordinal) || Native.RealPath(endpoint[Scheme.Length..]) is not { } path
            || Native.LStatWithGroup(path) is not { } socket)
        {
            return null;
        }

        var folders = new List<FilePermissions>();
        for (var dir = Path.GetDirectoryName(path); dir is not null; dir = Path.GetDirectoryName(dir))
        {
            if (Native.LStatWithGroup(dir) is not { } folder)
            {
                return null;
            }

            folders.Add(new FilePermissions(folder.Uid, folder.Gid, folder.Mode));
        }

        return new EngineSocket(path, new FilePermissions(socket.Uid, socket.Gid, socket.Mode), folders);
    }

    private static HostProcess? Describe(int pid) =>
        ProcFs.ReadStat(pid) is { HasExited: false } stat ? new HostProcess(new ProcessIdentity(pid, stat.StartTime), ProcFs.ReadCommandLine(pid)) : null;
}
