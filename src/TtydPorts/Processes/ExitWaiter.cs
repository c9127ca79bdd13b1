using System.Diagnostics;
using System.Runtime.InteropServices;

namespace TtydPorts;

/// <summary>
/// Waits for processes to exit by letting the kernel say so: one thread blocks in <c>epoll_wait</c> on one epoll set
/// holding the pidfds of every waiter (a pidfd turns readable when its process exits) and an eventfd that wakes it for
/// a new deadline or a cancellation. Between exits nothing runs, where a ticker would wake two thousand times a
/// second; the exit is seen as soon as it happens. A pidfd joins the set once and leaves it once, so a wake costs the
/// exits it reports, not every pidfd waited on: with 2,000 stops at once, a <c>poll</c> of every pidfd at every wake
/// made the whole batch quadratic. The thread exists only while something waits.
/// </summary>
internal sealed class ExitWaiter
{
    private const int Batch = 256;
    private const long WakeId = 0;

    private readonly Lock _lock = new();
    private readonly List<Waiter> _waiters = [];

    // Each pidfd in the set once, with every waiter waiting on it (two stops may wait on the same process).
    private readonly Dictionary<PidFd, Registration> _byHandle = [];
    private readonly Dictionary<long, Registration> _byId = [];
    private SafeFd? _epoll;
    private SafeFd? _wake;
    private long _nextId = WakeId;
    private long _sleepingUntil = long.MaxValue;
    private bool _running;

    public static ExitWaiter Shared { get; } = new();

    /// <summary>
    /// True once every one of <paramref name="processes"/> has exited, false when <paramref name="timeout"/> passes first.
    /// A handle already closed counts as exited: the supervisor closes one only for a process it has seen gone.
    /// </summary>
    public Task<bool> WhenAllExitedAsync(IReadOnlyList<PidFd> processes, TimeSpan timeout, CancellationToken cancellationToken)
    {
        if (cancellationToken.IsCancellationRequested)
        {
            return Task.FromCanceled<bool>(cancellationToken);
        }

        var waiter = new Waiter(cancellationToken, timeout == Timeout.InfiniteTimeSpan ? long.MaxValue : Stopwatch.GetTimestamp() + (long)(timeout.TotalSeconds * Stopwatch.Frequency));
        foreach (var process in processes)
        {
            // Held until the waiter ends, so that no descriptor is closed (and its number reused) while it is in the set.
            var added = false;
            try
            {
                process.DangerousAddRef(ref added);
            }
            catch (ObjectDisposedException)
            {
            }

            if (added)
            {
                waiter.Held.Add(process);
            }
        }

        if (waiter.Held.Count == 0)
        {
            return Task.FromResult(true);
        }

        // Only the waiter thread ends a registered waiter, so no handle is given back while its descriptor is in the set.
        if (cancellationToken.CanBeCanceled)
        {
            waiter.Registration = cancellationToken.Register(() =>
            {
                waiter.Cancelled = true;
                lock (_lock)
                {
                    Wake();
                }
            });
        }

        lock (_lock)
        {
            if (StartSet() is { } error)
            {
                waiter.Registration.Dispose();
                waiter.Finish();
                return Task.FromException<bool>(error);
            }

            foreach (var process in waiter.Held)
            {
                if (Register(process, waiter) is { } failed)
                {
                    Unregister(waiter);
                    waiter.Registration.Dispose();
                    waiter.Finish();
                    return Task.FromException<bool>(failed);
                }
            }

            _waiters.Add(waiter);
            if (!_running)
            {
                _running = true;
                new Thread(Run) { IsBackground = true, Name = "ttydports-exits" }.Start();
            }
            else if (waiter.Deadline < _sleepingUntil || waiter.Cancelled)
            {
                Wake(); // the thread sleeps past this waiter's deadline, or its cancellation came before it was listed
            }
        }

        return waiter.Completion.Task;
    }

    // Called under _lock.
    private unsafe IOException? StartSet()
    {
        if (_epoll is not null)
        {
            return null;
        }

        var epoll = Native.epoll_create1(Native.EPOLL_CLOEXEC);
        var wake = Native.eventfd(0, Native.EFD_NONBLOCK | Native.EFD_CLOEXEC);
        var error = epoll.IsInvalid || wake.IsInvalid ? Marshal.GetLastPInvokeError() : 0;
        if (error == 0 && Add(epoll, (int)wake.DangerousGetHandle(), WakeId) != 0)
        {
            error = Marshal.GetLastPInvokeError();
        }

        if (error != 0)
        {
            epoll.Dispose();
            wake.Dispose();
            return new IOException($"epoll or eventfd failed: errno {error}.");
        }

        (_epoll, _wake) = (epoll, wake);
        return null;
    }

    private static unsafe int Add(SafeFd epoll, int fd, long id)
    {
        var ev = stackalloc byte[16];
        *(uint*)ev = Native.EPOLLIN;
        *(long*)(ev + Native.EpollDataOffset) = id;
        return Native.epoll_ctl(epoll, Native.EPOLL_CTL_ADD, fd, ev);
    }

    // Called under _lock.
    private IOException? Register(PidFd process, Waiter waiter)
    {
        if (!_byHandle.TryGetValue(process, out var registration))
        {
            registration = new Registration(++_nextId, process);
            if (Add(_epoll!, (int)process.DangerousGetHandle(), registration.Id) != 0)
            {
                return new IOException($"epoll_ctl failed: errno {Marshal.GetLastPInvokeError()}.");
            }

            _byHandle[process] = registration;
            _byId[registration.Id] = registration;
        }

        registration.Waiters.Add(waiter);
        waiter.Pending.Add(process);
        return null;
    }

    // Called under _lock: the waiter no longer waits on what it still had pending; a pidfd nobody waits on leaves the set
    // before its waiters give their references back.
    private unsafe void Unregister(Waiter waiter)
    {
        foreach (var process in waiter.Pending)
        {
            if (_byHandle.TryGetValue(process, out var registration) && registration.Waiters.Remove(waiter) && registration.Waiters.Count == 0)
            {
                Drop(registration);
            }
        }

        waiter.Pending.Clear();
    }

    // Called under _lock.
    private unsafe void Drop(Registration registration)
    {
        _ = Native.epoll_ctl(_epoll!, Native.EPOLL_CTL_DEL, (int)registration.Process.DangerousGetHandle(), null);
        _byHandle.Remove(registration.Process);
        _byId.Remove(registration.Id);
    }

    // Called under _lock.
    private unsafe void Wake()
    {
        if (_wake is { } wake)
        {
            long one = 1;
            _ = Native.write(wake, &one, sizeof(long));
        }
    }

    private unsafe void Run()
    {
        var events = new byte[Batch * 16];
        var finished = new List<(Waiter Waiter, bool Exited)>();
        while (true)
        {
            SafeFd epoll;
            long deadline;
            lock (_lock)
            {
                if (_waiters.Count == 0)
                {
                    _running = false;
                    _sleepingUntil = long.MaxValue;
                    return;
                }

                deadline = long.MaxValue;
                foreach (var waiter in _waiters)
                {
                    deadline = Math.Min(deadline, waiter.Deadline);
                }

                _sleepingUntil = deadline;
                epoll = _epoll!;
            }

            // Rounded up, so that a waiter never times out before its deadline.
            var timeoutMs = deadline == long.MaxValue ? -1
                : (int)Math.Clamp(Math.Ceiling((deadline - Stopwatch.GetTimestamp()) * 1000.0 / Stopwatch.Frequency), 0, int.MaxValue);
            int ready;
            fixed (byte* first = events)
            {
                ready = Native.epoll_wait(epoll, first, Batch, timeoutMs); // EINTR: the loop waits again
            }

            var now = Stopwatch.GetTimestamp();
            finished.Clear();
            lock (_lock)
            {
                for (var i = 0; i < ready; i++)
                {
                    long id;
                    fixed (byte* first = events)
                    {
                        id = *(long*)(first + (i * Native.EpollEventSize) + Native.EpollDataOffset);
                    }

                    if (id == WakeId)
                    {
                        long drained;
                        _ = Native.read(_wake!, &drained, sizeof(long));
                    }
                    else if (_byId.TryGetValue(id, out var registration))
                    {
                        foreach (var waiter in registration.Waiters)
                        {
                            waiter.Pending.Remove(registration.Process);
                        }

                        registration.Waiters.Clear();
                        Drop(registration);
                    }
                }

                for (var i = _waiters.Count - 1; i >= 0; i--)
                {
                    var waiter = _waiters[i];
                    var exited = waiter.Pending.Count == 0;
                    if (exited || waiter.Cancelled || now >= waiter.Deadline)
                    {
                        _waiters.RemoveAt(i);
                        Unregister(waiter);
                        finished.Add((waiter, exited));
                    }
                }
            }

            foreach (var (waiter, exited) in finished)
            {
                waiter.Registration.Dispose();
                if (waiter.Finish())
                {
                    _ = exited ? waiter.Completion.TrySetResult(true)
                        : waiter.Cancelled ? waiter.Completion.TrySetCanceled(waiter.CancellationToken)
                        : waiter.Completion.TrySetResult(false);
                }
            }
        }
    }

    private sealed class Registration(long id, PidFd process)
    {
        public long Id { get; } = id;
        public PidFd Process { get; } = process;
        public List<Waiter> Waiters { get; } = [];
    }

    private sealed class Waiter(CancellationToken cancellationToken, long deadline)
    {
        private int _finished;
        private volatile bool _cancelled;

        public CancellationToken CancellationToken { get; } = cancellationToken;

        public long Deadline { get; } = deadline;

        public bool Cancelled
        {
            get => _cancelled;
            set => _cancelled = value;
        }

        // Under ExitWaiter's lock.
        public HashSet<PidFd> Pending { get; } = [];

        public List<PidFd> Held { get; } = [];

        public TaskCompletionSource<bool> Completion { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public CancellationTokenRegistration Registration { get; set; }

        /// <summary>Ends the waiter once: gives back every handle it holds; false when it had already ended.</summary>
        public bool Finish()
        {
            if (Interlocked.Exchange(ref _finished, 1) != 0)
            {
                return false;
            }

            Held.ForEach(h => h.DangerousRelease());
            return true;
        }
    }
}
