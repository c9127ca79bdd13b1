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

    [LibraryImport("libc", EntryPoint = "waitpid", SetLastError = true)]
    private static partial int waitpid_(int pid, out int status, int options);

    /// <summary><c>waitpid</c>, again when a signal interrupted it.</summary>
    public static int waitpid(int pid, out int status, int options)
    {
        int result;
        do
        {
            result = waitpid_(pid, out status, options);
        }
        while (result < 0 && Marshal.GetLastPInvokeError() == EINTR);

        return result;
    }

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
    public const int EEXIST = 17;
    public const short POLLIN = 0x001;

    // pidfd_open and pidfd_send_signal: glibc exports them since 2.36 (Debian 12, Ubuntu 22.10); on an older glibc they
    // go through syscall(2). syscall is variadic, and is bound here with a fixed signature of four longs: that is exact on
    // the two ABIs this library runs on. On x86-64 (System V) variadic integer arguments travel in the same registers as
    // fixed ones (%al, the vector-register count, is read only by callees that save vector registers, which glibc's
    // assembly syscall does not); on Linux arm64 (AAPCS64) variadic arguments are passed exactly like fixed ones (unlike
    // Apple's arm64, which puts them on the stack: not a target). The system call numbers are the same on both (the
    // generic table since Linux 5.3), so no per-architecture table is needed.
    private const long SYS_pidfd_send_signal = 424;
    private const long SYS_pidfd_open = 434;
    private static volatile bool NoLibcPidfd;

    [LibraryImport("libc", SetLastError = true)]
    private static partial long syscall(long number, long a1, long a2, long a3, long a4);

    [LibraryImport("libc", EntryPoint = "pidfd_open", SetLastError = true)]
    private static partial PidFd pidfd_open_libc(int pid, uint flags);

    [LibraryImport("libc", EntryPoint = "pidfd_send_signal", SetLastError = true)]
    private static partial int pidfd_send_signal_libc(PidFd pidfd, int signal, nint info, uint flags);

    /// <summary>
    /// A descriptor that names one process for as long as it is open, immune to PID reuse (Linux 5.3+). The descriptor
    /// goes straight into its handle, so nothing between the call and the handle can leak it; invalid when it failed.
    /// </summary>
    public static PidFd pidfd_open(int pid)
    {
        if (!NoLibcPidfd)
        {
            try
            {
                return pidfd_open_libc(pid, 0);
            }
            catch (EntryPointNotFoundException)
            {
                NoLibcPidfd = true; // glibc older than 2.36
            }
        }

        var handle = new PidFd();
        handle.Adopt((int)syscall(SYS_pidfd_open, pid, 0, 0, 0));
        return handle;
    }

    /// <summary>Sends a signal through a pidfd (never EINTR: it does not block); -1 with errno set on failure.</summary>
    public static int pidfd_send_signal(PidFd pidfd, int signal)
    {
        if (!NoLibcPidfd)
        {
            try
            {
                return pidfd_send_signal_libc(pidfd, signal, 0, 0);
            }
            catch (EntryPointNotFoundException)
            {
                NoLibcPidfd = true;
            }
        }

        var added = false;
        pidfd.DangerousAddRef(ref added);
        try
        {
            return (int)syscall(SYS_pidfd_send_signal, pidfd.DangerousGetHandle(), signal, 0, 0);
        }
        finally
        {
            if (added)
            {
                pidfd.DangerousRelease();
            }
        }
    }

    [LibraryImport("libc", SetLastError = true)]
    public static unsafe partial int poll(PollFd* fds, nuint count, int timeout);

    /// <summary>An eventfd (close-on-exec, non-blocking) that wakes a <c>poll</c>; invalid when the call failed.</summary>
    [LibraryImport("libc", SetLastError = true)]
    public static partial SafeFd eventfd(uint initialValue, int flags);

    public const int EFD_NONBLOCK = 0x800;
    public const int EFD_CLOEXEC = 0x80000;

    // On an eventfd, read and write move 8 bytes at once and never block here (EFD_NONBLOCK); EINTR cannot happen.
    [LibraryImport("libc", SetLastError = true)]
    public static unsafe partial nint read(SafeFd fd, void* buffer, nuint count);

    [LibraryImport("libc", SetLastError = true)]
    public static unsafe partial nint write(SafeFd fd, void* buffer, nuint count);

    /// <summary>An epoll set (close-on-exec); invalid when the call failed.</summary>
    [LibraryImport("libc", SetLastError = true)]
    public static partial SafeFd epoll_create1(int flags);

    public const int EPOLL_CLOEXEC = 0x80000;
    public const int EPOLL_CTL_ADD = 1;
    public const int EPOLL_CTL_DEL = 2;
    public const uint EPOLLIN = 0x001;

    // struct epoll_event is packed on x86-64 (12 bytes, data at 4) and naturally aligned elsewhere (16 bytes, data at 8):
    // it is handled as bytes with the layout of the architecture it runs on.
    public static readonly int EpollEventSize = RuntimeInformation.ProcessArchitecture == Architecture.X64 ? 12 : 16;
    public static readonly int EpollDataOffset = RuntimeInformation.ProcessArchitecture == Architecture.X64 ? 4 : 8;

    [LibraryImport("libc", SetLastError = true)]
    public static unsafe partial int epoll_ctl(SafeFd epoll, int operation, int fd, byte* epollEvent);

    [LibraryImport("libc", SetLastError = true)]
    public static unsafe partial int epoll_wait(SafeFd epoll, byte* events, int maxEvents, int timeout);

    public const int P_ALL = 0;
    public const int WSTOPPED = 2;
    public const int WCONTINUED = 8;
    public const int CLD_TRAPPED = 4;
    public const int CLD_STOPPED = 5;
    public const int CLD_CONTINUED = 6;

    // siginfo_t is 128 bytes on every Linux ABI; for SIGCHLD, si_code is at 8 and si_pid at 16 on 64-bit ones.
    public const int SigInfoSize = 128;
    public const int SigInfoCodeOffset = 8;
    public const int SigInfoPidOffset = 16;

    [LibraryImport("libc", SetLastError = true)]
    public static unsafe partial int waitid(int idType, uint id, byte* info, int options);

    // Never retried on EINTR: Linux releases the descriptor even then, and a retry could close one another thread just got.
    [LibraryImport("libc", SetLastError = true)]
    public static partial int close(int fd);

    // An early return on EINTR only makes one tick shorter.
    [LibraryImport("libc")]
    public static partial int usleep(uint microseconds);

    private const int AtFdcwd = -100;
    private const int AtSymlinkNofollow = 0x100;
    private const uint StatxType = 0x1;
    private const uint StatxUid = 0x8;

    [LibraryImport("libc", EntryPoint = "statx", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static unsafe partial int statx_(int dirfd, string path, int flags, uint mask, byte* buffer);

    private const int AtEmptyPath = 0x1000;
    private const uint StatxGid = 0x10;

    [LibraryImport("libc", EntryPoint = "statx", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static unsafe partial int statx_(SafeFd dirfd, string path, int flags, uint mask, byte* buffer);

    /// <summary>Owner and file mode of <paramref name="path"/> itself (a symbolic link is not followed), or null when it does not exist.</summary>
    public static (uint Uid, ushort Mode)? LStat(string path) => LStatWithGroup(path) is { } s ? (s.Uid, s.Mode) : null;

    /// <summary>Owner, group and file mode of <paramref name="path"/> itself (a symbolic link is not followed), or null when it does not exist.</summary>
    public static (uint Uid, uint Gid, ushort Mode)? LStatWithGroup(string path) => Statx(null, path, AtSymlinkNofollow, StatxType | StatxUid | StatxGid);

    /// <summary>Owner and file mode of what the open descriptor <paramref name="fd"/> names, or null when it cannot be read.</summary>
    public static (uint Uid, ushort Mode)? FStat(SafeFd fd) => Statx(fd, "", AtEmptyPath, StatxType | StatxUid) is { } s ? (s.Uid, s.Mode) : null;

    /// <summary>What the open descriptor <paramref name="fd"/> names (an <c>O_PATH</c> one too): owner, mode, size and identity; null when it cannot be read.</summary>
    public static FileStatus? FStatFile(SafeFd fd) => StatxFull(fd, "", AtEmptyPath, StatxType | StatxMode | StatxUid | StatxGid | StatxIno | StatxSize);

    private const uint StatxMode = 0x2;
    private const uint StatxIno = 0x100;
    private const uint StatxSize = 0x200;

    // statx(2) of path relative to fd, or to the working directory when fd is null; Gid means something only where mask has StatxGid.
    private static (uint Uid, uint Gid, ushort Mode)? Statx(SafeFd? fd, string path, int flags, uint mask) =>
        StatxFull(fd, path, flags, mask) is { } s ? (s.Uid, s.Gid, s.Mode) : null;

    private static unsafe FileStatus? StatxFull(SafeFd? fd, string path, int flags, uint mask)
    {
        // struct statx has one layout on every architecture: stx_uid at 20, stx_gid at 24, stx_mode at 28, stx_ino at 32,
        // stx_size at 40, stx_dev_major at 136 and stx_dev_minor at 140; 256 bytes in all.
        var buffer = stackalloc byte[256];
        int result;
        do
        {
            result = fd is null ? statx_(AtFdcwd, path, flags, mask, buffer) : statx_(fd, path, flags, mask, buffer); // EINTR: FUSE and network file systems
        }
        while (result != 0 && Marshal.GetLastPInvokeError() == EINTR);

        return result == 0
            ? new FileStatus(*(uint*)(buffer + 20), *(uint*)(buffer + 24), *(ushort*)(buffer + 28), *(ulong*)(buffer + 40), *(ulong*)(buffer + 32),
                ((ulong)*(uint*)(buffer + 136) << 32) | *(uint*)(buffer + 140))
            : null;
    }

    // The open(2) flags that differ by architecture: arm64 has its own values for O_DIRECTORY and O_NOFOLLOW.
    private static readonly int ODirectory = RuntimeInformation.ProcessArchitecture == Architecture.Arm64 ? 0x4000 : 0x10000;
    private static readonly int ONofollow = RuntimeInformation.ProcessArchitecture == Architecture.Arm64 ? 0x8000 : 0x20000;
    private const int OCloexec = 0x80000;

    [LibraryImport("libc", EntryPoint = "open", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial SafeFd open_(string path, int flags, int mode);

    /// <summary>
    /// The directory at <paramref name="path"/>, held open (close-on-exec); invalid when the path's last component is a
    /// link (it is not followed) or not a directory, or the open failed.
    /// </summary>
    public static SafeFd OpenDirectory(string path)
    {
        while (true)
        {
            var fd = open_(path, O_RDONLY | ODirectory | ONofollow | OCloexec, 0);
            if (!fd.IsInvalid || Marshal.GetLastPInvokeError() != EINTR)
            {
                return fd;
            }

            fd.Dispose();
        }
    }

    [LibraryImport("libc", EntryPoint = "openat", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial SafeFd openat_(SafeFd dirfd, string name, int flags, int mode);

    public const int ENOENT = 2;
    private const int OPath = 0x200000;
    private const int ONonblock = 0x800;
    private const int ONoctty = 0x100;

    /// <summary>
    /// The entry <paramref name="name"/> (a plain name, no slash) of the open directory <paramref name="folder"/>, held as
    /// an <c>O_PATH</c> descriptor (close-on-exec): the entry itself, a link included (it is not followed), is named and
    /// nothing is opened for reading, so a FIFO, a device or a socket there does nothing. Invalid when the call failed.
    /// </summary>
    public static SafeFd OpenPathAt(SafeFd folder, string name)
    {
        if (name.Contains('/', StringComparison.Ordinal))
        {
            throw new ArgumentException($"{SessionIds.Quote(name)} is not a plain file name.", nameof(name));
        }

        while (true)
        {
            var fd = openat_(folder, name, OPath | ONofollow | OCloexec, 0);
            if (!fd.IsInvalid || Marshal.GetLastPInvokeError() != EINTR)
            {
                return fd;
            }

            fd.Dispose();
        }
    }

    /// <summary>
    /// Opens for reading the very file that the <c>O_PATH</c> descriptor <paramref name="path"/> names (through
    /// <c>/proc/self/fd</c>, so no name is looked up again), non-blocking, close-on-exec, never as a controlling terminal.
    /// The caller checks first, with <see cref="FStatFile"/>, that it is a regular file. Invalid when the call failed.
    /// </summary>
    public static SafeFd ReopenForReading(SafeFd path)
    {
        var added = false;
        path.DangerousAddRef(ref added);
        try
        {
            var self = "/proc/self/fd/" + path.DangerousGetHandle().ToString(System.Globalization.CultureInfo.InvariantCulture);
            while (true)
            {
                var fd = open_(self, O_RDONLY | ONonblock | ONoctty | OCloexec, 0);
                if (!fd.IsInvalid || Marshal.GetLastPInvokeError() != EINTR)
                {
                    return fd;
                }

                fd.Dispose();
            }
        }
        finally
        {
            if (added)
            {
                path.DangerousRelease();
            }
        }
    }

    /// <summary><c>read</c>, again when a signal interrupted it; -1 with errno set on failure.</summary>
    public static unsafe nint ReadRetrying(SafeFd fd, Span<byte> buffer)
    {
        nint result;
        fixed (byte* raw = buffer)
        {
            do
            {
                result = read(fd, raw, (nuint)buffer.Length);
            }
            while (result < 0 && Marshal.GetLastPInvokeError() == EINTR);
        }

        return result;
    }

    [LibraryImport("libc", EntryPoint = "fchmod", SetLastError = true)]
    private static partial int fchmod_(SafeFd fd, uint mode);

    /// <summary>Sets the permission bits of what the open descriptor <paramref name="fd"/> names; false when that failed.</summary>
    public static bool FChmod(SafeFd fd, uint mode) => fchmod_(fd, mode) == 0;

    [LibraryImport("libc", EntryPoint = "unlinkat", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int unlinkat_(SafeFd dirfd, string name, int flags);

    /// <summary>
    /// Removes the entry <paramref name="name"/> (a plain name, no slash) of the open directory <paramref name="folder"/>:
    /// whatever the folder's path means by now, only that directory is touched, and a link is removed itself, never its
    /// target. False when nothing was removed.
    /// </summary>
    public static bool UnlinkAt(SafeFd folder, string name) =>
        !name.Contains('/', StringComparison.Ordinal) ? unlinkat_(folder, name, 0) == 0
        : throw new ArgumentException($"{SessionIds.Quote(name)} is not a plain file name.", nameof(name));

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
    private static unsafe partial nint send(SafeFd fd, void* buffer, nuint length, int flags);

    [LibraryImport("libc", SetLastError = true)]
    private static unsafe partial nint recv(SafeFd fd, void* buffer, nuint length, int flags);

    /// <summary><c>send</c>, again when a signal interrupted it.</summary>
    public static unsafe nint Send(SafeFd fd, void* buffer, nuint length, int flags)
    {
        nint result;
        do
        {
            result = send(fd, buffer, length, flags);
        }
        while (result < 0 && Marshal.GetLastPInvokeError() == EINTR);

        return result;
    }

    /// <summary><c>recv</c>, again when a signal interrupted it.</summary>
    public static unsafe nint Receive(SafeFd fd, void* buffer, nuint length, int flags)
    {
        nint result;
        do
        {
            result = recv(fd, buffer, length, flags);
        }
        while (result < 0 && Marshal.GetLastPInvokeError() == EINTR);

        return result;
    }

    /// <summary>A socket, owned by its handle from the moment it exists (invalid when the call failed).</summary>
    [LibraryImport("libc", SetLastError = true)]
    public static partial SafeFd socket(int domain, int type, int protocol);

    [LibraryImport("libc", SetLastError = true)]
    public static unsafe partial int setsockopt(SafeFd fd, int level, int name, void* value, uint length);

    // bind on a TCP or netlink socket does not block, so it never fails with EINTR.
    [LibraryImport("libc", SetLastError = true)]
    public static unsafe partial int bind(SafeFd fd, byte* address, uint length);

    [LibraryImport("libc", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    public static unsafe partial nint readlink(string path, byte* buffer, nuint size);

    [LibraryImport("libc", EntryPoint = "link", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int link_(string existing, string newPath);

    /// <summary>
    /// Gives the file <paramref name="existing"/> the further name <paramref name="newPath"/> (link(2)): atomic, and never
    /// replaces anything there; false when something is. (File.Move without overwrite checks, then renames: two callers at
    /// once can both succeed, the second replacing the first's file.)
    /// </summary>
    /// <exception cref="IOException">The link failed for another reason (named in the message).</exception>
    public static bool TryLink(string existing, string newPath)
    {
        if (link_(existing, newPath) == 0)
        {
            return true;
        }

        var error = Marshal.GetLastPInvokeError();
        return error == EEXIST ? false : throw new IOException($"Cannot link {existing} to {newPath}: {Marshal.GetPInvokeErrorMessage(error)}.");
    }

    // Only ever on a non-blocking socket (SOCK_NONBLOCK): a blocking connect waits for good on a listener that is frozen
    // or does not accept once its backlog is full (see ConnectProbe).
    [LibraryImport("libc", SetLastError = true)]
    public static unsafe partial int connect(SafeFd fd, byte* address, uint length);

    [LibraryImport("libc", SetLastError = true)]
    public static unsafe partial int getsockopt(SafeFd fd, int level, int name, void* value, uint* length);

    public const int EAGAIN = 11;
    public const int EINPROGRESS = 115;
    public const int SOCK_STREAM = 1;
    public const int SOCK_NONBLOCK = 0x800;
    public const int SOCK_CLOEXEC = 0x80000;
    public const int SOL_SOCKET = 1;
    public const int SO_ERROR = 4;
    public const short POLLOUT = 0x004;

    [System.Runtime.InteropServices.StructLayout(System.Runtime.InteropServices.LayoutKind.Sequential)]
    public struct PollFd
    {
        public int Fd;
        public short Events;
        public short Revents;
    }
}

/// <summary>What <c>statx</c> says of a file: owner, group, type and permission bits, size, inode and device (major in the high half).</summary>
internal readonly record struct FileStatus(uint Uid, uint Gid, ushort Mode, ulong Size, ulong Inode, ulong Device);

/// <summary>
/// A file descriptor that only its handle closes: once, when disposed, or by the finalizer when a race dropped it.
/// Negative values are invalid; 0 is a valid descriptor.
/// </summary>
internal sealed class SafeFd : SafeHandle
{
    /// <summary>For the interop marshaller, which sets the descriptor a call returns.</summary>
    public SafeFd() : base(-1, ownsHandle: true)
    {
    }

    public override bool IsInvalid => handle < 0;

    protected override bool ReleaseHandle() => Native.close((int)handle) == 0;
}
