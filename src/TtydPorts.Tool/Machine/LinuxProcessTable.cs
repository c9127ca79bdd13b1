using System.Globalization;
using System.Net;
using System.Text;

namespace TtydPorts.Tool.Machine;

/// <summary>
/// <see cref="IHostProcessTable"/> over Linux's <c>/proc</c>: <c>/proc/net/tcp</c> and <c>tcp6</c> for listening
/// sockets, <c>/proc/PID/fd</c> for the socket inodes each process holds, <c>exe</c>, <c>comm</c>, <c>environ</c>
/// and <c>stat</c> for what a process is.
/// </summary>
internal sealed class LinuxProcessTable(string procRoot = "/proc") : IHostProcessTable
{
    private const string ListenState = "0A";
    private static readonly byte[] InstanceMarker = Encoding.ASCII.GetBytes("TTYDPORTS_INSTANCE=");

    public IReadOnlyList<Listener> ReadListeners()
    {
        var sockets = new List<(IPAddress Address, int Port, string Inode)>();
        foreach (var table in new[] { "net/tcp", "net/tcp6" })
        {
            string[] lines;
            try
            {
                lines = File.ReadAllLines(Path.Combine(procRoot, table));
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                continue; // no IPv6 on this machine
            }

            foreach (var line in lines.Skip(1))
            {
                if (ParseListenLine(line) is { } socket)
                {
                    sockets.Add(socket);
                }
            }
        }

        var owners = OwnersOf(sockets.Select(s => s.Inode).ToHashSet(StringComparer.Ordinal));
        return [.. sockets
            .OrderBy(s => s.Port)
            .Select(s => new Listener(s.Address, s.Port, owners.TryGetValue(s.Inode, out var list) ? list : []))];
    }

    /// <summary>Parses one line of <c>/proc/net/tcp{,6}</c>; <see langword="null"/> unless it is a listening socket.</summary>
    internal static (IPAddress Address, int Port, string Inode)? ParseListenLine(string line)
    {
        // sl local_address rem_address st tx_queue:rx_queue tr:tm->when retrnsmt uid timeout inode ...
        var fields = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
        if (fields.Length < 10 || fields[3] != ListenState)
        {
            return null;
        }

        var colon = fields[1].IndexOf(':', StringComparison.Ordinal);
        if (colon < 0 || !int.TryParse(fields[1].AsSpan(colon + 1), NumberStyles.HexNumber, CultureInfo.InvariantCulture, out var port)
            || ParseAddress(fields[1].AsSpan(0, colon)) is not { } address)
        {
            return null;
        }

        return (address, port, fields[9]);
    }

    // The kernel prints the address as 32-bit words in host (little-endian) order.
    private static IPAddress? ParseAddress(ReadOnlySpan<char> hex)
    {
        if (hex.Length is not (8 or 32))
        {
            return null;
        }

        var bytes = new byte[hex.Length / 2];
        for (var word = 0; word < bytes.Length / 4; word++)
        {
            for (var i = 0; i < 4; i++)
            {
                if (!byte.TryParse(hex.Slice((word * 4 + i) * 2, 2), NumberStyles.HexNumber, CultureInfo.InvariantCulture, out var b))
                {
                    return null;
                }

                bytes[word * 4 + 3 - i] = b;
            }
        }

        return new IPAddress(bytes);
    }

    private Dictionary<string, List<HostProcess>> OwnersOf(HashSet<string> inodes)
    {
        var owners = new Dictionary<string, List<HostProcess>>(StringComparer.Ordinal);
        if (inodes.Count == 0)
        {
            return owners;
        }

        foreach (var pid in EnumeratePids())
        {
            IEnumerable<string> fds;
            try
            {
                fds = Directory.EnumerateFiles(Path.Combine(procRoot, pid.ToString(CultureInfo.InvariantCulture), "fd")).ToList();
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                continue;
            }

            HostProcess? process = null;
            foreach (var fd in fds)
            {
                string? target;
                try
                {
                    target = new FileInfo(fd).LinkTarget;
                }
                catch (Exception e) when (e is IOException or UnauthorizedAccessException)
                {
                    continue;
                }

                if (target is not null && target.StartsWith("socket:[", StringComparison.Ordinal) && inodes.Contains(target[8..^1]))
                {
                    process ??= Describe(pid);
                    if (process is null)
                    {
                        break;
                    }

                    var list = owners.TryGetValue(target[8..^1], out var l) ? l : owners[target[8..^1]] = [];
                    if (!list.Contains(process))
                    {
                        list.Add(process);
                    }
                }
            }
        }

        return owners;
    }

    public IReadOnlyList<HostProcess> FindForeignTtyd()
    {
        var found = new List<HostProcess>();
        foreach (var pid in EnumeratePids())
        {
            if (IsTtyd(pid) && !CarriesMarker(pid) && Describe(pid) is { } process)
            {
                found.Add(process);
            }
        }

        return found;
    }

    private bool IsTtyd(int pid)
    {
        var dir = Path.Combine(procRoot, pid.ToString(CultureInfo.InvariantCulture));
        try
        {
            if (new FileInfo(Path.Combine(dir, "exe")).LinkTarget is { } exe)
            {
                // A replaced binary reads "/usr/bin/ttyd (deleted)".
                var name = Path.GetFileName(exe.EndsWith(" (deleted)", StringComparison.Ordinal) ? exe[..^10] : exe);
                if (name == "ttyd")
                {
                    return true;
                }
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
        }

        try
        {
            return File.ReadAllText(Path.Combine(dir, "comm")).TrimEnd('\n') == "ttyd";
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return false;
        }
    }

    // A process whose environment cannot be read counts as unmarked: the library's discovery cannot see it either.
    private bool CarriesMarker(int pid)
    {
        try
        {
            var environ = File.ReadAllBytes(Path.Combine(procRoot, pid.ToString(CultureInfo.InvariantCulture), "environ"));
            foreach (var range in environ.AsSpan().Split((byte)0))
            {
                if (environ.AsSpan()[range].StartsWith(InstanceMarker))
                {
                    return true;
                }
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
        }

        return false;
    }

    public IReadOnlySet<int> OwnLineage()
    {
        var lineage = new HashSet<int>();
        for (var pid = Environment.ProcessId; pid > 0 && lineage.Add(pid);)
        {
            pid = ReadStat(pid) is { } stat ? stat.Parent : 0;
        }

        return lineage;
    }

    public string? StandardOutputFile(int processId)
    {
        try
        {
            var target = new FileInfo(Path.Combine(procRoot, processId.ToString(CultureInfo.InvariantCulture), "fd", "1")).LinkTarget;
            return target is not null && target.StartsWith('/') && File.Exists(target) ? target : null;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return null;
        }
    }

    private HostProcess? Describe(int pid)
    {
        if (ReadStat(pid) is not { Exited: false } stat)
        {
            return null;
        }

        var dir = Path.Combine(procRoot, pid.ToString(CultureInfo.InvariantCulture));
        string command;
        try
        {
            command = File.ReadAllText(Path.Combine(dir, "cmdline")).TrimEnd('\0').Replace('\0', ' ');
            if (command.Length == 0)
            {
                command = $"[{File.ReadAllText(Path.Combine(dir, "comm")).TrimEnd('\n')}]";
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            command = "?";
        }

        return new HostProcess(new ProcessIdentity(pid, stat.StartTime), command);
    }

    private (bool Exited, int Parent, ulong StartTime)? ReadStat(int pid)
    {
        string text;
        try
        {
            text = File.ReadAllText(Path.Combine(procRoot, pid.ToString(CultureInfo.InvariantCulture), "stat"));
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return null;
        }

        return ParseStat(text);
    }

    /// <summary>State, parent and start time from <c>/proc/PID/stat</c> (fields counted after the last ')', since the name may hold any character).</summary>
    internal static (bool Exited, int Parent, ulong StartTime)? ParseStat(string stat)
    {
        var close = stat.LastIndexOf(')');
        if (close < 0 || close + 2 >= stat.Length)
        {
            return null;
        }

        var fields = stat[(close + 2)..].Split(' ');
        if (fields.Length < 20
            || !int.TryParse(fields[1], NumberStyles.Integer, CultureInfo.InvariantCulture, out var parent)
            || !ulong.TryParse(fields[19], NumberStyles.None, CultureInfo.InvariantCulture, out var start))
        {
            return null;
        }

        return (fields[0] is "Z" or "X" or "x", parent, start);
    }

    private IEnumerable<int> EnumeratePids()
    {
        foreach (var dir in Directory.EnumerateDirectories(procRoot))
        {
            if (int.TryParse(Path.GetFileName(dir.AsSpan()), NumberStyles.None, CultureInfo.InvariantCulture, out var pid))
            {
                yield return pid;
            }
        }
    }
}
