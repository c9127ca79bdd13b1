using System.Collections.Immutable;
using System.Globalization;

namespace TtydPorts;

/// <summary>
/// Where a container engine listens: a Unix socket on this machine, or TCP with TLS both ways (the engine's certificate
/// checked against a CA, ours shown to it). The one place that turns options and the docker CLI's variables into an
/// engine, for the runtime's API calls, the exec client's command line and start-up validation alike.
/// </summary>
internal sealed record EngineEndpoint
{
    public const string DefaultDockerSocket = "/var/run/docker.sock";

    /// <summary>As written in options and errors: <c>unix:///path</c> or <c>tcp://host:port</c>.</summary>
    public required string Uri { get; init; }

    /// <summary>The socket's path, for a Unix socket.</summary>
    public string? SocketPath { get; init; }

    public string? Host { get; init; }

    public int Port { get; init; }

    /// <summary>For TCP: the folder with <c>ca.pem</c>, <c>cert.pem</c> and <c>key.pem</c>, as <c>DOCKER_CERT_PATH</c> has them.</summary>
    public string? CertificateFolder { get; init; }

    /// <summary>An engine on a Unix socket runs on this machine: the processes in its containers are in this machine's <c>/proc</c>.</summary>
    public bool IsLocal => SocketPath is not null;

    public string CaFile => Path.Combine(CertificateFolder!, "ca.pem");

    public string CertFile => Path.Combine(CertificateFolder!, "cert.pem");

    public string KeyFile => Path.Combine(CertificateFolder!, "key.pem");

    /// <summary>The docker CLI's global options that reach exactly this engine, whatever a context or its config says.</summary>
    public ImmutableArray<string> DockerCliOptions => SocketPath is not null
        ? ["--host", Uri]
        : ["--host", Uri, "--tlsverify", "--tlscacert", CaFile, "--tlscert", CertFile, "--tlskey", KeyFile];

    /// <summary>The docker CLI's variables for the same engine, for a <c>DockerPath</c> that is a wrapper.</summary>
    public ImmutableDictionary<string, string> DockerVariables => SocketPath is not null
        ? ImmutableDictionary<string, string>.Empty.Add("DOCKER_HOST", Uri)
        : ImmutableDictionary<string, string>.Empty.Add("DOCKER_HOST", Uri).Add("DOCKER_TLS_VERIFY", "1").Add("DOCKER_CERT_PATH", CertificateFolder!);

    /// <summary>
    /// Docker's engine, or <see langword="null"/> and an error naming what cannot be used. <c>DockerEndpoint</c> wins over
    /// the environment; without it <c>DOCKER_HOST</c> (with <c>DOCKER_TLS_VERIFY</c> and <c>DOCKER_CERT_PATH</c> as the docker
    /// CLI reads them), else the default socket. TCP is used only with TLS verified both ways: an engine over plain TCP
    /// gives root on its host to anyone who reaches the port, so it is refused rather than used. <c>ssh://</c> and Docker
    /// contexts are not read, and say so rather than quietly using another engine.
    /// </summary>
    public static EngineEndpoint? TryResolveDocker(string? configured, string? certificateFolder, Func<string, string?> environment, out string? error)
    {
        error = null;
        if (configured is not null)
        {
            return Parse(configured, "DockerEndpoint", certificateFolder ?? DefaultCertificateFolder(environment), out error);
        }

        if (environment("DOCKER_HOST") is { Length: > 0 } dockerHost)
        {
            if (dockerHost.StartsWith("tcp://", StringComparison.Ordinal) && environment("DOCKER_TLS_VERIFY") is not { Length: > 0 } && certificateFolder is null)
            {
                return Fail(out error,
                    $"DOCKER_HOST {SessionIds.Quote(dockerHost)} is a TCP engine without DOCKER_TLS_VERIFY: the library talks to an engine over TCP only " +
                    "with TLS verified both ways (plain TCP gives root on the engine's host to anyone who reaches the port). " +
                    "Set DOCKER_TLS_VERIFY=1 and DOCKER_CERT_PATH (a folder with ca.pem, cert.pem and key.pem), or DockerCertPath.");
            }

            return Parse(dockerHost, "DOCKER_HOST", certificateFolder ?? DefaultCertificateFolder(environment), out error);
        }

        if (environment("DOCKER_CONTEXT") is { Length: > 0 } context && context != "default")
        {
            return Fail(out error,
                $"DOCKER_CONTEXT {SessionIds.Quote(context)} is set, but the library does not read Docker contexts and would use unix://{DefaultDockerSocket} instead. " +
                "Set DockerEndpoint to that context's endpoint (docker context inspect), or unset DOCKER_CONTEXT.");
        }

        return new EngineEndpoint { Uri = "unix://" + DefaultDockerSocket, SocketPath = DefaultDockerSocket };
    }

    /// <summary>
    /// Podman's Docker-compatible API service: <c>PodmanEndpoint</c>, else <c>CONTAINER_HOST</c> (podman's own variable),
    /// else the service's default socket (<c>/run/podman/podman.sock</c> as root, <c>$XDG_RUNTIME_DIR/podman/podman.sock</c>
    /// rootless). Only Unix sockets: a remote Podman is reached through the socket its SSH tunnel gives.
    /// </summary>
    public static EngineEndpoint? TryResolvePodman(string? configured, Func<string, string?> environment, bool isRoot, out string? error)
    {
        error = null;
        var (value, source) = configured is not null ? (configured, "PodmanEndpoint")
            : environment("CONTAINER_HOST") is { Length: > 0 } host ? (host, "CONTAINER_HOST")
            : (null, null);
        if (value is null)
        {
            var socket = isRoot ? "/run/podman/podman.sock"
                : environment("XDG_RUNTIME_DIR") is { Length: > 1 } runtime && runtime[0] == '/' ? Path.Combine(runtime, "podman", "podman.sock")
                : $"/run/user/{Native.geteuid().ToString(CultureInfo.InvariantCulture)}/podman/podman.sock";
            return new EngineEndpoint { Uri = "unix://" + socket, SocketPath = socket };
        }

        return SocketOf(value) is { } path
            ? new EngineEndpoint { Uri = value, SocketPath = path }
            : Fail(out error, $"{source} {SessionIds.Quote(value)} must be a unix:// socket with an absolute path, e.g. unix:///run/podman/podman.sock (podman system service).");
    }

    /// <summary>As <see cref="TryResolveDocker"/> or <see cref="TryResolvePodman"/> for the options' runtime, throwing where it reports an error.</summary>
    /// <exception cref="InvalidOperationException">The endpoint cannot be used.</exception>
    public static EngineEndpoint Resolve(TtydSessionOptions options)
    {
        var endpoint = options.ContainerRuntime == ContainerRuntimeKind.Podman
            ? TryResolvePodman(options.PodmanEndpoint, Environment.GetEnvironmentVariable, Native.geteuid() == 0, out var error)
            : TryResolveDocker(options.DockerEndpoint, options.DockerCertPath, Environment.GetEnvironmentVariable, out error);
        return endpoint ?? throw new InvalidOperationException(error);
    }

    /// <summary>
    /// For TCP: what is wrong with the certificate folder (missing files, or files another user could replace or read: a
    /// file or folder owned by a user other than root and this one, or writable by others along the folders above it).
    /// </summary>
    public string? CertificateProblem()
    {
        if (CertificateFolder is null || OperatingSystem.IsWindows())
        {
            return null;
        }

        foreach (var file in new[] { CaFile, CertFile, KeyFile })
        {
            if (!File.Exists(file))
            {
                return $"The TLS file {SessionIds.Quote(file)} for the engine {Uri} does not exist (the folder needs ca.pem, cert.pem and key.pem, as for docker --tlsverify).";
            }
        }

        // Whoever can replace ca.pem can stand in for the engine; whoever can read key.pem can act as us towards it. So
        // the folder and every folder above it (and above a file's target, where a file is a link) must be root's or
        // ours and writable by nobody else, by the runtime folder's rule; the files root's or ours.
        var self = Native.geteuid();
        foreach (var file in new[] { CaFile, CertFile, KeyFile })
        {
            var real = Native.RealPath(file) ?? file;
            if ((RuntimeFolder.ProblemAbove(file, self, "The TLS file") ?? (real == file ? null : RuntimeFolder.ProblemAbove(real, self, "The TLS file"))) is { } above)
            {
                return above;
            }

            if (Native.LStat(real) is { } stat && stat.Uid != 0 && stat.Uid != self)
            {
                return $"{SessionIds.Quote(file)} is owned by uid {stat.Uid}, neither root nor this user (uid {self}), who could then replace the engine's CA or our certificate.";
            }
        }

        const UnixFileMode othersWrite = UnixFileMode.GroupWrite | UnixFileMode.OtherWrite;
        foreach (var path in new[] { CertificateFolder, CaFile, CertFile, KeyFile })
        {
            if ((File.GetUnixFileMode(path) & othersWrite) != 0)
            {
                return $"{SessionIds.Quote(path)} is writable by other users, who could then replace the engine's CA or our certificate; make it writable by its owner only.";
            }
        }

        return (File.GetUnixFileMode(KeyFile) & (UnixFileMode.GroupRead | UnixFileMode.OtherRead)) != 0
            ? $"The TLS key {SessionIds.Quote(KeyFile)} is readable by other users; chmod 600 it."
            : null;
    }

    private static EngineEndpoint? Parse(string value, string source, string certificateFolder, out string? error)
    {
        error = null;
        if (SocketOf(value) is { } path)
        {
            return new EngineEndpoint { Uri = value, SocketPath = path };
        }

        if (value.StartsWith("tcp://", StringComparison.Ordinal)
            && System.Uri.TryCreate(value, UriKind.Absolute, out var uri) && uri.Port is > 0 and <= 65535
            && uri.AbsolutePath is "/" or "" && uri.Query.Length == 0 && uri.UserInfo.Length == 0 && value.IndexOf(':', "tcp://".Length) > 0)
        {
            if (!Path.IsPathFullyQualified(certificateFolder))
            {
                return Fail(out error, $"The TLS certificate folder {SessionIds.Quote(certificateFolder)} for {source} {SessionIds.Quote(value)} must be an absolute path.");
            }

            return new EngineEndpoint { Uri = $"tcp://{uri.Authority}", Host = uri.IdnHost, Port = uri.Port, CertificateFolder = certificateFolder };
        }

        return Fail(out error,
            $"{source} {SessionIds.Quote(value)} must be unix:///absolute/path or tcp://host:port (with TLS certificates); " +
            $"ssh:// and other schemes are not used, e.g. unix://{DefaultDockerSocket}.");
    }

    // DOCKER_CERT_PATH, else ~/.docker: where the docker CLI looks.
    private static string DefaultCertificateFolder(Func<string, string?> environment) =>
        environment("DOCKER_CERT_PATH") is { Length: > 0 } path ? path
        : Path.Combine(environment("HOME") is { Length: > 0 } home ? home : "/root", ".docker");

    private static string? SocketOf(string endpoint) =>
        endpoint.StartsWith("unix:///", StringComparison.Ordinal) && !endpoint.Contains('\0', StringComparison.Ordinal) ? endpoint["unix://".Length..] : null;

    private static EngineEndpoint? Fail(out string? error, string message)
    {
        error = message;
        return null;
    }
}
