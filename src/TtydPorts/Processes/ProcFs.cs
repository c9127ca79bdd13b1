using System.Globalization;
using System.Text;
using Microsoft.Win32.SafeHandles;

namespace TtydPorts;

/// <summary>Reads what the supervisor needs from Linux's <c>/proc</c>.</summary>
internal static class ProcFs
{
    /// <summary>State and start time of a process, or <see langword="null"/> when there is none.</summary>
    public static ProcStat? ReadStat(int pid)
    {
        Span<byte> buffer = stackalloc byte[1024];
        int length;
        try
        {
            using SafeFileHandle handle = File.OpenHandle($"/proc/{pid}/stat");
            length = RandomAccess.Read(handle, buffer, 0);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return null;
        }

        return ParseStat(buffer[..length]);
    }

    internal static ProcStat? ParseStat(ReadOnlySpan<byte> stat)
    {
        // "pid (comm) state ppid ... starttime ...": comm may hold spaces and parentheses, so fields are counted
        // from the last ')'. Field 3 is the state, 4 the parent, 22 the start time.
        var close = stat.LastIndexOf((byte)')');
        if (close < 0 || close + 2 >= stat.Length)
        {
            return null;
        }

        var rest = stat[(close + 2)..];
        var state = (char)rest[0];
        int field = 3, parent = 0;
        ulong start = 0;
        foreach (var range in rest.Split((byte)' '))
        {
            var token = rest[range];
            if (field == 4)
            {
                parent = int.Parse(token, CultureInfo.InvariantCulture);
            }
            else if (field == 22)
            {
                start = ulong.Parse(token, CultureInfo.InvariantCulture);
                break;
            }

            field++;
        }

        return field == 22 ? new ProcStat(state, parent, start) : null;
    }

    /// <summary>Direct children of a process, from every thread's <c>children</c> file.</summary>
    public static List<int> ReadChildren(int pid)
    {
        var children = new List<int>();
        try
        {
            foreach (var task in Directory.EnumerateDirectories($"/proc/{pid}/task"))
            {
                try
                {
                    foreach (var token in File.ReadAllText(Path.Combine(task, "children")).Split(' ', StringSplitOptions.RemoveEmptyEntries))
                    {
                        children.Add(int.Parse(token, CultureInfo.InvariantCulture));
                    }
                }
                catch (Exception e) when (e is IOException or UnauthorizedAccessException)
                {
                }
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
        }

        return children;
    }

    /// <summary>Every PID in <c>/proc</c>.</summary>
    public static IEnumerable<int> EnumeratePids()
    {
        foreach (var dir in Directory.EnumerateDirectories("/proc"))
        {
            if (int.TryParse(Path.GetFileName(dir.AsSpan()), NumberStyles.None, CultureInfo.InvariantCulture, out var pid))
            {
                yield return pid;
            }
        }
    }

    /// <summary>The process's environment variables whose names start with <paramref name="prefix"/>.</summary>
    public static Dictionary<string, string>? ReadEnvironment(int pid, string prefix)
    {
        byte[] bytes;
        try
        {
            bytes = File.ReadAllBytes($"/proc/{pid}/environ");
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return null;
        }

        var prefixBytes = Encoding.UTF8.GetBytes(prefix);
        if (bytes.AsSpan().IndexOf(prefixBytes) < 0)
        {
            return null;
        }

        var result = new Dictionary<string, string>(StringComparer.Ordinal);
        var span = bytes.AsSpan();
        foreach (var range in span.Split((byte)0))
        {
            var entry = span[range];
            if (!entry.StartsWith(prefixBytes))
            {
                continue;
            }

            var eq = entry.IndexOf((byte)'=');
            if (eq > 0)
            {
                result[Encoding.UTF8.GetString(entry[..eq])] = Encoding.UTF8.GetString(entry[(eq + 1)..]);
            }
        }

        return result;
    }

    /// <summary>Whether the process holds a socket that listens on TCP <paramref name="port"/> (IPv4 or IPv6).</summary>
    public static bool OwnsListeningSocket(int pid, int port)
    {
        var inodes = new HashSet<string>(StringComparer.Ordinal);
        try
        {
            foreach (var fd in Directory.EnumerateFiles($"/proc/{pid}/fd"))
            {
                var target = new FileInfo(fd).LinkTarget;
                if (target is not null && target.StartsWith("socket:[", StringComparison.Ordinal))
                {
                    inodes.Add(target[8..^1]);
                }
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return false;
        }

        if (inodes.Count == 0)
        {
            return false;
        }

        var portHex = ":" + port.ToString("X4", CultureInfo.InvariantCulture);
        foreach (var table in new[] { $"/proc/{pid}/net/tcp", $"/proc/{pid}/net/tcp6" })
        {
            try
            {
                foreach (var line in File.ReadLines(table).Skip(1))
                {
                    // sl local_address rem_address st tx:rx tr:when retrnsmt uid timeout inode
                    var fields = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
                    if (fields.Length > 9 && fields[3] == "0A" && fields[1].EndsWith(portHex, StringComparison.Ordinal) && inodes.Contains(fields[9]))
                    {
                        return true;
                    }
                }
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
            }
        }

        return false;
    }
}

/// <summary>What <c>/proc/PID/stat</c> says of a process.</summary>
internal readonly record struct ProcStat(char State, int ParentId, ulong StartTime)
{
    /// <summary>Zombies and dead tasks have exited; only their parent has not collected them yet.</summary>
    public bool HasExited => State is 'Z' or 'X' or 'x';
}
