namespace TtydPorts;

/// <summary>
/// The manager's guesses of which container a name means (<see cref="RecentContainers"/>), kept current from the
/// engine's event stream by the repair service, so that a container started after the host gets a guess before its first
/// create. A guess is never an answer: each create still asks the engine, and the answer must confirm it.
/// </summary>
internal interface IContainerGuesses
{
    /// <summary>The container <paramref name="containerId"/> stopped, paused or took another name: no guess names it.</summary>
    void Drop(string containerId);

    /// <summary>Asks the engine about <paramref name="name"/>, keeps its answer as that name's guess, and returns it.</summary>
    /// <exception cref="ContainerEngineException">The engine did not answer.</exception>
    Task<ContainerInfo?> LearnAsync(string name, CancellationToken cancellationToken);
}
