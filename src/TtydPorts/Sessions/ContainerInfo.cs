namespace TtydPorts;

/// <summary>A container as the inventory sees it.</summary>
public sealed record ContainerInfo
{
    /// <summary>Engine id (64 hex digits). A session is bound to it, not to the name, which another container may take.</summary>
    public required string Id { get; init; }

    /// <summary>Name, without Docker's leading slash.</summary>
    public required string Name { get; init; }

    /// <summary>Engine state, e.g. <c>running</c>, <c>exited</c>.</summary>
    public required string State { get; init; }

    /// <summary>Container labels.</summary>
    public IReadOnlyDictionary<string, string> Labels { get; init; } = new Dictionary<string, string>();

    /// <summary>Whether the container runs, so that <c>docker exec</c> can reach it.</summary>
    public bool IsRunning => string.Equals(State, "running", StringComparison.OrdinalIgnoreCase);
}
