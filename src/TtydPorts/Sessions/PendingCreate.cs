namespace TtydPorts;

/// <summary>
/// A create on the slow path, from its call until it hands a session out or fails. A cleanup that matches it (its user,
/// topology or container, or every session) revokes it, so that no terminal outlives a cleanup that matched it: the
/// create then hands nothing out, stops whatever it started and throws <see cref="SessionCleanedUpException"/>, and the
/// cleanup waits for that (<see cref="Ended"/>). A create that handed its session out first is in its slot by the time
/// the cleanup holds the slot's gate (<see cref="Slot"/>), and is stopped there like any other.
/// </summary>
internal sealed class PendingCreate(string container, string userId, string? topologyId, CancellationToken cancellationToken) : IDisposable
{
    private static readonly object HandedOutMarker = new();

    // Null while pending; then HandedOutMarker, or the Revocation that won. One compare-and-swap decides between a
    // create's hand-out and a cleanup's revocation.
    private object? _outcome;

    // The caller's token, and a revocation's: cancelled under the lock, never once disposed.
    private readonly CancellationTokenSource _revocable = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
    private readonly Lock _lock = new();
    private bool _disposed;
    private readonly TaskCompletionSource _ended = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private volatile SessionSlot? _slot;

    public string Container { get; } = container;

    public string UserId { get; } = userId;

    public string? TopologyId { get; } = topologyId;

    /// <summary>
    /// The create's token: its caller's, also cancelled the moment a cleanup revokes it (its waits end, a ttyd start stops
    /// what it started). The state is set at once; only the callbacks run later, on the pool.
    /// </summary>
    public CancellationToken Token => _revocable.Token;

    /// <summary>The slot whose gate the create holds; set before the create hands anything out.</summary>
    public SessionSlot? Slot
    {
        get => _slot;
        set => _slot = value;
    }

    /// <summary>The cleanup that revoked the create, if one did.</summary>
    public Revocation? RevokedBy => Volatile.Read(ref _outcome) as Revocation;

    /// <summary>Whether the create handed its session (or its refusal) out before any cleanup revoked it.</summary>
    public bool IsHandedOut => ReferenceEquals(Volatile.Read(ref _outcome), HandedOutMarker);

    /// <summary>A session the create started and could not stop once revoked; it stays tracked (stale) for repair.</summary>
    public StopFailure? StopFailed { get; set; }

    /// <summary>Completes when the create is over: handed out, failed, or revoked with what it started stopped.</summary>
    public Task Ended => _ended.Task;

    /// <summary>Whether the create may hand out its session (or its refusal); false once a cleanup revoked it.</summary>
    public bool TryHandOut()
    {
        var outcome = Interlocked.CompareExchange(ref _outcome, HandedOutMarker, null);
        return outcome is null || ReferenceEquals(outcome, HandedOutMarker);
    }

    /// <summary>Revokes the create unless it handed its session out already (or another cleanup revoked it first).</summary>
    public bool TryRevoke(Revocation revocation)
    {
        if (Interlocked.CompareExchange(ref _outcome, revocation, null) is not null)
        {
            return false;
        }

        lock (_lock)
        {
            if (!_disposed)
            {
                // Callbacks on the pool: the create's own cleanup must not run on the cleanup's thread (nor under this lock).
                _ = _revocable.CancelAsync();
            }
        }

        return true;
    }

    public void End() => _ended.TrySetResult();

    public void Dispose()
    {
        lock (_lock)
        {
            _disposed = true;
            _revocable.Dispose();
        }
    }

    /// <summary>A cleanup, as a create it revoked reports it.</summary>
    public sealed record Revocation(StopReason Reason, string Cleanup);
}
