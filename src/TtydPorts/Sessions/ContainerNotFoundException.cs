namespace TtydPorts;

/// <summary>The container does not exist, or does not run, so it has no terminal to serve.</summary>
/// <remarks>
/// Only the constructors that name the container: a handler that catches it (the ASP.NET Core endpoints answer 404)
/// can always say which one.
/// </remarks>
public sealed class ContainerNotFoundException : TtydPortsException
{
    /// <summary>Creates the exception for a container that does not exist.</summary>
    /// <param name="container">The container asked for.</param>
    public ContainerNotFoundException(string container)
        : this(container, null)
    {
    }

    /// <summary>Creates the exception for a container that does not exist (<paramref name="state"/> null) or does not run.</summary>
    /// <param name="container">The container asked for.</param>
    /// <param name="state">Its state when it exists but does not run; null when it does not exist.</param>
    public ContainerNotFoundException(string container, string? state)
        : this(container, state, state is null
            ? $"Container '{container}' does not exist."
            : $"Container '{container}' is {state}, not running.")
    {
    }

    /// <summary>Creates the exception with the host's own message (a node the user does not own, say).</summary>
    /// <param name="container">The container asked for.</param>
    /// <param name="state">Its state when it exists but does not run; null when it does not exist (or is not the caller's).</param>
    /// <param name="message">What the caller is told.</param>
    public ContainerNotFoundException(string container, string? state, string message)
        : base(message)
    {
        ArgumentNullException.ThrowIfNull(container);
        Container = container;
        State = state;
    }

    /// <summary>The container asked for.</summary>
    public string Container { get; }

    /// <summary>Its state when it exists but does not run; null when it does not exist.</summary>
    public string? State { get; }
}
