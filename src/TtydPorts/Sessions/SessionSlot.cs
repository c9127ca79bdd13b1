namespace TtydPorts;

/// <summary>One container's place in the manager: its gate serialises starting and stopping for that container only.</summary>
internal sealed class SessionSlot
{
    public readonly SemaphoreSlim Gate = new(1, 1);
    public volatile SessionEntry? Current;
}

/// <summary>A running session as the manager tracks it, with what repair decides on.</summary>
internal sealed class SessionEntry(TtydSession session, string token, long lastActive)
{
    public TtydSession Session { get; } = session;
    public string Token { get; } = token;

    // Adopted from a run with other options: never handed out, stopped by repair or replaced on first use.
    public bool Unfit { get; init; }

    // A TCP session's port is ours to release (an adopted port outside today's range never was).
    public bool HoldsPort { get; init; } = true;

    // The persistent shell being started ahead of the first connection; a stop waits for it before its last look.
    public Task? ShellStart { get; init; }

    // ttyd's exits and stops as the kernel reports them, so that status reads them from memory (IProcessEvents); null
    // when the supervisor cannot watch, and status asks instead. Ended when the session stops.
    public ProcessWatch? Watch { get; init; }

    // The read-only observer ttyd, started by the first watcher (or adopted); set and read under the slot's gate, read
    // without it on the watch path's fast check.
    public volatile ObserverTerminal? Observer;

    // When the last observer start failed (TimeProvider timestamp), under the slot's gate: no retry for a moment.
    public long? ObserverFailedAt { get; set; }

    // When the observer was last started, handed to a watcher or seen with one connected (TimeProvider timestamp): an
    // observer unused for a repair interval is stopped. Written from the watch path and from repair passes.
    private long _observerUsed;

    public long ObserverUsed
    {
        get => Volatile.Read(ref _observerUsed);
        set => Volatile.Write(ref _observerUsed, value);
    }

    // Records the terminal (RecordingDirectory); ended first when the session stops.
    public SessionRecorder? Recorder { get; set; }

    // TimeProvider timestamps, touched only by repair passes.
    public long LastActive { get; set; } = lastActive;
    public long MissingSince { get; set; }

    // Set once the container it was started for is gone or its name means another container; never cleared. Read
    // without a lock on the reuse path. A session without a recorded id cannot be told from its successor: stale.
    private volatile bool _stale = session.ContainerId is null;

    public bool Stale
    {
        get => _stale;
        set => _stale |= value;
    }
}
