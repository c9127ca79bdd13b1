using System.Net;
using System.Net.Sockets;
using Microsoft.Extensions.Options;

namespace TtydPorts;

[OptionsValidator]
internal sealed partial class TtydSessionOptionsValidator : IValidateOptions<TtydSessionOptions>;

/// <summary>The rules that span several properties, which annotations cannot say.</summary>
internal sealed class TtydSessionOptionsRules(Func<string, string?> environment) : IValidateOptions<TtydSessionOptions>
{
    private readonly Func<string, string?> _environment = environment;

    /// <summary>Validates against the process's own environment (<c>DOCKER_HOST</c>, <c>DOCKER_CONTEXT</c>).</summary>
    public TtydSessionOptionsRules()
        : this(Environment.GetEnvironmentVariable)
    {
    }

    public ValidateOptionsResult Validate(string? name, TtydSessionOptions options)
    {
        var builder = new ValidateOptionsResultBuilder();
        if (options.PortRangeStart > options.PortRangeEnd)
        {
            builder.AddError($"PortRangeStart ({options.PortRangeStart}) must not be greater than PortRangeEnd ({options.PortRangeEnd}).");
        }

        if (!IPAddress.TryParse(options.BindAddress, out var address))
        {
            builder.AddError($"BindAddress '{options.BindAddress}' is not an IP address.");
        }
        else if (Unbindable(address) is { } why)
        {
            builder.AddError($"BindAddress '{options.BindAddress}' is {why}, which ttyd cannot listen on; use an IPv4 or IPv6 literal such as 127.0.0.1 or ::1.");
        }
        else if (!IPAddress.IsLoopback(address) && !options.AllowRemoteAccess && options.ListenMode == TtydListenMode.Tcp)
        {
            builder.AddError($"BindAddress '{options.BindAddress}' is not a loopback address: terminals would be reachable from other hosts. " +
                             "Set AllowRemoteAccess = true to allow it (each session then demands its own credential), or use the proxy mode.");
        }

        if (!options.RequireCredentials && !options.AllowUnauthenticatedLoopbackTerminals && options.ListenMode == TtydListenMode.Tcp && !options.AllowRemoteAccess)
        {
            builder.AddError("RequireCredentials = false would let every local user and any web page opened on this machine get a shell " +
                             "in the containers. Keep it true (open terminals with TtydSession.GetUrl()), or also set " +
                             "AllowUnauthenticatedLoopbackTerminals = true to accept that.");
        }

        if (options.BasePath is { } basePath && !IsPath(basePath))
        {
            builder.AddError($"BasePath {SessionIds.Quote(basePath)} must look like /segment[/segment...] with letters, digits, '_', '.' and '-'.");
        }

        if (string.IsNullOrWhiteSpace(options.TtydPath))
        {
            builder.AddError("TtydPath must be set.");
        }

        if (options.PersistentShells && string.IsNullOrWhiteSpace(options.TmuxPath))
        {
            builder.AddError("TmuxPath must be set while PersistentShells is on (or set PersistentShells = false).");
        }

        foreach (var (label, byValue) in options.CommandsByLabel ?? new Dictionary<string, IDictionary<string, TerminalCommand>>())
        {
            foreach (var (value, command) in byValue ?? new Dictionary<string, TerminalCommand>())
            {
                if ((command is null ? "The command is null." : TerminalCommand.Problem(command)) is { } problem)
                {
                    builder.AddError($"CommandsByLabel[{SessionIds.Quote(label)}][{SessionIds.Quote(value)}]: {problem}");
                }
            }
        }

        if (options.CommandsByLabel is null)
        {
            builder.AddError("CommandsByLabel must not be null (clear it for no label mapping).");
        }

        // tmux reads an argument that ends in ';' as the end of a command: the shell would be cut there.
        if (options.PersistentShells && options.Shell.EndsWith(';'))
        {
            builder.AddError($"Shell {SessionIds.Quote(options.Shell)} must not end with ';' while PersistentShells is on.");
        }

        if (options.RecordingDirectory is { } recordings)
        {
            if (!options.PersistentShells)
            {
                builder.AddError($"RecordingDirectory {SessionIds.Quote(recordings)} is set but PersistentShells is off: recording reads the session's tmux server. Turn PersistentShells on, or leave RecordingDirectory unset.");
            }

            if (!Path.IsPathFullyQualified(recordings) || recordings.Contains('\0', StringComparison.Ordinal))
            {
                builder.AddError($"RecordingDirectory {SessionIds.Quote(recordings)} must be an absolute path.");
            }
        }

        if (!SessionIds.IsValidId(options.InstanceName))
        {
            builder.AddError($"InstanceName {SessionIds.Quote(options.InstanceName)} must match [a-zA-Z0-9][a-zA-Z0-9_.@-]*.");
        }

        string? endpointError;
        var engine = options.ContainerRuntime switch
        {
            ContainerRuntimeKind.Docker => EngineEndpoint.TryResolveDocker(options.DockerEndpoint, options.DockerCertPath, _environment, out endpointError),
            ContainerRuntimeKind.Podman => EngineEndpoint.TryResolvePodman(options.PodmanEndpoint, _environment, Native.geteuid() == 0, out endpointError),
            _ => Fail($"ContainerRuntime {SessionIds.Quote(options.ContainerRuntime.ToString())} is not a runtime this library has (Docker or Podman); plug in another with UseContainerRuntime<T>().", out endpointError),
        };
        if (engine is null)
        {
            builder.AddError(endpointError!);
        }
        else if (engine.CertificateProblem() is { } certificates)
        {
            builder.AddError(certificates);
        }

        if (options.ExecClientPath is { Length: > 0 } execClient && EngineRuntime.ExecClientProblem(execClient) is { } execClientProblem)
        {
            builder.AddError(execClientProblem);
        }

        // A relative folder would follow the host's working directory ('/' under systemd), and the tool refuses relative markers.
        if (options.RuntimeDirectory is { } runtime && (!Path.IsPathFullyQualified(runtime) || runtime.Contains('\0', StringComparison.Ordinal)))
        {
            builder.AddError($"RuntimeDirectory {SessionIds.Quote(runtime)} must be an absolute path (or unset for the default).");
        }

        if (options.DockerCertPath is { } certPath && !Path.IsPathFullyQualified(certPath))
        {
            builder.AddError($"DockerCertPath {SessionIds.Quote(certPath)} must be an absolute path.");
        }

        foreach (var (variable, value) in options.LaunchEnvironment)
        {
            if (LaunchVariableError(variable, value) is { } error)
            {
                builder.AddError(error);
            }
        }

        if (options.IdleTimeout is { } idle && idle <= TimeSpan.Zero)
        {
            builder.AddError($"IdleTimeout ({idle}) must be positive, or null to keep idle sessions.");
        }

        foreach (var argument in options.ExtraTtydArguments)
        {
            if (argument is null || argument.Contains('\0', StringComparison.Ordinal))
            {
                builder.AddError("ExtraTtydArguments must not contain null or NUL characters.");
            }
        }

        return builder.Build();
    }

    // Addresses that parse, and may even pass the loopback check, but on which ttyd never listens, so that every
    // start would only time out: ttyd's -i takes a plain address (no scope id) of one family.
    private static string? Unbindable(IPAddress address) =>
        address.IsIPv4MappedToIPv6 ? "an IPv4-mapped IPv6 address (use the IPv4 address itself)"
        : address.AddressFamily == AddressFamily.InterNetworkV6 && address.ScopeId != 0 ? "an IPv6 address with a scope id"
        : address.IsIPv6LinkLocal ? "an IPv6 link-local address (it needs a scope id)"
        : address.IsIPv6Multicast || (address.AddressFamily == AddressFamily.InterNetwork && address.GetAddressBytes()[0] is >= 224 and <= 239) ? "a multicast address"
        : address.Equals(IPAddress.Broadcast) ? "the broadcast address"
        : null;

    private static string? LaunchVariableError(string name, string? value) =>
        name is null || name.Length == 0 || !(char.IsAsciiLetter(name[0]) || name[0] == '_') || !name.All(c => char.IsAsciiLetterOrDigit(c) || c == '_')
            ? $"LaunchEnvironment name {SessionIds.Quote(name)} must match [A-Za-z_][A-Za-z0-9_]*."
        : name.StartsWith(TtydProcessDiscovery.MarkerPrefix, StringComparison.Ordinal)
            ? $"LaunchEnvironment name {SessionIds.Quote(name)} starts with {TtydProcessDiscovery.MarkerPrefix}, the prefix of the session markers, which only the library sets."
        : name is "DOCKER_HOST" or "DOCKER_CONTEXT" or "DOCKER_TLS_VERIFY" or "DOCKER_CERT_PATH" or "CONTAINER_HOST" or "CONTAINER_CONNECTION"
            ? $"LaunchEnvironment name {SessionIds.Quote(name)} would point the terminals at another engine than the inventory's; set DockerEndpoint (DockerCertPath) or PodmanEndpoint instead."
        : value is null || value.Contains('\0', StringComparison.Ordinal)
            ? $"LaunchEnvironment variable {SessionIds.Quote(name)} must have a value without NUL characters."
        : null;

    private static EngineEndpoint? Fail(string message, out string? error)
    {
        error = message;
        return null;
    }

    private static bool IsPath(string path) =>
        path.Length is > 1 and <= 200 && path[0] == '/'
        && path[1..].Split('/').All(segment => segment.Length > 0 && segment is not ("." or "..")
            && segment.All(c => char.IsAsciiLetterOrDigit(c) || c is '_' or '.' or '-'));
}
