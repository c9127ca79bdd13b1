namespace TtydPorts;

/// <summary>
/// The one rule that says which Docker engine the library uses, for the inventory, for every terminal's
/// <c>docker exec</c> (pinned to it, see <see cref="TtydSessionManager"/>) and for start-up validation.
/// </summary>
internal static class DockerEndpoints
{
    public const string DefaultSocket = "/var/run/docker.sock";

    /// <summary>The engine's Unix socket path, or <see langword="null"/> and an error that names the endpoint the library cannot use.</summary>
    /// <remarks>
    /// <c>DockerEndpoint</c> wins over the environment. Without it, <c>DOCKER_HOST</c> must be a <c>unix://</c> socket:
    /// any other scheme is an error, never silently replaced by the default socket (the host meant another engine).
    /// The library does not read Docker contexts, so a <c>DOCKER_CONTEXT</c> other than <c>default</c> without an explicit
    /// endpoint is an error too, rather than a lab quietly run on another engine than the one the operator chose.
    /// </remarks>
    public static string? TryResolve(string? configured, Func<string, string?> environment, out string? error)
    {
        error = null;
        if (configured is not null)
        {
            return SocketOf(configured) ?? Fail(out error, $"DockerEndpoint {SessionIds.Quote(configured)} must be a unix:// socket with an absolute path, e.g. unix://{DefaultSocket}.");
        }

        if (environment("DOCKER_HOST") is { Length: > 0 } dockerHost)
        {
            return SocketOf(dockerHost) ?? Fail(out error,
                $"DOCKER_HOST {SessionIds.Quote(dockerHost)} is not a unix:// socket with an absolute path, which is the only kind of engine endpoint " +
                "the library uses; its terminals and its container inventory must reach the same engine. " +
                $"Set DockerEndpoint to the engine's unix:// socket (e.g. unix://{DefaultSocket}), or unset DOCKER_HOST.");
        }

        if (environment("DOCKER_CONTEXT") is { Length: > 0 } context && context != "default")
        {
            return Fail(out error,
                $"DOCKER_CONTEXT {SessionIds.Quote(context)} is set, but the library does not read Docker contexts and would use unix://{DefaultSocket} instead. " +
                $"Set DockerEndpoint to that context's unix:// endpoint (docker context inspect), or unset DOCKER_CONTEXT.");
        }

        return DefaultSocket;
    }

    /// <summary>As <see cref="TryResolve"/>, throwing where it reports an error.</summary>
    /// <exception cref="InvalidOperationException">The endpoint cannot be used.</exception>
    public static string Resolve(string? configured) =>
        TryResolve(configured, Environment.GetEnvironmentVariable, out var error) ?? throw new InvalidOperationException(error);

    private static string? SocketOf(string endpoint) =>
        endpoint.StartsWith("unix:///", StringComparison.Ordinal) && !endpoint.Contains('\0', StringComparison.Ordinal) ? endpoint["unix://".Length..] : null;

    private static string? Fail(out string? error, string message)
    {
        error = message;
        return null;
    }
}
