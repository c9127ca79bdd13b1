using System.Collections.Immutable;

namespace TtydPorts;

/// <summary>How to open a terminal in a container: the program and its arguments, and the variables it needs.</summary>
public sealed record ContainerExec
{
    /// <summary>The program first, then each argument; run as a list, never parsed by a shell.</summary>
    public required ImmutableArray<string> Arguments { get; init; }

    /// <summary>Variables the program needs besides the allow-listed ones (for example the pinned engine endpoint).</summary>
    public ImmutableDictionary<string, string> Environment { get; init; } = ImmutableDictionary<string, string>.Empty;
}
