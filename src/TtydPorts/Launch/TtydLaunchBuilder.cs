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
    private readonly IContainerRuntime _runtime;
    private readonly ImmutableDictionary<string, string> _environment;

    public TtydLaunchBuilder(TtydSessionOptions options, string runtimeFolder, IContainerRuntime runtime, Func<string, string?> hostVariable)
    {
        _options = options;
        _runtimeFolder = runtimeFolder;
        _runtime = runtime;
        Address = IPAddress.Parse(options.BindAddress);
        UseSockets = options.ListenMode == TtydListenMode.UnixSocket;
        UseCredentials = UseSockets || options.RequireCredentials || options.AllowRemoteAccess || !IPAddress.IsLoopback(Address);
        _environment = BuildEnvironment(hostVariable);
    }

    /// <summary>The address ttyd binds in TCP mode.</summary>
    public IPAddress Address { get; }

    /// <summary>Whether sessions listen on a Unix socket (proxy mode) instead of a port.</summary>
    public bool UseSockets { get; }

    /// <summary>Whether sessions can get a read-only observer ttyd, started at the first allowed watch (proxy mode with persistent shells).</summary>
    public bool UseObservers => UseSockets && _options.PersistentShells && _options.ObserverTerminals;

    /// <summary>Whether every session demands its own credential.</summary>
    public bool UseCredentials { get; }

    /// <summary>ttyd's base path for a container (<c>-b</c>), or null when it serves at <c>/</c>.</summary>
    public string? BasePathFor(string container) => _options.BasePath is { } basePath ? $"{basePath}/{container}" : null;

    /// <summary>
    /// Whether a session (adopted from an earlier run) is what these options would start today: same listen mode,
    /// credential policy, base path, and for TCP the same address and a port inside the range.
    /// </summary>
    public bool Fits(TtydSession session) =>
        session.Persistent == _options.PersistentShells
        && (session.SocketPath is not null) == UseSockets
        && (session.Credential is not null) == UseCredentials
        && string.Equals(session.BasePath, BasePathFor(session.Container), StringComparison.Ordinal)
        && (UseSockets || (session.Address.Equals(Address) && session.Port >= _options.PortRangeStart && session.Port <= _options.PortRangeEnd));

    /// <summary>ttyd's launch for <paramref name="planned"/>: arguments, environment with signed markers, readiness, log.</summary>
    /// <param name="planned">The session as it will be (no process yet), with its container id.</param>
    /// <param name="token">The session token (32 hex digits): names its files and marks its processes.</param>
    /// <param name="key">The instance key that signs the markers.</param>
    /// <param name="ttyd">ttyd's canonical path, which adoption later compares with <c>/proc/PID/exe</c>.</param>
    /// <param name="logPath">Where ttyd's output goes.</param>
    /// <param name="tmux">tmux's resolved path, for a persistent session.</param>
    /// <param name="tmuxSocket">The tmux server's socket, for a persistent session.</param>
    public ProcessLaunch Build(TtydSession planned, string token, byte[] key, string ttyd, string logPath, string? tmux = null, string? tmuxSocket = null)
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

        var exec = Exec(planned, token);
        if (planned.Persistent)
        {
            arguments.AddRange(TmuxCommand.Attach(
                tmux ?? throw new InvalidOperationException("A persistent session needs tmux's path."),
                tmuxSocket ?? throw new InvalidOperationException("A persistent session needs its tmux socket."),
                _options.ScrollbackLines,
                exec.Arguments));
        }
        else
        {
            arguments.AddRange(exec.Arguments);
        }

        return new ProcessLaunch
        {
            FileName = ttyd,
            Arguments = arguments.ToImmutable(),
            // The runtime's variables pin a wrapper client to its engine; the markers come last, so nothing overrides them.
            Environment = WithItems(exec.Environment, SignedMarkers(planned, token, key, ttyd, role: null)),
            ReadyEndpoint = planned.SocketPath is { } path
                ? new UnixDomainSocketEndPoint(path)
                : new IPEndPoint(Address.Equals(IPAddress.Any) ? IPAddress.Loopback : Address.Equals(IPAddress.IPv6Any) ? IPAddress.IPv6Loopback : Address, planned.Port),
            ReadyTimeout = _options.StartTimeout,
            LogPath = logPath,
            // ttyd prints the credential (base64) at start; a failed start's output must not carry it anywhere.
            Secrets = planned.Credential is { } c ? [$"{c.UserName}:{c.Password}", c.Password, c.AuthorizationHeaderValue["Basic ".Length..]] : [],
        };
    }

    /// <summary>The command that opens the session's shell in its container (what ttyd, or tmux for a persistent session, runs).</summary>
    public ImmutableArray<string> ShellCommand(TtydSession planned, string token) => Exec(planned, token).Arguments;

    // The runtime turns the session's command into its exec line; the exec carries the session token, so that what it
    // leaves inside the container can be ended when the session stops. tmux emulates screen-256color for the pane.
    private ContainerExec Exec(TtydSession planned, string token) => _runtime.CreateExec(new ContainerExecRequest
    {
        ContainerId = planned.ContainerId ?? throw new InvalidOperationException($"No container id recorded for '{planned.Container}'."),
        Command = planned.Command ?? TerminalCommandResolver.Default(_options),
        Marker = token,
        TerminalType = planned.Persistent ? TmuxCommand.InnerTerm : null,
    });

    /// <summary>
    /// The read-only observer ttyd of a persistent session in proxy mode: no <c>-W</c> (ttyd drops input) and a read-only
    /// tmux client (the tmux server drops its keys), on its own socket under <c>{base path}/watch</c>, with the session's
    /// credential and its markers plus the observer role, signed, so that stop, adoption and the tool know it as part of
    /// the session and never as a session of its own.
    /// </summary>
    public ProcessLaunch BuildObserver(TtydSession planned, string token, byte[] key, string ttyd, string tmux, string tmuxSocket)
    {
        var socket = planned.ObserverSocketPath ?? throw new InvalidOperationException("An observer needs its socket.");
        var arguments = ImmutableArray.CreateBuilder<string>();
        arguments.AddRange("-i", socket);
        if (planned.BasePath is { } basePath)
        {
            arguments.AddRange("-b", basePath + "/" + ObserverSegment);
        }

        if (_options.CheckOrigin)
        {
            arguments.Add("-O");
        }

        if (_options.MaxClientsPerTerminal > 0)
        {
            arguments.AddRange("-m", _options.MaxClientsPerTerminal.ToString(CultureInfo.InvariantCulture));
        }

        var credential = planned.Credential ?? throw new InvalidOperationException("An observer needs the session's credential.");
        arguments.AddRange("-c", $"{credential.UserName}:{credential.Password}");
        arguments.AddRange(_options.ExtraTtydArguments.Where(a => a != "-W" && a != "--writable"));
        arguments.AddRange(TmuxCommand.Watch(tmux, tmuxSocket));
        return new ProcessLaunch
        {
            FileName = ttyd,
            Arguments = arguments.ToImmutable(),
            Environment = _environment.SetItems(SignedMarkers(planned, token, key, ttyd, TtydProcessDiscovery.ObserverRole)),
            ReadyEndpoint = new UnixDomainSocketEndPoint(socket),
            ReadyTimeout = _options.StartTimeout,
            Secrets = [$"{credential.UserName}:{credential.Password}", credential.Password, credential.AuthorizationHeaderValue["Basic ".Length..]],
        };
    }

    /// <summary>
    /// The environment of a session's recorder (a tmux control-mode client): the allow-listed variables and the session's
    /// markers with the role <c>recorder</c>, signed, so that stop and the tool end it with the session and adoption never
    /// takes it for one.
    /// </summary>
    public ImmutableDictionary<string, string> RecorderEnvironment(TtydSession session, string token, byte[] key, string ttyd) =>
        _environment.SetItems(SignedMarkers(session, token, key, ttyd, TtydProcessDiscovery.RecorderRole));

    /// <summary>The path segment after the container under which the observer is served (<c>/terminals/node1/watch/</c>).</summary>
    public const string ObserverSegment = "watch";

    // Markers name the folder and the program, and are signed with the instance key: SessionAdoption believes nothing else.
    // Built in one builder (each SetItem on an immutable dictionary copies a path of its tree; this runs at every start).
    private ImmutableDictionary<string, string> SignedMarkers(TtydSession planned, string token, byte[] key, string ttyd, string? role)
    {
        var markers = ImmutableDictionary.CreateBuilder<string, string>(StringComparer.Ordinal);
        markers.AddRange(TtydProcessDiscovery.Markers(_options.InstanceName, token, planned));
        markers[SessionAdoption.RuntimeMarker] = _runtimeFolder;
        markers[SessionAdoption.ExecutableMarker] = ttyd;
        markers[TtydProcessDiscovery.EngineMarker] = _runtime.Endpoint;
        if (role is not null)
        {
            markers[TtydProcessDiscovery.RoleMarker] = role;
        }

        markers[MarkerSignature.Marker] = MarkerSignature.Compute(key, markers);
        return markers.ToImmutable();
    }

    // The allow-listed environment, then the runtime's variables, then the markers: later ones win, as SetItems does.
    private ImmutableDictionary<string, string> WithItems(ImmutableDictionary<string, string> runtime, ImmutableDictionary<string, string> markers)
    {
        var environment = _environment.ToBuilder();
        foreach (var (name, value) in runtime)
        {
            environment[name] = value;
        }

        foreach (var (name, value) in markers)
        {
            environment[name] = value;
        }

        return environment.ToImmutable();
    }

    // The whole environment of ttyd and its command: the allow-listed host variables and what the host adds explicitly;
    // the runtime's variables and the markers come per session.
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
        return environment.ToImmutable();
    }
}
