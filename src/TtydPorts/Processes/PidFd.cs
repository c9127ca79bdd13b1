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
    private PidFd(int fd) : base(ownsHandle: true) => SetHandle(fd);

    /// <summary>Opens a pidfd on <paramref name="pid"/>, or returns <see langword="null"/> when it is gone or pidfds are unsupported.</summary>
    public static PidFd? Open(int pid)
    {
        var fd = Native.pidfd_open(pid);
        return fd >= 0 ? new PidFd(fd) : null;
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

    protected override bool ReleaseHandle() => Native.close((int)handle) == 0;
}
