using System.ComponentModel.DataAnnotations;
using System.Diagnostics.CodeAnalysis;

namespace TtydPorts;

/// <summary>Settings of the session manager. Validated when the host starts.</summary>
[UnconditionalSuppressMessage("Trimming", "IL2026:RequiresUnreferencedCode",
    Justification = "The attributes are read only by the source-generated TtydSessionOptionsValidator, which checks TimeSpan ranges with its own code; nothing validates them by reflection.")]
public sealed class TtydSessionOptions
{
    /// <summary>The configuration section both samples and the documentation use: <c>"TtydPorts"</c>.</summary>
    public const string SectionName = "TtydPorts";

    /// <summary>First port of the range, inclusive. Default 8000.</summary>
    [Range(1, 65535)]
    public int PortRangeStart { get; set; } = 8000;

    /// <summary>Last port of the range, inclusive. Default 9000.</summary>
    [Range(1, 65535)]
    public int PortRangeEnd { get; set; } = 9000;

    /// <summary>Address ttyd listens on. Default <c>127.0.0.1</c>: terminals are not reachable from other hosts unless you opt in.</summary>
    [Required]
    public string BindAddress { get; set; } = "127.0.0.1";

    /// <summary>
    /// Where ttyd listens. Default <see cref="TtydListenMode.Tcp"/> (a port from the range). <see cref="TtydListenMode.UnixSocket"/>
    /// is the proxy mode that <c>AddTtydTerminalProxy()</c> sets up.
    /// </summary>
    public TtydListenMode ListenMode { get; set; } = TtydListenMode.Tcp;

    /// <summary>
    /// Serve a bind address other than loopback. Default <see langword="false"/>: such an address is refused at start.
    /// When on, every session demands its own random credential (<see cref="TtydSession.Credential"/>).
    /// </summary>
    public bool AllowRemoteAccess { get; set; }

    /// <summary>
    /// Make every session demand its own random credential (ttyd's <c>-c</c>; <see cref="TtydSession.Credential"/>, carried by
    /// <see cref="TtydSession.GetUrl"/>), also on loopback. Default <see langword="true"/>: without it any web page the user
    /// opens, and every local user, can open a shell in the container. Turning it off on loopback also needs
    /// <see cref="AllowUnauthenticatedLoopbackTerminals"/>; it is always on in Unix-socket mode and with <see cref="AllowRemoteAccess"/>.
    /// </summary>
    public bool RequireCredentials { get; set; } = true;

    /// <summary>
    /// Accept <see cref="RequireCredentials"/> = <see langword="false"/>: loopback terminals that take no credential. Default
    /// <see langword="false"/>. Unsafe: every local user and process, and any web page opened in a browser on this machine (a
    /// cross-site page, or one that rebinds its DNS name to 127.0.0.1), can get a shell in the containers. The manager logs a
    /// warning when it starts with it.
    /// </summary>
    public bool AllowUnauthenticatedLoopbackTerminals { get; set; }

    /// <summary>
    /// Make ttyd refuse WebSockets whose <c>Origin</c> host:port differs from the <c>Host</c> (ttyd's <c>-O</c>), so that a page
    /// of another site cannot drive a terminal with credentials the browser remembers. Default <see langword="true"/>.
    /// </summary>
    public bool CheckOrigin { get; set; } = true;

    /// <summary>
    /// At most this many clients (WebSockets) per terminal at once (ttyd's <c>-m</c>); a further one is refused at the
    /// handshake. Each client costs a <c>docker exec</c> and a shell. Default 4; 0: no limit.
    /// </summary>
    [Range(0, 10_000)]
    public int MaxClientsPerTerminal { get; set; } = 4;

    /// <summary>
    /// Path prefix ttyd serves each terminal under, followed by the container name (<c>-b /terminals/node1</c>), for a
    /// proxy in front. Default <see langword="null"/>: served at <c>/</c>. Must look like <c>/a/b</c>.
    /// </summary>
    public string? BasePath { get; set; }

    /// <summary>The ttyd program: a path, or a name looked up on <c>PATH</c>. Default <c>ttyd</c>.</summary>
    [Required]
    public string TtydPath { get; set; } = "ttyd";

    /// <summary>The docker client ttyd runs for each terminal. Default <c>docker</c>.</summary>
    [Required]
    public string DockerPath { get; set; } = "docker";

    /// <summary>The shell run inside the container. Default <c>/bin/sh</c> (many images have no bash).</summary>
    [Required]
    public string Shell { get; set; } = "/bin/sh";

    /// <summary>
    /// Commands chosen by a container label: label name, then label value (exact, or a pattern ending in <c>*</c> that
    /// matches by prefix; an exact value wins, then the longest prefix) to the command its terminal runs. Consulted when
    /// the host gives no command for the call (<see cref="TerminalRequest.Command"/>); with no match, <see cref="Shell"/>
    /// runs. Label names are tried in ordinal order. The default maps containerlab's <c>clab-node-kind</c>:
    /// <c>srl</c>/<c>nokia_srlinux</c> to <c>sr_cli</c>, <c>ceos</c>/<c>arista_ceos</c> to <c>Cli</c>, <c>vr-*</c>
    /// (vrnetlab) to <c>telnet 127.0.0.1 5000</c>; everything else (<c>linux</c>, say) gets <see cref="Shell"/>. Replace
    /// or clear it freely.
    /// </summary>
    public IDictionary<string, IDictionary<string, TerminalCommand>> CommandsByLabel { get; set; } = TerminalCommandResolver.DefaultMappings();

    /// <summary>
    /// Keep each session's shell in a tmux server on the host, so that a reload, a closed tab or a dropped connection
    /// detaches instead of ending the shell, and every connection of the session sees the same shell. Default
    /// <see langword="true"/>. Needs <see cref="TmuxPath"/>: without tmux no session starts (a <see cref="TtydStartException"/>
    /// naming it), never a silent fallback. <see langword="false"/>: each connection runs its own shell, which ends with it.
    /// </summary>
    public bool PersistentShells { get; set; } = true;

    /// <summary>
    /// With <see cref="PersistentShells"/>, start each session's shell as soon as its ttyd is ready, in the background, so
    /// that the first connection attaches to a shell that is already up instead of waiting for <c>docker exec</c> (about
    /// 200 ms). Default <see langword="true"/>. The price: every session holds its shell and its <c>docker exec</c> client
    /// (about 13 MB PSS on the host) from its start, connected or not. <see langword="false"/>: the first connection
    /// starts the shell.
    /// </summary>
    public bool StartShellWithSession { get; set; } = true;

    /// <summary>The tmux program used by <see cref="PersistentShells"/>: a path, or a name looked up on <c>PATH</c>. Default <c>tmux</c>.</summary>
    [Required]
    public string TmuxPath { get; set; } = "tmux";

    /// <summary>
    /// Lines of scrollback tmux keeps per persistent shell (<c>history-limit</c>). Default 10,000.
    /// </summary>
    [Range(0, 1_000_000)]
    public int ScrollbackLines { get; set; } = 10_000;

    /// <summary>
    /// In proxy mode with <see cref="PersistentShells"/>, let a session be watched through a read-only ttyd that attaches to
    /// the same shell with a read-only tmux client, served under <c>{prefix}/{container}/watch/</c> to whom the proxy's
    /// observer authorization allows. Default <see langword="true"/>. That ttyd starts at the first allowed watch request
    /// and ends with the session, or when a repair pass finds it unused for a <see cref="RepairInterval"/>: a session nobody
    /// watches runs none.
    /// </summary>
    public bool ObserverTerminals { get; set; } = true;

    /// <summary>
    /// Record each persistent session's terminal output, with timing, as an asciicast v2 file in this folder (one file
    /// per session start, and one more when a restarted host adopts the session). Default <see langword="null"/>: nothing
    /// is recorded. Needs <see cref="PersistentShells"/>. The folder is created with mode 0700 and checked at every start
    /// like <see cref="RuntimeDirectory"/>: a folder another user owns or can replace is refused with an error naming it.
    /// Recordings hold everything the terminal shows (including what is typed with echo on); cleanups never delete them.
    /// </summary>
    public string? RecordingDirectory { get; set; }

    /// <summary>
    /// The size cap of one recording file, in bytes. When the next event would pass it, a last marker event says so and
    /// the recording of that session stops. Default 64 MiB.
    /// </summary>
    [Range(4096, long.MaxValue)]
    public long RecordingMaxBytes { get; set; } = 64L * 1024 * 1024;

    /// <summary>Whether clients may type (ttyd's <c>-W</c>). Default <see langword="true"/>: a lab terminal must be writable.</summary>
    public bool Writable { get; set; } = true;

    /// <summary>More ttyd options, inserted before the command (e.g. <c>-t</c>, <c>titleFixed=lab</c>). Default none.</summary>
    public IList<string> ExtraTtydArguments { get; } = [];

    /// <summary>How long a new ttyd may take until its port accepts connections. Default 10 s.</summary>
    [Range(typeof(TimeSpan), "00:00:00.001", "1.00:00:00")]
    public TimeSpan StartTimeout { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>How long a stopping ttyd gets after SIGTERM before SIGKILL. Default 5 s.</summary>
    [Range(typeof(TimeSpan), "00:00:00.001", "01:00:00")]
    public TimeSpan StopGracePeriod { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>How many ports are tried when ttyd fails to start (e.g. the port was taken in the meantime). Default 3.</summary>
    [Range(1, 100)]
    public int MaxStartAttempts { get; set; } = 3;

    /// <summary>
    /// Name that tells this manager's processes from those of another manager on the same machine. Default <c>default</c>.
    /// Same rule as user ids.
    /// </summary>
    [Required]
    public string InstanceName { get; set; } = "default";

    /// <summary>
    /// Folder for the sessions' sockets, logs and the instance key that signs their markers. Default
    /// <see langword="null"/>: <c>$XDG_RUNTIME_DIR/ttydports</c>; for root <c>/run/ttydports</c>; else
    /// <c>$HOME/.ttydports</c>; else <c>/tmp/ttydports-UID</c>. Created with mode 0700. It and every folder above it
    /// must be owned by root or this user and writable by nobody else (sticky folders such as <c>/tmp</c> excepted),
    /// checked at every start; a folder that fails is refused with an error that names it, never taken over.
    /// </summary>
    public string? RuntimeDirectory { get; set; }

    /// <summary>
    /// How long a ttyd has to answer the HTTP request that each repair pass sends it; one that does not (frozen) is
    /// replaced. Default 5 s.
    /// </summary>
    [Range(typeof(TimeSpan), "00:00:00.010", "00:10:00")]
    public TimeSpan ResponseTimeout { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>At most this many sessions at once; beyond it <c>EnsureSessionAsync</c> refuses. Default 0: no limit.</summary>
    [Range(0, int.MaxValue)]
    public int MaxSessions { get; set; }

    /// <summary>At most this many sessions per user; beyond it <c>EnsureSessionAsync</c> refuses. Default 0: no limit.</summary>
    [Range(0, int.MaxValue)]
    public int MaxSessionsPerUser { get; set; }

    /// <summary>
    /// How long a freed port rests before it is handed out again, unless the range has nothing else free, so a
    /// stale browser tab cannot land in another user's shell. Default 30 s; zero turns it off.
    /// </summary>
    [Range(typeof(TimeSpan), "00:00:00", "1.00:00:00")]
    public TimeSpan PortCooldown { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>How often the background repair runs (dead sessions, vanished containers, idle sessions). Default 30 s.</summary>
    [Range(typeof(TimeSpan), "00:00:00.010", "1.00:00:00")]
    public TimeSpan RepairInterval { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>
    /// How long a session's container must have been missing before repair stops the session, so that a container
    /// being recreated does not lose its terminal. Default 60 s.
    /// </summary>
    [Range(typeof(TimeSpan), "00:00:00", "1.00:00:00")]
    public TimeSpan ContainerGracePeriod { get; set; } = TimeSpan.FromSeconds(60);

    /// <summary>
    /// Stop a session that had no connected client for this long. Default <see langword="null"/>: idle sessions are
    /// kept. Clients are counted from the established TCP connections on the session's port, or the connections on
    /// its Unix socket in proxy mode.
    /// </summary>
    public TimeSpan? IdleTimeout { get; set; }

    /// <summary>
    /// Whether disposing the manager (host shutdown) stops its sessions. Default <see langword="false"/>: terminals
    /// outlive a host restart and the next manager with the same <see cref="InstanceName"/> adopts them.
    /// </summary>
    public bool StopSessionsOnShutdown { get; set; }

    /// <summary>
    /// The container runtime of the default registration: <see cref="ContainerRuntimeKind.Docker"/> (default) or
    /// <see cref="ContainerRuntimeKind.Podman"/>. The builder's <c>UseDocker()</c> and <c>UsePodman()</c> set it;
    /// <c>UseContainerRuntime&lt;T&gt;()</c> replaces the runtime altogether.
    /// </summary>
    public ContainerRuntimeKind ContainerRuntime { get; set; }

    /// <summary>
    /// Docker Engine endpoint, used by the container inventory and by every terminal's <c>docker exec</c> alike:
    /// <c>unix:///path</c> (local or rootless engine) or <c>tcp://host:port</c> (a remote engine, always with TLS verified
    /// both ways, certificates from <see cref="DockerCertPath"/>). Default <see langword="null"/>: <c>DOCKER_HOST</c> as the
    /// docker CLI reads it (a TCP one only with <c>DOCKER_TLS_VERIFY</c> set), else <c>unix:///var/run/docker.sock</c>. A
    /// plain-TCP engine, <c>ssh://</c>, or a <c>DOCKER_CONTEXT</c> other than <c>default</c> fails start-up validation
    /// rather than being ignored or used unauthenticated.
    /// </summary>
    public string? DockerEndpoint { get; set; }

    /// <summary>
    /// For a TCP Docker engine: the folder with <c>ca.pem</c> (the CA that signed the engine's certificate), <c>cert.pem</c>
    /// and <c>key.pem</c> (ours), as <c>docker --tlsverify</c> uses them. Default <see langword="null"/>:
    /// <c>DOCKER_CERT_PATH</c>, else <c>~/.docker</c>. Validation refuses files other users can replace (a folder or file
    /// owned by a user other than root and this one, or writable by others, also through a folder above it), and a key
    /// they can read.
    /// </summary>
    public string? DockerCertPath { get; set; }

    /// <summary>
    /// Podman's Docker-compatible API service (<c>podman system service</c>), a <c>unix://</c> socket, for the inventory
    /// and every terminal's <c>podman --remote --url … exec</c>. Default <see langword="null"/>: <c>CONTAINER_HOST</c>, else
    /// <c>unix:///run/podman/podman.sock</c> as root or <c>$XDG_RUNTIME_DIR/podman/podman.sock</c> rootless.
    /// </summary>
    public string? PodmanEndpoint { get; set; }

    /// <summary>The podman client ttyd runs for each terminal on Podman. Default <c>podman</c>.</summary>
    [Required]
    public string PodmanPath { get; set; } = "podman";

    /// <summary>
    /// A small Engine API exec client (<c>ttydports-exec</c>, which <c>scripts/install-exec-client.sh</c> builds into
    /// <c>/usr/local/lib/ttydports/ttydports-exec</c>) that ttyd runs for each terminal instead of <c>docker exec -it</c> or
    /// <c>podman exec -it</c>, when the engine is reached through a Unix socket; an engine over TCP keeps the CLI. The
    /// engine still creates the process (same cgroup, namespaces, user, capabilities, seccomp and AppArmor profile as the
    /// CLI's exec); the host saves the CLI's memory (about 0.15 MiB PSS per terminal instead of 12-14 MiB) and its start-up.
    /// Must be an absolute path to an executable file that only root or this user can write. Default
    /// <see langword="null"/> (or empty, as configuration writes it): the runtime's CLI.
    /// </summary>
    public string? ExecClientPath { get; set; }

    /// <summary>
    /// Variables added to the environment of ttyd and its <c>docker exec</c>, which otherwise get only <c>PATH</c>,
    /// <c>HOME</c>, the locale (<c>LANG</c>, <c>LANGUAGE</c>, <c>LC_ALL</c>, <c>LC_CTYPE</c>, <c>LC_MESSAGES</c>), <c>TZ</c> and
    /// <c>DOCKER_CONFIG</c> from the host, the pinned <c>DOCKER_HOST</c> and the session markers: never the host's other
    /// variables (its secrets would outlive it in <c>/proc/PID/environ</c>). Names match <c>[A-Za-z_][A-Za-z0-9_]*</c>; the
    /// marker prefix <c>TTYDPORTS_</c>, <c>DOCKER_HOST</c> and <c>DOCKER_CONTEXT</c> are refused. Default none.
    /// </summary>
    public IDictionary<string, string> LaunchEnvironment { get; } = new Dictionary<string, string>(StringComparer.Ordinal);
}
