using System.Runtime.InteropServices;
using Microsoft.Win32.SafeHandles;

namespace TtydPorts;

/// <summary>
/// A pidfd: a handle on one process that no PID reuse can redirect. Liveness is one <c>poll</c> (it turns readable
/// when the process exits, zombies included) and signals go through <c>pidfd_send_signal</c>, so a signal can
/// never reach a process that merely inherited the PID.
/// </summary>
internal sealed class PidFd : SafeHandleZeroOrMinusOneIsInvalid
{
    // /proc/PID/stat, held open: a read is one pread, and it can only ever describe this process (once the process is
    // gone the read fails, whoever gets the PID next).
    private readonly SafeFileHandle? _stat;

    private PidFd(int fd, SafeFileHandle? stat) : base(ownsHandle: true)
    {
        SetHandle(fd);
        _stat = stat;
    }

    /// <summary>Opens a pidfd on <paramref name="pid"/>, or returns <see langword="null"/> when it is gone or pidfds are unsupported.</summary>
    public static PidFd? Open(int pid)
    {
        var fd = Native.pidfd_open(pid);
        if (fd < 0)
        {
            return null;
        }

        SafeFileHandle? stat;
        try
        {
            stat = File.OpenHandle($"/proc/{pid}/stat");
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            stat = null;
        }

        return new PidFd(fd, stat);
    }

    /// <summary>Whether the process is stopped (state <c>T</c>, or <c>t</c> under a tracer): one read of its held stat file.</summary>
    public bool IsStopped
    {
        get
        {
            if (_stat is null)
            {
                return false;
            }

            // "pid (comm) S ...": comm is at most 16 bytes, so the state is within the first 64.
            Span<byte> head = stackalloc byte[64];
            int length;
            try
            {
                length = RandomAccess.Read(_stat, head, 0);
            }
            catch (IOException)
            {
                return false; // gone: not stopped, and IsAlive says the rest
            }

            var close = head[..length].LastIndexOf((byte)')');
            return close >= 0 && close + 2 < length && head[close + 2] is (byte)'T' or (byte)'t';
        }
    }

    /// <summary>Whether the process has exited (or is a zombie).</summary>
    public unsafe bool HasExited
    {
        get
        {
            var added = false;
            DangerousAddRef(ref added);
            try
            {
                var entry = new Native.PollFd { Fd = (int)handle, Events = Native.POLLIN };
                int result;
                do
                {
                    result = Native.poll(&entry, 1, 0);
                }
                while (result < 0 && Marshal.GetLastPInvokeError() == Native.EINTR);

                return result > 0;
            }
            finally
            {
                if (added)
                {
                    DangerousRelease();
                }
            }
        }
    }

    /// <summary>Sends <paramref name="signal"/>; false when the process is already gone.</summary>
    public bool Signal(int signal)
    {
        var added = false;
        DangerousAddRef(ref added);
        try
        {
            return Native.pidfd_send_signal((int)handle, signal) == 0;
        }
        finally
        {
            if (added)
            {
                DangerousRelease();
            }
        }
    }

    protected override bool ReleaseHandle()
    {
        _stat?.Dispose();
        return Native.close((int)handle) == 0;
    }
}
