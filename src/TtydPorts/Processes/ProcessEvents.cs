using System.Buffers.Binary;
using System.Collections.Concurrent;
using System.Runtime.InteropServices;

namespace TtydPorts;

/// <summary>
/// Collects process state changes from the kernel for <see cref="LinuxProcessSupervisor"/>'s watches, with a fixed
/// number of system calls whatever the number of processes:
/// <list type="bullet">
/// <item>Exits: every watched pidfd is in one epoll set; a pidfd turns readable when its process exits, so one
/// <c>epoll_wait</c> with no timeout lists every exit since the last look (level-triggered: an exit is never missed,
/// whenever the look comes).</item>
/// <item>Stops and continues: the kernel reports them only to the parent, as a wait status. One
/// <c>waitid(P_ALL, WSTOPPED | WCONTINUED | WNOHANG)</c> per change drains them (without <c>WEXITED</c> it never
/// reaps). It consumes those reports for every child of the host process; .NET's <c>Process</c> never asks for them.
/// A process that is not our child (adopted from an earlier run) has no stop reports: its watch says so
/// (<see cref="ProcessWatch.ReportsStops"/>) and the caller asks instead.</item>
/// </list>
/// No thread: the kernel keeps the state until asked, and status asks when it is called.
/// </summary>
internal sealed class ProcessEvents : IDisposable
{
    private const int Batch = 64;

    private readonly Lock _lock = new();

    // Two callers draining at once could apply a stop and the continue after it in the wrong order.
    private readonly Lock _drainLock = new();
    private readonly Dictionary<long, (PidFd Handle, ProcessWatch Watch, int Pid)> _watched = [];
    private readonly ConcurrentDictionary<int, ProcessWatch> _children = new();
    private SafeFd? _epoll;
    private long _nextId;
    private bool _disposed;

    /// <summary>Watches the process <paramref name="handle"/> is on; <see langword="null"/> when epoll is unavailable.</summary>
    /// <param name="handle">The supervisor's pidfd on the process; held open until the watch ends.</param>
    /// <param name="pid">Its PID, as stop reports name it.</param>
    /// <param name="child">The process is our child, so its stops are reported to us.</param>
    public unsafe ProcessWatch? Watch(PidFd handle, int pid, bool child)
    {
        var added = false;
        try
        {
            handle.DangerousAddRef(ref added); // the descriptor stays open (and its number ours) while it is in the set
        }
        catch (ObjectDisposedException)
        {
            return null;
        }

        ProcessWatch watch;
        lock (_lock)
        {
            if (_disposed)
            {
                handle.DangerousRelease();
                return null;
            }

            _epoll ??= Native.epoll_create1(Native.EPOLL_CLOEXEC);
            if (_epoll.IsInvalid)
            {
                handle.DangerousRelease();
                return null;
            }

            var id = ++_nextId;
            watch = new ProcessWatch(child, w => Unwatch(id, pid, w));
            var ev = stackalloc byte[16];
            BinaryPrimitives.WriteUInt32LittleEndian(new Span<byte>(ev, 4), Native.EPOLLIN);
            *(long*)(ev + Native.EpollDataOffset) = id;
            if (Native.epoll_ctl(_epoll, Native.EPOLL_CTL_ADD, (int)handle.DangerousGetHandle(), ev) != 0)
            {
                handle.DangerousRelease();
                return null;
            }

            _watched[id] = (handle, watch, pid);
            if (child)
            {
                _children[pid] = watch;
            }
        }

        if (child)
        {
            watch.SetInitialStopped(handle.IsStopped);
        }

        return watch;
    }

    /// <summary>Applies every exit, stop and continue reported since the last call.</summary>
    public unsafe void Refresh()
    {
        lock (_lock)
        {
            if (_epoll is null || _disposed)
            {
                return;
            }

            var events = stackalloc byte[Batch * 16];
            int ready;
            do
            {
                ready = Native.epoll_wait(_epoll, events, Batch, 0);
                for (var i = 0; i < ready; i++)
                {
                    var id = *(long*)(events + (i * Native.EpollEventSize) + Native.EpollDataOffset);
                    if (_watched.Remove(id, out var exited))
                    {
                        exited.Watch.SetExited();
                        Remove(exited.Handle, exited.Pid, exited.Watch);
                    }
                }
            }
            while (ready == Batch || (ready < 0 && Marshal.GetLastPInvokeError() == Native.EINTR));
        }

        DrainStops();
    }

    private unsafe void DrainStops()
    {
        if (_children.IsEmpty)
        {
            return;
        }

        var info = stackalloc byte[Native.SigInfoSize];
        lock (_drainLock)
        {
            DrainStops(info);
        }
    }

    private unsafe void DrainStops(byte* info)
    {
        while (true)
        {
            new Span<byte>(info, Native.SigInfoSize).Clear();
            if (Native.waitid(Native.P_ALL, 0, info, Native.WSTOPPED | Native.WCONTINUED | Native.WNOHANG) != 0)
            {
                if (Marshal.GetLastPInvokeError() == Native.EINTR)
                {
                    continue;
                }

                return; // ECHILD: no children at all
            }

            var pid = *(int*)(info + Native.SigInfoPidOffset);
            if (pid == 0)
            {
                return; // nothing more to report
            }

            if (_children.TryGetValue(pid, out var watch))
            {
                var code = *(int*)(info + Native.SigInfoCodeOffset);
                watch.SetStopped(code is Native.CLD_STOPPED or Native.CLD_TRAPPED);
            }
        }
    }

    private void Unwatch(long id, int pid, ProcessWatch watch)
    {
        lock (_lock)
        {
            if (_watched.Remove(id, out var entry))
            {
                Remove(entry.Handle, pid, watch);
            }
        }
    }

    // Under _lock.
    private unsafe void Remove(PidFd handle, int pid, ProcessWatch watch)
    {
        if (_epoll is { } epoll)
        {
            _ = Native.epoll_ctl(epoll, Native.EPOLL_CTL_DEL, (int)handle.DangerousGetHandle(), null);
        }

        handle.DangerousRelease();
        _children.TryRemove(new KeyValuePair<int, ProcessWatch>(pid, watch));
    }

    /// <summary>Ends every watch and closes the set.</summary>
    public void Dispose()
    {
        lock (_lock)
        {
            _disposed = true;
            foreach (var (handle, watch, pid) in _watched.Values)
            {
                Remove(handle, pid, watch);
            }

            _watched.Clear();
            _epoll?.Dispose();
        }
    }
}
