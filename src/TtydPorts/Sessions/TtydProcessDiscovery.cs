using System.Globalization;
using System.Net;

namespace TtydPorts;

/// <summary>A ttyd process of this library found on the machine, with what its markers say.</summary>
/// <param name="InstanceName">The manager instance that started it.</param>
/// <param name="Session">The session it serves.</param>
/// <param name="Token">The session's secret marker, shared by the processes it spawned (including inside the container).</param>
internal sealed record DiscoveredSession(string InstanceName, TtydSession Session, string Token)
{
    // The verified runtime folder that names and deletes this session's files.
    internal RuntimeFolder? Folder { get; init; }

    // The engine its container runs on (the runtime's endpoint), when the session says; null from older versions.
    internal string? Engine { get; init; }

    // The session's observer ttyd (signed with its token and the observer role), when one was running.
    internal ProcessIdentity? Observer { get; init; }
}

/// <summary>
/// Finds the ttyd processes this library started, from the signed markers each carries in its environment. Needs no
/// state of its own, so it works whether or not the host that started them still runs (the <c>ttyd-ports</c> tool).
/// A ttyd without valid markers (not ours, or forged) is never reported.
/// </summary>
internal static class TtydProcessDiscovery
{
    /// <summary>Prefix of every marker variable.</summary>
    public const string MarkerPrefix = "TTYDPORTS_";

    internal const string InstanceMarker = "TTYDPORTS_INSTANCE";
    internal const string SessionMarker = "TTYDPORTS_SESSION";
    internal const string ContainerMarker = "TTYDPORTS_CONTAINER";
    internal const string ContainerIdMarker = "TTYDPORTS_CONTAINER_ID";
    internal const string UserMarker = "TTYDPORTS_USER";
    internal const string TopologyMarker = "TTYDPORTS_TOPOLOGY";
    internal const string PortMarker = "TTYDPORTS_PORT";
    internal const string AddressMarker = "TTYDPORTS_ADDRESS";
    internal const string StartedMarker = "TTYDPORTS_STARTED";
    internal const string SocketMarker = "TTYDPORTS_SOCKET";
    internal const string SecretMarker = "TTYDPORTS_SECRET";
    internal const string BasePathMarker = "TTYDPORTS_BASE";
    internal const string CommandMarker = "TTYDPORTS_COMMAND";
    internal const string EngineMarker = "TTYDPORTS_ENGINE";

    // A persistent session's ttyd runs tmux ("tmux"); its observer ttyd carries the role "observer" and is part of that
    // session, never a session of its own.
    internal const string TerminalMarker = "TTYDPORTS_TERMINAL";
    internal const string RoleMarker = "TTYDPORTS_ROLE";
    internal const string ObserverRole = "observer";
    internal const string RecorderRole = "recorder";
    internal const string TmuxTerminal = "tmux";

    /// <summary>
    /// An environment with the markers first, as every process of a session gets it: a scan reads only the start of
    /// each environment (<see cref="ProcFs.MaxEnvironmentBytes"/>), and the rest is the host's to size.
    /// </summary>
    internal static IEnumerable<KeyValuePair<string, string>> MarkersFirst(IEnumerable<KeyValuePair<string, string>> environment) =>
        environment.OrderBy(static v => v.Key.StartsWith(MarkerPrefix, StringComparison.Ordinal) ? 0 : 1);

    /// <summary>Name of the variable that marks the processes a session starts inside its container.</summary>
    public const string ExecMarker = "TTYDPORTS_EXEC";

    /// <summary>
    /// The sessions of <paramref name="instanceName"/> (or of every instance when null) running on this machine that this
    /// library provably started: run by this OS user (by any, when called as root) from the ttyd their signed markers
    /// name, with a trusted runtime folder whose instance key verifies the markers. A process with forged or copied
    /// markers is never reported.
    /// </summary>
    /// <param name="supervisor">Reads the machine's marked processes.</param>
    /// <param name="instanceName">One instance, or every instance when null.</param>
    /// <param name="refused">When given, receives the marked processes that were refused, with why (never a reason to fail).</param>
    public static IReadOnlyList<DiscoveredSession> Find(IProcessSupervisor supervisor, string? instanceName = null, ICollection<RefusedProcess>? refused = null)
    {
        ArgumentNullException.ThrowIfNull(supervisor);
        return SessionAdoption.ForMachine().Find(supervisor, instanceName, refused);
    }

    /// <summary>Reads a session from a marked process, or <see langword="null"/> when its markers are incomplete or invalid.</summary>
    public static DiscoveredSession? TryParse(MarkedProcess process)
    {
        ArgumentNullException.ThrowIfNull(process);
        var m = process.Markers;
        if (!m.TryGetValue(InstanceMarker, out var instance) || !SessionIds.IsValidId(instance)
            || !m.TryGetValue(ContainerMarker, out var container) || !SessionIds.IsValidContainerName(container)
            || !m.TryGetValue(UserMarker, out var user) || !SessionIds.IsValidId(user)
            || !m.TryGetValue(SessionMarker, out var token) || string.IsNullOrEmpty(token)
            || !m.TryGetValue(PortMarker, out var portText) || !int.TryParse(portText, NumberStyles.None, CultureInfo.InvariantCulture, out var port) || port is < 0 or > 65535
            || !m.TryGetValue(StartedMarker, out var startedText) || !long.TryParse(startedText, NumberStyles.None, CultureInfo.InvariantCulture, out var started))
        {
            return null;
        }

        TerminalCommand? command = null;
        if (m.TryGetValue(CommandMarker, out var encoded) && (command = CommandMarkerCodec.Decode(encoded)) is null)
        {
            return null; // signed but unreadable: not a session this version can vouch for
        }

        var address = m.TryGetValue(AddressMarker, out var a) && IPAddress.TryParse(a, out var parsed) ? parsed : IPAddress.Loopback;
        var topology = m.TryGetValue(TopologyMarker, out var t) && SessionIds.IsValidId(t) ? t : null;
        var credential = m.TryGetValue(SecretMarker, out var secret) && secret.Length > 0 ? new TtydCredential("ttydports", secret) : null;
        var session = new TtydSession
        {
            Container = container,
            ContainerId = m.TryGetValue(ContainerIdMarker, out var id) && SessionIds.IsValidContainerId(id) ? id : null,
            UserId = user,
            TopologyId = topology,
            Port = port,
            Address = address,
            Process = process.Process,
            StartedAt = DateTimeOffset.FromUnixTimeMilliseconds(started),
            SocketPath = m.GetValueOrDefault(SocketMarker),
            Credential = credential,
            BasePath = m.GetValueOrDefault(BasePathMarker),
            Persistent = m.GetValueOrDefault(TerminalMarker) == TmuxTerminal,
            Command = command,
        };
        return new DiscoveredSession(instance, session, token) { Engine = m.GetValueOrDefault(EngineMarker) };
    }

    internal static IEnumerable<KeyValuePair<string, string>> Markers(string instance, string token, TtydSession session)
    {
        yield return new(InstanceMarker, instance);
        yield return new(SessionMarker, token);
        yield return new(ContainerMarker, session.Container);
        if (session.ContainerId is not null)
        {
            yield return new(ContainerIdMarker, session.ContainerId);
        }

        yield return new(UserMarker, session.UserId);
        yield return new(PortMarker, session.Port.ToString(CultureInfo.InvariantCulture));
        yield return new(AddressMarker, session.Address.ToString());
        yield return new(StartedMarker, session.StartedAt.ToUnixTimeMilliseconds().ToString(CultureInfo.InvariantCulture));
        if (session.TopologyId is not null)
        {
            yield return new(TopologyMarker, session.TopologyId);
        }

        // The environment is readable by the same user and root only (unlike the command line).
        if (session.Credential is not null)
        {
            yield return new(SecretMarker, session.Credential.Password);
        }

        if (session.SocketPath is not null)
        {
            yield return new(SocketMarker, session.SocketPath);
        }

        if (session.BasePath is not null)
        {
            yield return new(BasePathMarker, session.BasePath);
        }

        if (session.Persistent)
        {
            yield return new(TerminalMarker, TmuxTerminal);
        }

        if (session.Command is not null)
        {
            yield return new(CommandMarker, CommandMarkerCodec.Encode(session.Command));
        }
    }
}
