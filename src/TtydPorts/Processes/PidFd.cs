using System.Runtime.InteropServices;
using Microsoft.Win32.SafeHandles;

namespace TtydPorts;

/// <summary>
/// A pidfd: a handle on one process that no PID reuse can redirect. Liveness is one <c>poll</c> (it turns readable
/// when the process exits, zombies included) and signals go through <c>pidfd_send_signal</c>, so a signal can
/// never reach a process that merely inherited the PID.
/// </summary>
internal sealed class PidFd : SafeHandle
{
    // /proc/PID/stat, held open: a read is one pread, and it can only ever describe this process (once the process is
    // gone the read fails, whoever gets the PID next).
    private SafeFileHandle? _stat;

    /// <summary>For the interop marshaller, which sets the descriptor <c>pidfd_open</c> returns. 0 is a valid descriptor.</summary>
    public PidFd() : base(-1, ownsHandle: true)
    {
    }

    public override bool IsInvalid => handle < 0;

    /// <summary>Takes <paramref name="fd"/> (negative: a failed call) as this handle's descriptor.</summary>
    internal void Adopt(int fd) => SetHandle(fd);

    /// <summary>Opens a pidfd on <paramref name="pid"/>, or returns <see langword="null"/> when it is gone or pidfds are unsupported.</summary>
    public static PidFd? Open(int pid)
    {
        var handle = Native.pidfd_open(pid);
        if (handle.IsInvalid)
        {
            handle.Dispose();
            return null;
        }

        try
        {
            handle._stat = File.OpenHandle($"/proc/{pid}/stat");
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
        }

        return handle;
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
    public bool Signal(int signal) => Native.pidfd_send_signal(this, signal) == 0;

    protected override bool ReleaseHandle()
    {
        _stat?.Dispose();
        return Native.close((int)handle) == 0;
    }
}
