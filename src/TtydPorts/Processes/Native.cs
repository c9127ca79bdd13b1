using System.Runtime.InteropServices;

namespace TtydPorts;

/// <summary>The few libc calls the supervisor needs that .NET's Process class does not offer.</summary>
internal static partial class Native
{
    public const int SIGKILL = 9;
    public const int SIGTERM = 15;
    public const int SIGCONT = 18;
    public const int WNOHANG = 1;
    public const int ESRCH = 3;
    public const int ECHILD = 10;

    public const short POSIX_SPAWN_SETSIGDEF = 0x04;
    public const short POSIX_SPAWN_SETSIGMASK = 0x08;
    public const short POSIX_SPAWN_SETSID = 0x80;

    public const int O_RDONLY = 0;
    public const int O_WRONLY = 1;
    public const int O_CREAT = 0x40;
    public const int O_APPEND = 0x400;

    // glibc's opaque types are 80 (file actions), 336 (attributes) and 128 (sigset) bytes; over-allocate.
    public const int FileActionsSize = 256;
    public const int SpawnAttrSize = 1024;
    public const int SigSetSize = 256;

    [LibraryImport("libc", SetLastError = true)]
    public static partial int kill(int pid, int sig);

    [LibraryImport("libc", SetLastError = true)]
    public static partial int waitpid(int pid, out int status, int options);

    [LibraryImport("libc", StringMarshalling = StringMarshalling.Utf8)]
    public static unsafe partial int posix_spawnp(out int pid, string file, void* fileActions, void* attributes, byte** argv, byte** envp);

    [LibraryImport("libc")]
    public static unsafe partial int posix_spawn_file_actions_init(void* fileActions);

    [LibraryImport("libc")]
    public static unsafe partial int posix_spawn_file_actions_destroy(void* fileActions);

    [LibraryImport("libc", StringMarshalling = StringMarshalling.Utf8)]
    public static unsafe partial int posix_spawn_file_actions_addopen(void* fileActions, int fd, string path, int flags, int mode);

    [LibraryImport("libc")]
    public static unsafe partial int posix_spawn_file_actions_adddup2(void* fileActions, int fd, int newFd);

    [LibraryImport("libc")]
    public static unsafe partial int posix_spawnattr_init(void* attributes);

    [LibraryImport("libc")]
    public static unsafe partial int posix_spawnattr_destroy(void* attributes);

    [LibraryImport("libc")]
    public static unsafe partial int posix_spawnattr_setflags(void* attributes, short flags);

    [LibraryImport("libc")]
    public static unsafe partial int posix_spawnattr_setsigmask(void* attributes, void* sigset);

    [LibraryImport("libc")]
    public static unsafe partial int posix_spawnattr_setsigdefault(void* attributes, void* sigset);

    [LibraryImport("libc")]
    public static unsafe partial int sigemptyset(void* sigset);

    [LibraryImport("libc")]
    public static unsafe partial int sigfillset(void* sigset);

    [LibraryImport("libc")]
    public static partial uint geteuid();

    public const int EINTR = 4;
    public const int EADDRINUSE = 98;
    public const int EACCES = 13;
    public const short POLLIN = 0x001;
    private const long SYS_pidfd_send_signal = 424;
    private const long SYS_pidfd_open = 434;

    [LibraryImport("libc", SetLastError = true)]
    private static partial long syscall(long number, long a1, long a2, long a3, long a4);

    /// <summary>A descriptor that names one process for as long as it is open, immune to PID reuse (Linux 5.3+).</summary>
    public static int pidfd_open(int pid) => (int)syscall(SYS_pidfd_open, pid, 0, 0, 0);

    public static int pidfd_send_signal(int pidfd, int signal) => (int)syscall(SYS_pidfd_send_signal, pidfd, signal, 0, 0);

    [LibraryImport("libc", SetLastError = true)]
    public static unsafe partial int poll(PollFd* fds, nuint count, int timeout);

    [LibraryImport("libc", SetLastError = true)]
    public static partial int close(int fd);

    [LibraryImport("libc")]
    public static partial int usleep(uint microseconds);

    private const int AtFdcwd = -100;
    private const int AtSymlinkNofollow = 0x100;
    private const uint StatxType = 0x1;
    private const uint StatxUid = 0x8;

    [LibraryImport("libc", EntryPoint = "statx", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static unsafe partial int statx_(int dirfd, string path, int flags, uint mask, byte* buffer);

    /// <summary>Owner and file mode of <paramref name="path"/> itself (a symbolic link is not followed), or null when it does not exist.</summary>
    public static unsafe (uint Uid, ushort Mode)? LStat(string path)
    {
        // struct statx has one layout on every architecture: stx_uid at 20, stx_mode at 28; 256 bytes in all.
        var buffer = stackalloc byte[256];
        if (statx_(AtFdcwd, path, AtSymlinkNofollow, StatxType | StatxUid, buffer) != 0)
        {
            return null;
        }

        return (*(uint*)(buffer + 20), *(ushort*)(buffer + 28));
    }

    [LibraryImport("libc", EntryPoint = "realpath", StringMarshalling = StringMarshalling.Utf8)]
    private static partial nint realpath_(string path, nint resolved);

    [LibraryImport("libc")]
    private static partial void free(nint pointer);

    /// <summary>The canonical absolute path (every link resolved), or null when it does not exist.</summary>
    public static string? RealPath(string path)
    {
        var resolved = realpath_(path, 0);
        if (resolved == 0)
        {
            return null;
        }

        try
        {
            return Marshal.PtrToStringUTF8(resolved);
        }
        finally
        {
            free(resolved);
        }
    }

    /// <summary>
    /// The program <paramref name="fileName"/> names, as <c>/proc/PID/exe</c> will show it once started: canonical and
    /// absolute, looked up on <c>PATH</c> when it has no slash (as <c>posix_spawnp</c> does); null when there is none.
    /// </summary>
    public static string? ResolveExecutable(string fileName)
    {
        if (fileName.Contains('/', StringComparison.Ordinal))
        {
            return RealPath(fileName);
        }

        if (OperatingSystem.IsWindows())
        {
            return null;
        }

        foreach (var dir in (Environment.GetEnvironmentVariable("PATH") ?? "/usr/local/bin:/usr/bin:/bin").Split(':', StringSplitOptions.RemoveEmptyEntries))
        {
            var candidate = System.IO.Path.Combine(dir, fileName);
            if (File.Exists(candidate) && (File.GetUnixFileMode(candidate) & (UnixFileMode.UserExecute | UnixFileMode.GroupExecute | UnixFileMode.OtherExecute)) != 0)
            {
                return RealPath(candidate);
            }
        }

        return null;
    }

    [LibraryImport("libc", SetLastError = true)]
    public static unsafe partial nint send(int fd, void* buffer, nuint length, int flags);

    [LibraryImport("libc", SetLastError = true)]
    public static unsafe partial nint recv(int fd, void* buffer, nuint length, int flags);

    [LibraryImport("libc", SetLastError = true)]
    public static partial int socket(int domain, int type, int protocol);

    [LibraryImport("libc", SetLastError = true)]
    public static unsafe partial int setsockopt(int fd, int level, int name, void* value, uint length);

    [LibraryImport("libc", SetLastError = true)]
    public static unsafe partial int bind(int fd, byte* address, uint length);

    [System.Runtime.InteropServices.StructLayout(System.Runtime.InteropServices.LayoutKind.Sequential)]
    public struct PollFd
    {
        public int Fd;
        public short Events;
        public short Revents;
    }
}
