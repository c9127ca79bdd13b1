using System.Buffers;
using System.Globalization;
using System.Net;
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

    /// <summary>The program a process runs (<c>/proc/PID/exe</c>), or null when it cannot be read (another user's, gone).</summary>
    public static string? ReadExecutable(int pid)
    {
        try
        {
            return new FileInfo($"/proc/{pid}/exe").LinkTarget;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return null;
        }
    }

    /// <summary>
    /// The file name of the program a process runs, from <c>/proc/PID/exe</c> (a replaced binary reads
    /// "/usr/bin/ttyd (deleted)", which still names ttyd); null when it cannot be read.
    /// </summary>
    public static string? ReadExecutableName(int pid) =>
        ReadExecutable(pid) is { } exe ? Path.GetFileName(exe.EndsWith(" (deleted)", StringComparison.Ordinal) ? exe[..^10] : exe) : null;

    /// <summary>
    /// The one OS user a process runs as, from <c>/proc/PID/status</c>: its real, effective, saved and file-system uids
    /// when all four are equal and so are its four gids; null when they differ (a set-user-ID or set-group-ID program,
    /// which another user can start with markers of their choosing and which no session is) or cannot be read.
    /// </summary>
    public static uint? ReadOwner(int pid)
    {
        try
        {
            return ParseOwner(File.ReadAllText($"/proc/{pid}/status"));
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return null;
        }
    }

    /// <summary>The owner a <c>/proc/PID/status</c> text names, as <see cref="ReadOwner"/> reads it.</summary>
    internal static uint? ParseOwner(string status)
    {
        uint? uid = null, gid = null;
        foreach (var line in status.Split('\n'))
        {
            if (line.StartsWith("Uid:", StringComparison.Ordinal))
            {
                uid = uid is null ? SameIds(line.AsSpan(4)) : null;
                if (uid is null)
                {
                    return null;
                }
            }
            else if (line.StartsWith("Gid:", StringComparison.Ordinal))
            {
                gid = gid is null ? SameIds(line.AsSpan(4)) : null;
                if (gid is null)
                {
                    return null;
                }
            }
        }

        return gid is null ? null : uid;

        // "real effective saved file-system", separated by tabs: the one id when all four are there and equal.
        static uint? SameIds(ReadOnlySpan<char> ids)
        {
            uint? same = null;
            var count = 0;
            var trimmed = ids.Trim();
            foreach (var range in trimmed.Split('\t'))
            {
                if (!uint.TryParse(trimmed[range], NumberStyles.None, CultureInfo.InvariantCulture, out var id) || (same is { } first && first != id))
                {
                    return null;
                }

                same = id;
                count++;
            }

            return count == 4 ? same : null;
        }
    }

    /// <summary>The mount namespace a process lives in (the inode <c>/proc/PID/ns/mnt</c> names), or null when it cannot be read.</summary>
    public static ulong? ReadMountNamespace(int pid) => ReadMountNamespace(pid.ToString(CultureInfo.InvariantCulture));

    /// <summary>This process's own mount namespace.</summary>
    public static ulong? ReadOwnMountNamespace() => ReadMountNamespace("self");

    private static ulong? ReadMountNamespace(string process)
    {
        try
        {
            // "mnt:[4026531841]"
            return new FileInfo($"/proc/{process}/ns/mnt").LinkTarget is { } link && link.StartsWith("mnt:[", StringComparison.Ordinal) && link.EndsWith(']')
                && ulong.TryParse(link.AsSpan(5, link.Length - 6), NumberStyles.None, CultureInfo.InvariantCulture, out var inode) ? inode : null;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return null;
        }
    }

    /// <summary>
    /// Clock ticks since boot as <c>/proc/PID/stat</c> counts start times (USER_HZ, 100 a second on Linux), from
    /// <c>/proc/uptime</c>; null when it cannot be read.
    /// </summary>
    public static ulong? ReadUptimeTicks()
    {
        try
        {
            var text = File.ReadAllText("/proc/uptime");
            return double.TryParse(text.AsSpan(0, Math.Max(0, text.IndexOf(' '))), NumberStyles.AllowDecimalPoint, CultureInfo.InvariantCulture, out var seconds)
                ? (ulong)(seconds * 100) : null;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return null;
        }
    }

    /// <summary>The process's <c>comm</c> (its name, at most 15 bytes), or null when it cannot be read.</summary>
    public static string? ReadComm(int pid)
    {
        try
        {
            return File.ReadAllText($"/proc/{pid}/comm").TrimEnd('\n');
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return null;
        }
    }

    /// <summary>The process's arguments joined by spaces, <c>[comm]</c> for a kernel thread, "?" when unreadable.</summary>
    public static string ReadCommandLine(int pid)
    {
        try
        {
            var command = File.ReadAllText($"/proc/{pid}/cmdline").TrimEnd('\0').Replace('\0', ' ');
            return command.Length > 0 ? command : $"[{File.ReadAllText($"/proc/{pid}/comm").TrimEnd('\n')}]";
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return "?";
        }
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

    /// <summary>
    /// How much of a process's environment is read. Every scan reads every process's, and a container's processes are
    /// its tenant's: a shell with megabytes of variables, forked thousands of times (the pages are shared, so it costs the
    /// tenant little), made each scan (every stop, every repair pass) read gigabytes. Our own processes carry their markers
    /// first (<see cref="LinuxProcessSupervisor"/> writes them first; one variable is at most 128 KiB, the kernel's limit);
    /// an exec's marker comes after the container's configured variables, which the lab sets.
    /// </summary>
    internal const int MaxEnvironmentBytes = 256 * 1024;

    /// <summary>
    /// The process's environment variables whose names start with <paramref name="prefix"/>, among those that lie whole
    /// in its first <see cref="MaxEnvironmentBytes"/>.
    /// </summary>
    public static Dictionary<string, string>? ReadEnvironment(int pid, string prefix)
    {
        var buffer = ArrayPool<byte>.Shared.Rent(MaxEnvironmentBytes + 1);
        try
        {
            var length = 0;
            try
            {
                using var handle = File.OpenHandle($"/proc/{pid}/environ");
                for (int read; length <= MaxEnvironmentBytes && (read = RandomAccess.Read(handle, buffer.AsSpan(length, MaxEnvironmentBytes + 1 - length), length)) > 0;)
                {
                    length += read;
                }
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                return null;
            }

            // Past the cap: only the variables that end before it (a cut one could read as another value).
            var span = buffer.AsSpan(0, length);
            if (length > MaxEnvironmentBytes)
            {
                span = span[..(span[..MaxEnvironmentBytes].LastIndexOf((byte)0) + 1)];
            }

            return ParseEnvironment(span, prefix);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    private static Dictionary<string, string>? ParseEnvironment(ReadOnlySpan<byte> span, string prefix)
    {
        var prefixBytes = Encoding.UTF8.GetBytes(prefix);
        if (span.IndexOf(prefixBytes) < 0)
        {
            return null;
        }

        var result = new Dictionary<string, string>(StringComparer.Ordinal);
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

    /// <summary>
    /// Connected clients per Unix socket path: the server side of each accepted connection carries the listener's path
    /// in <c>/proc/net/unix</c> ("Num RefCount Protocol Flags Type St Inode Path", state 03 = connected).
    /// </summary>
    public static Dictionary<string, int> CountUnixConnections()
    {
        var counts = new Dictionary<string, int>(StringComparer.Ordinal);
        try
        {
            foreach (var line in File.ReadLines("/proc/net/unix").Skip(1))
            {
                var fields = line.Split(' ', 8, StringSplitOptions.RemoveEmptyEntries);
                if (fields.Length == 8 && fields[5] == "03")
                {
                    counts[fields[7]] = counts.GetValueOrDefault(fields[7]) + 1;
                }
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
        }

        return counts;
    }

    /// <summary>Whether the process holds a socket that listens on TCP <paramref name="port"/> (IPv4 or IPv6).</summary>
    public static bool OwnsListeningSocket(int pid, int port)
    {
        // The kernel's sock_diag answers for listening sockets only, and for this port only: the process need then
        // hold one of those few sockets, and its descriptors are read until one is found.
        if (SockDiag.FindListenerInodes(port) is { } found)
        {
            return found.Count > 0 && HoldsAnySocket(pid, found);
        }

        if (ReadSocketInodes(pid) is not { Count: > 0 } inodes)
        {
            return false;
        }

        // No sock_diag: the text tables make the kernel walk every bucket of the connection hash, milliseconds on any
        // machine, and are the fallback only.
        foreach (var table in (ReadOnlySpan<string>)[$"/proc/{pid}/net/tcp", $"/proc/{pid}/net/tcp6"])
        {
            byte[] text;
            try
            {
                text = File.ReadAllBytes(table);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                continue;
            }

            if (HasListener(text, port, inodes))
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>
    /// Whether the process holds one of <paramref name="inodes"/> (a <c>/proc/PID/fd</c> link that reads
    /// <c>socket:[inode]</c>); false when its descriptors cannot be read. Plain <c>readlink</c>, stopping at the first match.
    /// </summary>
    public static unsafe bool HoldsAnySocket(int pid, HashSet<ulong> inodes)
    {
        Span<byte> target = stackalloc byte[64];
        try
        {
            foreach (var fd in Directory.EnumerateFiles($"/proc/{pid}/fd"))
            {
                nint length;
                fixed (byte* raw = target)
                {
                    length = Native.readlink(fd, raw, (nuint)target.Length);
                }

                // "socket:[" digits "]"; anything else (a file, a pipe, a descriptor closed meanwhile) is skipped.
                if (length > 9 && length < target.Length && target.StartsWith("socket:["u8) && target[(int)length - 1] == (byte)']'
                    && ulong.TryParse(target[8..((int)length - 1)], NumberStyles.None, CultureInfo.InvariantCulture, out var inode)
                    && inodes.Contains(inode))
                {
                    return true;
                }
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return false;
        }

        return false;
    }

    /// <summary>
    /// The inodes of the sockets a process holds (its <c>/proc/PID/fd</c> links that read <c>socket:[inode]</c>), or null
    /// when its descriptors cannot be read (another user's process, or gone). A descriptor closed during the walk is skipped.
    /// </summary>
    public static HashSet<ulong>? ReadSocketInodes(int pid)
    {
        var inodes = new HashSet<ulong>();
        try
        {
            foreach (var fd in Directory.EnumerateFiles($"/proc/{pid}/fd"))
            {
                string? target;
                try
                {
                    target = new FileInfo(fd).LinkTarget;
                }
                catch (IOException)
                {
                    continue;
                }

                if (target is not null && target.StartsWith("socket:[", StringComparison.Ordinal)
                    && ulong.TryParse(target.AsSpan(8, target.Length - 9), NumberStyles.None, CultureInfo.InvariantCulture, out var inode))
                {
                    inodes.Add(inode);
                }
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return null;
        }

        return inodes;
    }

    /// <summary>Every listening TCP socket of the machine's <c>/proc/net/tcp</c> and <c>tcp6</c>, with its local address.</summary>
    public static List<TcpSocket> ReadTcpListeners()
    {
        var listeners = new List<TcpSocket>();
        foreach (var table in (ReadOnlySpan<string>)["/proc/net/tcp", "/proc/net/tcp6"])
        {
            byte[] text;
            try
            {
                text = File.ReadAllBytes(table);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                continue; // no IPv6 on this machine
            }

            listeners.AddRange(ParseTcpTable(text, readAddress: true).Where(s => s.State == TcpListen));
        }

        return listeners;
    }

    internal static bool HasListener(ReadOnlySpan<byte> table, int port, HashSet<ulong> inodes) =>
        ParseTcpTable(table).Exists(s => s.State == TcpListen && s.LocalPort == port && inodes.Contains(s.Inode));

    public const byte TcpEstablished = 0x01;
    public const byte TcpListen = 0x0A;

    /// <summary>
    /// The sockets of a <c>/proc/net/tcp</c> or <c>tcp6</c> table: "sl local_address rem_address st tx:rx tr:when
    /// retrnsmt uid timeout inode ...", the local port in hex after the colon, the state in hex.
    /// </summary>
    /// <param name="table">The table's text, header line included.</param>
    /// <param name="readAddress">Whether to fill <see cref="TcpSocket.LocalAddress"/> (an allocation per line, so only when asked).</param>
    internal static List<TcpSocket> ParseTcpTable(ReadOnlySpan<byte> table, bool readAddress = false)
    {
        var sockets = new List<TcpSocket>();
        var header = true;
        foreach (var range in table.Split((byte)'\n'))
        {
            if (header)
            {
                header = false;
                continue;
            }

            ReadOnlySpan<byte> local = default, state = default, inode = default;
            var field = 0;
            var rest = table[range];
            while (!rest.IsEmpty && field <= 9)
            {
                rest = rest.TrimStart((byte)' ');
                var end = rest.IndexOf((byte)' ');
                var token = end < 0 ? rest : rest[..end];
                switch (field)
                {
                    case 1: local = token; break;
                    case 3: state = token; break;
                    case 9: inode = token; break;
                }

                rest = end < 0 ? default : rest[end..];
                field++;
            }

            if (local.LastIndexOf((byte)':') is var colon and >= 0
                && int.TryParse(local[(colon + 1)..], NumberStyles.HexNumber, CultureInfo.InvariantCulture, out var port)
                && byte.TryParse(state, NumberStyles.HexNumber, CultureInfo.InvariantCulture, out var st)
                && ulong.TryParse(inode, NumberStyles.None, CultureInfo.InvariantCulture, out var number))
            {
                var address = readAddress ? ParseTcpAddress(local[..colon]) : null;
                if (!readAddress || address is not null)
                {
                    sockets.Add(new TcpSocket(port, st, number) { LocalAddress = address });
                }
            }
        }

        return sockets;
    }

    /// <summary>An address as the tables print it: 4 or 16 bytes in hex, as 32-bit words in host (little-endian) order.</summary>
    internal static IPAddress? ParseTcpAddress(ReadOnlySpan<byte> hex)
    {
        if (hex.Length is not (8 or 32))
        {
            return null;
        }

        Span<byte> bytes = stackalloc byte[hex.Length / 2];
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
}

/// <summary>One line of a <c>/proc/net/tcp</c> table.</summary>
internal readonly record struct TcpSocket(int LocalPort, byte State, ulong Inode)
{
    /// <summary>The local address, when the table was parsed with it.</summary>
    public IPAddress? LocalAddress { get; init; }
}

/// <summary>What <c>/proc/PID/stat</c> says of a process.</summary>
internal readonly record struct ProcStat(char State, int ParentId, ulong StartTime)
{
    /// <summary>Zombies and dead tasks have exited; only their parent has not collected them yet.</summary>
    public bool HasExited => State is 'Z' or 'X' or 'x';
}
