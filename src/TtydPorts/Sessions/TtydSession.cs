using System.Net;
using System.Net.Sockets;

namespace TtydPorts;

/// <summary>
/// One running ttyd serving one container's terminal. Immutable; a record of <c>init</c> properties, so that new details
/// can be added without breaking anyone who builds one (a test double of <see cref="ITtydSessionManager"/>, say).
/// </summary>
public sealed record TtydSession
{
    /// <summary>Container name.</summary>
    public required string Container { get; init; }

    /// <summary>Owner.</summary>
    public required string UserId { get; init; }

    /// <summary>Topology, when one was given.</summary>
    public string? TopologyId { get; init; }

    /// <summary>TCP port ttyd listens on; 0 when it listens on a Unix socket (<see cref="SocketPath"/>).</summary>
    public int Port { get; init; }

    /// <summary>Address ttyd is bound to. Default loopback.</summary>
    public IPAddress Address { get; init; } = IPAddress.Loopback;

    /// <summary>The ttyd process (PID and start time).</summary>
    public ProcessIdentity Process { get; init; }

    /// <summary>When the session was started.</summary>
    public DateTimeOffset StartedAt { get; init; }

    /// <summary>The Unix socket ttyd listens on instead of a port (proxy mode), else <see langword="null"/>.</summary>
    public string? SocketPath { get; init; }

    /// <summary>The credential ttyd demands (by default every session has one; none only with <see cref="TtydSessionOptions.AllowUnauthenticatedLoopbackTerminals"/>).</summary>
    public TtydCredential? Credential { get; init; }

    /// <summary>ttyd's base path (<c>-b</c>), e.g. <c>/terminals/node1</c>, when one is set.</summary>
    public string? BasePath { get; init; }

    /// <summary>
    /// What the terminal runs inside the container (from the host's request, a label mapping or <see cref="TtydSessionOptions.Shell"/>);
    /// restored from the session's signed markers after adoption. <see langword="null"/> only for a session adopted from
    /// a version that did not record it.
    /// </summary>
    public TerminalCommand? Command { get; init; }

    // Persistent shell (tmux on the session's socket in the runtime folder); from a signed marker after adoption.
    internal bool Persistent { get; init; }

    // Proxy mode with persistent shells: where the session's read-only observer ttyd listens once a watcher started it
    // (the manager's ObserverTerminals); null when this session can never be watched.
    internal string? ObserverSocketPath { get; init; }

    /// <summary>The ttyd process id.</summary>
    public int ProcessId => Process.ProcessId;

    /// <summary>
    /// The engine id of the container the session was started for, which its terminal runs <c>docker exec</c> against: a
    /// container that later takes the same name is never reached through this session. <see langword="null"/> only for a
    /// session adopted without a valid recorded id, which the manager never hands out.
    /// </summary>
    public string? ContainerId { get; init; }

    /// <summary>
    /// The terminal's URL as a browser on <paramref name="host"/> reaches it, e.g. <c>http://lab.example:8001/</c>. When the
    /// session demands a credential (the default), the URL carries it as user info
    /// (<c>http://ttydports:SECRET@127.0.0.1:8001/</c>): opened in a browser (a link, <c>window.open</c>) it signs the page,
    /// its token request and its WebSocket in, in one click. Treat such a URL as the secret it is: hand it only to the
    /// session's owner, never log it. IPv6 literals are bracketed.
    /// </summary>
    /// <param name="host">Host name or address the client uses; defaults to the bind address.</param>
    /// <param name="scheme"><c>http</c> or <c>https</c>.</param>
    /// <exception cref="InvalidOperationException">The session listens on a Unix socket: it is reached through the host's proxy only.</exception>
    public Uri GetUrl(string? host = null, string scheme = "http")
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(scheme);
        if (SocketPath is not null)
        {
            throw new InvalidOperationException($"The session of container '{Container}' listens on a Unix socket; it is served through the host's proxy at {BasePath ?? "its terminal path"}/.");
        }

        host ??= Address.AddressFamily == AddressFamily.InterNetworkV6 || !Address.Equals(IPAddress.Any)
            ? Address.ToString()
            : "localhost";
        if (host.Contains(':', StringComparison.Ordinal) && !host.StartsWith('['))
        {
            host = IPAddress.TryParse(host, out var ip) && ip.AddressFamily == AddressFamily.InterNetworkV6
                ? $"[{host}]"
                : throw new ArgumentException($"Host '{host}' is neither a host name nor an IP address.", nameof(host));
        }

        var url = new UriBuilder(scheme, host, Port, (BasePath ?? "") + "/");
        if (Credential is { } credential)
        {
            url.UserName = Uri.EscapeDataString(credential.UserName);
            url.Password = Uri.EscapeDataString(credential.Password);
        }

        return url.Uri;
    }
}
