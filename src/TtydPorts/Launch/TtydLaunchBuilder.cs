using System.Collections.Immutable;
using System.Globalization;
using System.Net;
using System.Net.Sockets;

namespace TtydPorts;

/// <summary>
/// Pure code: the manager's options and a planned session in, ttyd's argument list and whole environment out. No I/O
/// (the host's variables come in through a function), so every rule here has a plain unit test.
/// </summary>
internal sealed class TtydLaunchBuilder
{
    /// <summary>The host variables ttyd and its command may see; everything else of the host stays out.</summary>
    internal static readonly string[] InheritedVariables = ["PATH", "HOME", "LANG", "LANGUAGE", "LC_ALL", "LC_CTYPE", "LC_MESSAGES", "TZ", "DOCKER_CONFIG"];

    private readonly TtydSessionOptions _options;
    private readonly string _runtimeFolder;
    private readonly string _dockerEndpoint;
    private readonly ImmutableDictionary<string, string> _environment;

    public TtydLaunchBuilder(TtydSessionOptions options, string runtimeFolder, string dockerEndpoint, Func<string, string?> hostVariable)
    {
        _options = options;
        _runtimeFolder = runtimeFolder;
        _dockerEndpoint = dockerEndpoint;
        Address = IPAddress.Parse(options.BindAddress);
        UseSockets = options.ListenMode == TtydListenMode.UnixSocket;
        UseCredentials = UseSockets || options.RequireCredentials || options.AllowRemoteAccess || !IPAddress.IsLoopback(Address);
        _environment = BuildEnvironment(hostVariable);
    }

    /// <summary>The address ttyd binds in TCP mode.</summary>
    public IPAddress Address { get; }

    /// <summary>Whether sessions listen on a Unix socket (proxy mode) instead of a port.</summary>
    public bool UseSockets { get; }

    /// <summary>Whether every session demands its own credential.</summary>
    public bool UseCredentials { get; }

    /// <summary>ttyd's base path for a container (<c>-b</c>), or null when it serves at <c>/</c>.</summary>
    public string? BasePathFor(string container) => _options.BasePath is { } basePath ? $"{basePath}/{container}" : null;

    /// <summary>
    /// Whether a session (adopted from an earlier run) is what these options would start today: same listen mode,
    /// credential policy, base path, and for TCP the same address and a port inside the range.
    /// </summary>
    public bool Fits(TtydSession session) =>
        (session.SocketPath is not null) == UseSockets
        && (session.Credential is not null) == UseCredentials
        && string.Equals(session.BasePath, BasePathFor(session.Container), StringComparison.Ordinal)
        && (UseSockets || (session.Address.Equals(Address) && session.Port >= _options.PortRangeStart && session.Port <= _options.PortRangeEnd));

    /// <summary>ttyd's launch for <paramref name="planned"/>: arguments, environment with signed markers, readiness, log.</summary>
    /// <param name="planned">The session as it will be (no process yet), with its container id.</param>
    /// <param name="token">The session token (32 hex digits): names its files and marks its processes.</param>
    /// <param name="key">The instance key that signs the markers.</param>
    /// <param name="ttyd">ttyd's canonical path, which adoption later compares with <c>/proc/PID/exe</c>.</param>
    /// <param name="logPath">Where ttyd's output goes.</param>
    public ProcessLaunch Build(TtydSession planned, string token, byte[] key, string ttyd, string logPath)
    {
        var arguments = ImmutableArray.CreateBuilder<string>();
        if (planned.SocketPath is { } socket)
        {
            arguments.AddRange("-i", socket);
        }
        else
        {
            arguments.AddRange("-p", planned.Port.ToString(CultureInfo.InvariantCulture), "-i", Address.ToString());
            if (Address.AddressFamily == AddressFamily.InterNetworkV6)
            {
                arguments.Add("-6");
            }
        }

        if (_options.Writable)
        {
            arguments.Add("-W");
        }

        if (planned.BasePath is { } basePath)
        {
            arguments.AddRange("-b", basePath);
        }

        if (_options.CheckOrigin)
        {
            arguments.Add("-O");
        }

        if (_options.MaxClientsPerTerminal > 0)
        {
            arguments.AddRange("-m", _options.MaxClientsPerTerminal.ToString(CultureInfo.InvariantCulture));
        }

        if (planned.Credential is { } credential)
        {
            // ttyd takes the credential only on its command line, which every local user can read; what keeps it
            // useful is where ttyd listens (README, threat model). It is never logged by this library.
            arguments.AddRange("-c", $"{credential.UserName}:{credential.Password}");
        }

        arguments.AddRange(_options.ExtraTtydArguments);

        // The exec'd shell carries the session token, so that the processes it leaves inside the container can be
        // found from the host when the session stops (a killed `docker exec` client does not end them). --host pins
        // the client to the inventory's engine whatever a context or the client's config says.
        // The target is the id recorded at start, never the name: a container that takes the name later is another one.
        arguments.AddRange(_options.DockerPath, "--host", _dockerEndpoint, "exec", "-it", "-e", $"{TtydProcessDiscovery.ExecMarker}={token}",
            planned.ContainerId ?? throw new InvalidOperationException($"No container id recorded for '{planned.Container}'."), _options.Shell);

        // Markers name the folder and the program, and are signed with the instance key: SessionAdoption believes
        // nothing else.
        var markers = ImmutableDictionary.CreateRange(StringComparer.Ordinal, TtydProcessDiscovery.Markers(_options.InstanceName, token, planned))
            .SetItem(SessionAdoption.RuntimeMarker, _runtimeFolder)
            .SetItem(SessionAdoption.ExecutableMarker, ttyd);
        markers = markers.SetItem(MarkerSignature.Marker, MarkerSignature.Compute(key, markers));

        return new ProcessLaunch
        {
            FileName = ttyd,
            Arguments = arguments.ToImmutable(),
            Environment = _environment.SetItems(markers),
            ReadyEndpoint = planned.SocketPath is { } path
                ? new UnixDomainSocketEndPoint(path)
                : new IPEndPoint(Address.Equals(IPAddress.Any) ? IPAddress.Loopback : Address.Equals(IPAddress.IPv6Any) ? IPAddress.IPv6Loopback : Address, planned.Port),
            ReadyTimeout = _options.StartTimeout,
            LogPath = logPath,
            // ttyd prints the credential (base64) at start; a failed start's output must not carry it anywhere.
            Secrets = planned.Credential is { } c ? [$"{c.UserName}:{c.Password}", c.Password, c.AuthorizationHeaderValue["Basic ".Length..]] : [],
        };
    }

    // The whole environment of ttyd and its command: the allow-listed host variables, what the host adds explicitly,
    // and DOCKER_HOST pinned to the inventory's engine (for a DockerPath that is a wrapper); markers come per session.
    private ImmutableDictionary<string, string> BuildEnvironment(Func<string, string?> hostVariable)
    {
        var environment = ImmutableDictionary.CreateBuilder<string, string>(StringComparer.Ordinal);
        foreach (var name in InheritedVariables)
        {
            if (hostVariable(name) is { Length: > 0 } value)
            {
                environment[name] = value;
            }
        }

        environment.AddRange(_options.LaunchEnvironment.Where(v => !string.IsNullOrEmpty(v.Key)));
        environment["DOCKER_HOST"] = _dockerEndpoint;
        return environment.ToImmutable();
    }
}
