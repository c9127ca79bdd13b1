namespace TtydPorts;

/// <summary>What an engine's event says happened to a container.</summary>
internal enum ContainerEventKind
{
    /// <summary>Removed: the id is gone for good.</summary>
    Removed,

    /// <summary>Started, unpaused or renamed: the name may now mean this running container.</summary>
    Running,

    /// <summary>Stopped or paused: the id no longer runs.</summary>
    Stopped,

    /// <summary>Not a change: the engine accepted the subscription (first in each stream; no id or name).</summary>
    Subscribed,
}

/// <summary>One event of the engine's stream: the kind of change, the container's id and its name at that moment.</summary>
internal readonly record struct ContainerEvent(ContainerEventKind Kind, string Id, string Name)
{
    /// <summary>When, on the engine's clock, in nanoseconds since the Unix epoch; 0 when the engine did not say.</summary>
    public long TimeNano { get; init; }
}

/// <summary>
/// The engine's event stream with every change the manager's guesses follow (the built-in engines have it; an inventory
/// of the host's own offers removals at most, through <see cref="IContainerEventSource"/>).
/// </summary>
internal interface IContainerChangeSource
{
    /// <summary>
    /// Removals, starts, renames and stops as the engine reports them, until cancelled, after a
    /// <see cref="ContainerEventKind.Subscribed"/> that carries the engine's time of the subscription.
    /// </summary>
    /// <param name="since">Also what happened from this time on (<see cref="ContainerEvent.TimeNano"/> of the last event
    /// or subscription seen), so that a subscription that resumes loses nothing; <see langword="null"/>: from now.</param>
    /// <param name="cancellationToken">Ends the stream.</param>
    /// <exception cref="ContainerEngineException">The engine did not answer or the stream broke.</exception>
    IAsyncEnumerable<ContainerEvent> WatchChangesAsync(long? since, CancellationToken cancellationToken);
}
