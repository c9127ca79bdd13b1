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
