namespace TtydPorts;

/// <summary>
/// Checks registered conditions on one dedicated thread, every half millisecond or, while a waiter asks for it, more
/// often (readiness of a starting process: <see cref="FineInterval"/>), and completes each waiter when its condition
/// holds. Process readiness is polled this way when the start does not wait on its own thread (and exits, on a kernel
/// without pidfds: see <see cref="ExitWaiter"/>) rather than with <c>Task.Delay</c>, whose timer fires several
/// milliseconds late on some machines (4 ms for a 1 ms delay was measured on these VMs), which would add that much to
/// every start and stop. The thread exists only while something waits.
/// </summary>
internal sealed class Ticker
{
    private readonly Lock _lock = new();
    private readonly List<Waiter> _waiters = [];
    private bool _running;

    public static Ticker Shared { get; } = new();

    /// <summary>The default period between checks, in microseconds.</summary>
    public const uint DefaultInterval = 500;

    /// <summary>
    /// The period asked for by a process start's readiness: the start's own latency, so the finer tick is paid only while
    /// a start is pending (a few milliseconds each), on the thread that checks.
    /// </summary>
    public const uint FineInterval = 100;

    /// <summary>Completes when <paramref name="condition"/> returns true; it runs on the ticker thread and must be quick.</summary>
    public Task WhenAsync(Func<bool> condition, CancellationToken cancellationToken) => WhenAsync(condition, DefaultInterval, cancellationToken);

    /// <summary>
    /// Like <see cref="WhenAsync(Func{bool}, CancellationToken)"/>, checked at least every <paramref name="intervalMicroseconds"/>
    /// while this waiter waits (every waiter is checked at the finest period any of them asked for).
    /// </summary>
    public Task WhenAsync(Func<bool> condition, uint intervalMicroseconds, CancellationToken cancellationToken)
    {
        try
        {
            if (condition())
            {
                return Task.CompletedTask;
            }
        }
#pragma warning disable CA1031 // Reported through the task, as later checks are.
        catch (Exception e)
#pragma warning restore CA1031
        {
            return Task.FromException(e);
        }

        var waiter = new Waiter(condition, Math.Clamp(intervalMicroseconds, 20u, DefaultInterval));
        lock (_lock)
        {
            _waiters.Add(waiter);
            if (!_running)
            {
                _running = true;
                new Thread(Run) { IsBackground = true, Name = "ttydports-ticker" }.Start();
            }
        }

        if (cancellationToken.CanBeCanceled)
        {
            waiter.Registration = cancellationToken.Register(() =>
            {
                Remove(waiter);
                waiter.Completion.TrySetCanceled(cancellationToken);
            });
        }

        return waiter.Completion.Task;
    }

    private void Run()
    {
        while (true)
        {
            Waiter[] snapshot;
            var interval = DefaultInterval;
            lock (_lock)
            {
                if (_waiters.Count == 0)
                {
                    _running = false;
                    return;
                }

                snapshot = [.. _waiters];
                foreach (var waiter in snapshot)
                {
                    interval = Math.Min(interval, waiter.Interval);
                }
            }

            Native.usleep(interval); // Thread.Sleep has millisecond steps
            foreach (var waiter in snapshot)
            {
                try
                {
                    if (!waiter.Condition())
                    {
                        continue;
                    }

                    waiter.Completion.TrySetResult();
                }
#pragma warning disable CA1031 // The waiter gets the failure; the ticker must go on for the others.
                catch (Exception e)
#pragma warning restore CA1031
                {
                    waiter.Completion.TrySetException(e);
                }

                Remove(waiter);
                waiter.Registration.Dispose();
            }
        }
    }

    private void Remove(Waiter waiter)
    {
        lock (_lock)
        {
            _waiters.Remove(waiter);
        }
    }

    private sealed class Waiter(Func<bool> condition, uint interval)
    {
        public Func<bool> Condition { get; } = condition;
        public uint Interval { get; } = interval;
        public TaskCompletionSource Completion { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
        public CancellationTokenRegistration Registration { get; set; }
    }
}
