namespace TtydPorts;

/// <summary>Tells which containers exist. The default implementation asks the Docker Engine API.</summary>
public interface IContainerInventory
{
    /// <summary>The container named <paramref name="name"/>, or <see langword="null"/> when there is none.</summary>
    /// <exception cref="ContainerEngineException">The engine did not answer.</exception>
    Task<ContainerInfo?> GetContainerAsync(string name, CancellationToken cancellationToken = default);

    /// <summary>Every container, running or not.</summary>
    /// <exception cref="ContainerEngineException">The engine did not answer.</exception>
    Task<IReadOnlyList<ContainerInfo>> ListContainersAsync(CancellationToken cancellationToken = default);
}

/// <summary>
/// Optional companion of <see cref="IContainerInventory"/>: tells at once when a container is removed, so that repair
/// need not wait for its next interval. The Docker inventory implements it with the engine's event stream.
/// </summary>
public interface IContainerEventSource
{
    /// <summary>
    /// Containers as they are destroyed (id and name; state <c>destroyed</c>), until <paramref name="cancellationToken"/>
    /// ends the stream.
    /// </summary>
    /// <exception cref="ContainerEngineException">The engine did not answer or the stream broke.</exception>
    IAsyncEnumerable<ContainerInfo> WatchRemovedContainersAsync(CancellationToken cancellationToken);
}
