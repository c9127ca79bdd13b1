namespace TtydPorts.IntegrationTests;

/// <summary>
/// A container engine the tests start containers on, and how its CLI reaches it: the executable, the arguments before
/// the command, and the variables set over the test process's own (a null value removes one). Started by the scripts:
/// <see cref="Docker"/> by docker-up.sh, <see cref="DockerTls"/> by docker-tls-up.sh, <see cref="DockerRootless"/> by
/// docker-rootless-up.sh, <see cref="Podman"/> by podman-up.sh.
/// </summary>
public sealed record Engine
{
    public required string Name { get; init; }

    public required string CliPath { get; init; }

    public IReadOnlyList<string> CliArgs { get; init; } = [];

    public IReadOnlyDictionary<string, string?> Environment { get; init; } = new Dictionary<string, string?>();

    /// <summary>The main engine on /var/run/docker.sock, reached as every test reached it before: nothing set.</summary>
    public static Engine Docker { get; } = new() { Name = "docker", CliPath = RealParts.DockerClient };

    /// <summary>
    /// dockerd on loopback TCP with TLS client certificates, reached as the docker CLI reads <c>DOCKER_HOST</c>,
    /// <c>DOCKER_TLS_VERIFY</c> and <c>DOCKER_CERT_PATH</c>. <c>DockerTls with { Environment =
    /// RealParts.TlsEnvironment(RealParts.WrongTlsCertPath) }</c> is a client the engine refuses.
    /// </summary>
    public static Engine DockerTls { get; } = new()
    {
        Name = "docker-tls",
        CliPath = RealParts.DockerClient,
        Environment = RealParts.TlsEnvironment(RealParts.TlsCertPath),
        Requirement = RealParts.RequireTlsEngine,
    };

    /// <summary>
    /// The rootless dockerd that the unprivileged user <see cref="RealParts.RootlessUser"/> runs, reached through its
    /// socket <c>/run/user/UID/docker.sock</c>. The CLI runs as the test process's user (root may connect to a socket
    /// another user owns); a container's root is that user on the host.
    /// </summary>
    public static Engine DockerRootless { get; } = new()
    {
        Name = "docker-rootless",
        CliPath = RealParts.DockerClient,
        Environment = new Dictionary<string, string?>
        {
            ["DOCKER_HOST"] = RealParts.RootlessEndpoint,
            ["DOCKER_CONTEXT"] = null,
            ["DOCKER_TLS_VERIFY"] = null,
            ["DOCKER_CERT_PATH"] = null,
        },
        Requirement = RealParts.RequireRootlessEngine,
    };

    /// <summary>Podman's local CLI on the tests' configuration and storage (what the API service uses too).</summary>
    public static Engine Podman { get; } = new()
    {
        Name = "podman",
        CliPath = RealParts.PodmanClient,
        Environment = RealParts.PodmanEnvironment,
        Requirement = RealParts.RequirePodman,
    };

    /// <summary>Podman's CLI through the API service (<c>podman --remote --url unix://...</c>), which holds the configuration.</summary>
    public static Engine PodmanRemote { get; } = Podman with
    {
        Name = "podman-remote",
        CliArgs = ["--remote", "--url", RealParts.PodmanEndpoint],
    };

    /// <summary>Skips (or, under <c>CI=true</c>, fails) the test when this engine or the test image is missing.</summary>
    public void Require() => Requirement();

    private Action Requirement { get; init; } = RealParts.Require;

    private bool IsPodman => CliPath == RealParts.PodmanClient;

    /// <summary>Runs the engine's CLI with <paramref name="arguments"/> after its own.</summary>
    public (int ExitCode, string Output) Run(params string[] arguments) => RealParts.Run(CliPath, [.. CliArgs, .. arguments], Environment);

    /// <summary>Runs the engine's CLI and returns its output; throws when it fails.</summary>
    public string Cli(params string[] arguments)
    {
        var (code, output) = Run(arguments);
        return code == 0 ? output : throw new InvalidOperationException($"{Name}: {string.Join(' ', arguments)} failed ({code}): {output}");
    }

    /// <summary>The argument list of a terminal's shell in <paramref name="container"/> (<c>exec -it</c>: a terminal needs both).</summary>
    public IReadOnlyList<string> TerminalCommand(string container, params string[] command) =>
        [CliPath, .. CliArgs, "exec", "-it", container, .. command.Length > 0 ? command : ["sh"]];

    /// <summary>Starts a test container (busybox image, no network, labelled as a test container, hostname = name).</summary>
    public string StartContainer(string name, params string[] command)
    {
        Require();
        Cli(["run", "-d", "--label", RealParts.TestLabel, "--name", name, "--hostname", name, "--network", "none", RealParts.Image,
            .. command.Length > 0 ? command : ["sleep", "3600"]]);
        return name;
    }

    /// <summary>Removes test containers, whatever state they are in.</summary>
    public void RemoveContainers(IEnumerable<string> names)
    {
        string[] all = [.. names];
        if (all.Length == 0)
        {
            return;
        }

        if (IsPodman)
        {
            // -t 0: podman's default stop timeout is 10 s per running container; these are throw-away. -i: podman 4.3 given
            // a name it does not know (a container a test removed or renamed) removes none of the others and exits 0.
            Run(["rm", "-f", "-i", "-t", "0", .. all]);
            return;
        }

        // One at a time: Docker 20.10 can deadlock when containers leave a network concurrently (moby#46661), which a
        // single `rm -f` of many containers does (the CLI removes them in parallel).
        foreach (var name in all)
        {
            Run(["rm", "-f", name]);
        }
    }
}
