using System.Diagnostics;
using System.Runtime.InteropServices;

namespace TtydPorts;

/// <summary>
/// Waits for processes to exit by letting the kernel say so: one thread blocks in <c>poll</c> on the pidfds of every
/// waiter (a pidfd turns readable when its process exits) and on an eventfd that wakes it for a new waiter or a
/// cancellation. Between exits nothing runs, where a ticker would wake two thousand times a second; the exit is seen
/// as soon as it happens. The thread exists only while something waits.
/// </summary>
internal sealed class ExitWaiter
{
    private readonly Lock _lock = new();
    private readonly List<Waiter> _waiters = [];
    private SafeFd? _wake;
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
            // Held until the waiter ends, so that no descriptor is closed (and its number reused) while it is polled.
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
                waiter.Pending.Add(process);
            }
        }

        if (waiter.Pending.Count == 0)
        {
            return Task.FromResult(true);
        }

        // Only the waiter thread ends a registered waiter, so no handle is given back while its descriptor is polled.
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
            _wake ??= Native.eventfd(0, Native.EFD_NONBLOCK | Native.EFD_CLOEXEC);
            if (_wake.IsInvalid)
            {
                var errno = Marshal.GetLastPInvokeError();
                _wake.Dispose();
                _wake = null;
                waiter.Registration.Dispose();
                waiter.Finish();
                return Task.FromException<bool>(new IOException($"eventfd failed: errno {errno}."));
            }

            _waiters.Add(waiter);
            if (!_running)
            {
                _running = true;
                new Thread(Run) { IsBackground = true, Name = "ttydports-exits" }.Start();
            }
            else
            {
                Wake();
            }
        }

        return waiter.Completion.Task;
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
        var entries = new List<Native.PollFd>();
        var owners = new List<(Waiter Waiter, PidFd Process)>();
        while (true)
        {
            Waiter[] snapshot;
            SafeFd wake;
            lock (_lock)
            {
                if (_waiters.Count == 0)
                {
                    _running = false;
                    return;
                }

                snapshot = [.. _waiters];
                wake = _wake!;
            }

            entries.Clear();
            owners.Clear();
            entries.Add(new Native.PollFd { Fd = (int)wake.DangerousGetHandle(), Events = Native.POLLIN });
            var deadline = long.MaxValue;
            foreach (var waiter in snapshot)
            {
                deadline = Math.Min(deadline, waiter.Deadline);
                foreach (var process in waiter.Pending)
                {
                    entries.Add(new Native.PollFd { Fd = (int)process.DangerousGetHandle(), Events = Native.POLLIN });
                    owners.Add((waiter, process));
                }
            }

            // Rounded up, so that a waiter never times out before its deadline.
            var timeoutMs = deadline == long.MaxValue ? -1
                : (int)Math.Clamp(Math.Ceiling((deadline - Stopwatch.GetTimestamp()) * 1000.0 / Stopwatch.Frequency), 0, int.MaxValue);
            var array = entries.ToArray();
            int ready;
            fixed (Native.PollFd* first = array)
            {
                ready = Native.poll(first, (nuint)array.Length, timeoutMs); // EINTR: the loop polls again
            }

            if (ready > 0 && array[0].Revents != 0)
            {
                long drained;
                _ = Native.read(wake, &drained, sizeof(long));
            }

            for (var i = 1; i < array.Length; i++)
            {
                if (array[i].Revents != 0)
                {
                    var (waiter, process) = owners[i - 1];
                    waiter.Pending.Remove(process);
                }
            }

            var now = Stopwatch.GetTimestamp();
            foreach (var waiter in snapshot)
            {
                var exited = waiter.Pending.Count == 0;
                if (!exited && !waiter.Cancelled && now < waiter.Deadline)
                {
                    continue;
                }

                lock (_lock)
                {
                    _waiters.Remove(waiter);
                }

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

        // Touched by the waiter thread only, once the waiter is registered.
        public List<PidFd> Pending { get; } = [];

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
