namespace TtydPorts;

/// <summary>
/// A supervisor that learns from the kernel when a process it watches exits, stops or continues, so that a reader of
/// many processes' state (status) makes no system call per process. Optional: a supervisor without it is asked
/// (<see cref="IProcessSupervisor.IsAlive"/>, <see cref="IProcessSupervisor.IsStopped"/>) on every call instead.
/// </summary>
internal interface IProcessEvents
{
    /// <summary>Starts watching <paramref name="process"/>; <see langword="null"/> when it cannot (no pidfds, or the process is gone).</summary>
    ProcessWatch? Watch(ProcessIdentity process);

    /// <summary>
    /// Applies to the watches what the kernel reported since the last call. A fixed number of system calls (plus one per
    /// change), however many processes are watched; a change that happened before the call is seen by it.
    /// </summary>
    void Refresh();
}

/// <summary>
/// One process's state as the kernel last reported it (<see cref="IProcessEvents.Refresh"/>), read from memory.
/// Disposing it stops the watch.
/// </summary>
internal sealed class ProcessWatch : IDisposable
{
    private readonly Lock _lock = new();
    private Action<ProcessWatch>? _unwatch;
    private volatile bool _exited;
    private volatile bool _stopped;
    private bool _stopReported;

    /// <param name="reportsStops">Whether stops and continues of the process are reported (the kernel tells only a parent).</param>
    /// <param name="unwatch">Ends the watch; called once, by the first <see cref="Dispose"/>.</param>
    public ProcessWatch(bool reportsStops, Action<ProcessWatch>? unwatch = null)
    {
        ReportsStops = reportsStops;
        _unwatch = unwatch;
    }

    /// <summary>The process has exited (or is a zombie). Never turns back.</summary>
    public bool HasExited => _exited;

    /// <summary>Whether <see cref="IsStopped"/> is kept up to date; when not, it stays <see langword="false"/> and the caller asks.</summary>
    public bool ReportsStops { get; }

    /// <summary>Stopped (SIGSTOP, or held by a tracer), as last reported.</summary>
    public bool IsStopped => _stopped;

    /// <summary>Records the exit.</summary>
    public void SetExited() => _exited = true;

    /// <summary>Records a stop or a continue the kernel reported.</summary>
    public void SetStopped(bool stopped)
    {
        lock (_lock)
        {
            _stopReported = true;
            _stopped = stopped;
        }
    }

    /// <summary>
    /// The state read once when the watch starts (a stop before the watch existed was reported to nobody); ignored when
    /// the kernel has reported a change since, which is newer.
    /// </summary>
    public void SetInitialStopped(bool stopped)
    {
        lock (_lock)
        {
            if (!_stopReported)
            {
                _stopped = stopped;
            }
        }
    }

    /// <summary>Ends the watch (idempotent); the last reported state stays readable.</summary>
    public void Dispose() => Interlocked.Exchange(ref _unwatch, null)?.Invoke(this);
}
