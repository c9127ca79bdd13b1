namespace TtydPorts;

/// <summary>A container as the inventory sees it.</summary>
/// <param name="Id">Engine id (64 hex digits). A session is bound to it, not to the name, which another container may take.</param>
/// <param name="Name">Name, without Docker's leading slash.</param>
/// <param name="State">Engine state, e.g. <c>running</c>, <c>exited</c>.</param>
/// <param name="Labels">Container labels.</param>
public sealed record ContainerInfo(string Id, string Name, string State, IReadOnlyDictionary<string, string> Labels)
{
    /// <summary>Whether the container runs, so that <c>docker exec</c> can reach it.</summary>
    public bool IsRunning => string.Equals(State, "running", StringComparison.OrdinalIgnoreCase);
}
