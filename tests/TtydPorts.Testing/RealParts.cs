using System.Diagnostics;
using System.Net.Sockets;

namespace TtydPorts.IntegrationTests;

/// <summary>
/// Finds the real ttyd and Docker engine (and, for the runtime tests, the TLS engine and Podman). Where one is missing
/// a test skips with the reason, except under <c>CI=true</c>, where a missing part fails the run.
/// </summary>
public static class RealParts
{
    public const string Image = "ttydports/busybox:test";
    public const string TestLabel = "ttydports.test=1";

    private static readonly Lazy<string?> Missing = new(FindMissing);

    public static string DockerClient { get; } = File.Exists("/usr/bin/docker") ? "/usr/bin/docker" : "docker";

    /// <summary>The second Docker engine's port on 127.0.0.1 (scripts/docker-tls-up.sh; <c>TTYDPORTS_TLS_PORT</c> moves both).</summary>
    public static int TlsPort { get; } = int.TryParse(Environment.GetEnvironmentVariable("TTYDPORTS_TLS_PORT"), out var port) ? port : 23760;

    /// <summary>The second Docker engine, as <c>DOCKER_HOST</c> names it: TCP on loopback, TLS both ways.</summary>
    public static string TlsEndpoint => $"tcp://127.0.0.1:{TlsPort}";

    /// <summary>
    /// Our client certificate, a <c>DOCKER_CERT_PATH</c>: <c>ca.pem</c>, <c>cert.pem</c>, <c>key.pem</c> (0600, in root's 0700 folder
    /// <c>/run/ttydports-scripts/tls</c>, which scripts/docker-tls-up.sh makes; <c>TTYDPORTS_TLS_DIR</c> moves both).
    /// </summary>
    public static string TlsCertPath { get; } = Environment.GetEnvironmentVariable("TTYDPORTS_TLS_DIR") is { Length: > 0 } dir ? dir : "/run/ttydports-scripts/tls";

    /// <summary>A client certificate of another CA, with our <c>ca.pem</c>: the engine refuses it ("remote error: tls: bad certificate").</summary>
    public static string WrongTlsCertPath => Path.Combine(TlsCertPath, "wrong");

    /// <summary>That other CA: as <c>--tlscacert</c>, the client refuses the engine ("x509: certificate signed by unknown authority").</summary>
    public static string OtherCaFile => Path.Combine(WrongTlsCertPath, "other-ca.pem");

    /// <summary>What the docker CLI reads to reach the TLS engine with the certificates in <paramref name="certPath"/>.</summary>
    public static IReadOnlyDictionary<string, string?> TlsEnvironment(string certPath) => new Dictionary<string, string?>
    {
        ["DOCKER_HOST"] = TlsEndpoint,
        ["DOCKER_TLS_VERIFY"] = "1",
        ["DOCKER_CERT_PATH"] = certPath,
        ["DOCKER_CONTEXT"] = null,
    };

    public const string PodmanClient = "/usr/bin/podman";

    /// <summary>Podman's Docker-compatible API service (scripts/podman-up.sh).</summary>
    public const string PodmanSocket = "/run/ttydports-podman/podman.sock";

    public const string PodmanEndpoint = "unix://" + PodmanSocket;

    /// <summary>The configuration every podman on the tests' storage needs (local CLI and service alike).</summary>
    public static IReadOnlyDictionary<string, string?> PodmanEnvironment { get; } = new Dictionary<string, string?>
    {
        ["CONTAINERS_CONF"] = "/var/lib/ttydports-podman/containers.conf",
        ["CONTAINERS_STORAGE_CONF"] = "/var/lib/ttydports-podman/storage.conf",
        ["CONTAINER_HOST"] = null,
        ["CONTAINER_CONNECTION"] = null,
    };

    /// <summary>The unprivileged user that runs the rootless engine (scripts/docker-rootless-up.sh creates it).</summary>
    public const string RootlessUser = "ttydports-rl";

    /// <summary>That user's uid and gid, or null when the user does not exist (the rootless engine was never started).</summary>
    public static (uint Uid, uint Gid)? RootlessIds { get; } = FindUser(RootlessUser);

    /// <summary>That user's home (the engine's data is under it).</summary>
    public static string RootlessHome => $"/var/lib/{RootlessUser}";

    /// <summary>Its <c>XDG_RUNTIME_DIR</c>, 0700 and its own: the engine's socket is there, and a lab host's runtime folder can be.</summary>
    public static string RootlessRunDirectory { get; } = RootlessIds is { } ids
        ? $"/run/user/{ids.Uid.ToString(System.Globalization.CultureInfo.InvariantCulture)}"
        : $"/nonexistent/{RootlessUser}";

    public static string RootlessSocket => Path.Combine(RootlessRunDirectory, "docker.sock");

    /// <summary>The rootless engine, as <c>DOCKER_HOST</c> names it.</summary>
    public static string RootlessEndpoint => "unix://" + RootlessSocket;

    private static readonly Lazy<string?> RootlessMissing = new(() => FindMissingImage(Engine.DockerRootless, "scripts/docker-rootless-up.sh",
        RootlessIds is null ? $"no user {RootlessUser}"
        : Native.geteuid() != 0 ? $"the rootless engine's tests run a lab host as {RootlessUser}, which needs root"
        : CannotConnect(RootlessSocket)));

    private static readonly Lazy<string?> TlsMissing = new(() => FindMissingImage(Engine.DockerTls, "scripts/docker-tls-up.sh",
        File.Exists(Path.Combine(TlsCertPath, "key.pem")) ? null : $"no client certificate in {TlsCertPath}"));

    private static readonly Lazy<string?> PodmanMissing = new(() => FindMissingImage(Engine.Podman, "scripts/podman-up.sh",
        !File.Exists(PodmanClient) ? $"{PodmanClient} is missing" : CannotConnect(PodmanSocket)));

    public static void Require() => SkipOrFail(Missing.Value);

    /// <summary>The Engine API exec client as scripts/install-exec-client.sh installs it (<c>TTYDPORTS_EXEC_CLIENT</c> moves both).</summary>
    public static string ExecClient { get; } = Environment.GetEnvironmentVariable("TTYDPORTS_EXEC_CLIENT") is { Length: > 0 } client ? client : "/usr/local/lib/ttydports/ttydports-exec";

    /// <summary>What <see cref="Require"/> checks, and the exec client (scripts/install-exec-client.sh).</summary>
    public static void RequireExecClient()
    {
        Require();
        SkipOrFail(File.Exists(ExecClient) ? null : $"the exec client {ExecClient} is missing (scripts/install-exec-client.sh builds it)");
    }

    /// <summary>What <see cref="Require"/> checks, and the TLS engine with the test image (scripts/docker-tls-up.sh).</summary>
    public static void RequireTlsEngine()
    {
        Require();
        SkipOrFail(TlsMissing.Value);
    }

    /// <summary>
    /// What <see cref="Require"/> checks, and the rootless engine run by <see cref="RootlessUser"/> with the test image
    /// (scripts/docker-rootless-up.sh); the tests run as root, to start a lab host as that user.
    /// </summary>
    public static void RequireRootlessEngine()
    {
        Require();
        SkipOrFail(RootlessMissing.Value);
    }

    /// <summary>What <see cref="Require"/> checks, and Podman's API service with the test image (scripts/podman-up.sh).</summary>
    public static void RequirePodman()
    {
        Require();
        SkipOrFail(PodmanMissing.Value);
    }

    /// <summary>Tests that need root: skipped for a developer who runs them as another user, a failure under CI=true.</summary>
    public static void RequireRoot(string why)
    {
        if (Native.geteuid() != 0)
        {
            SkipOrFail(why, $"CI=true and the tests do not run as root: {why}.");
        }
    }

    private static void SkipOrFail(string? reason) =>
        SkipOrFail(reason, $"CI=true and a real part is missing: {reason}. Run scripts/test.sh, which installs and starts them.");

    // Under CI=true nothing the suite needs may be missing: a skip there would hide it.
    private static void SkipOrFail(string? reason, string ciFailure)
    {
        if (reason is not null)
        {
            if (string.Equals(Environment.GetEnvironmentVariable("CI"), "true", StringComparison.OrdinalIgnoreCase))
            {
                throw new InvalidOperationException(ciFailure);
            }

            Assert.Skip(reason);
        }
    }

    private static (uint Uid, uint Gid)? FindUser(string name)
    {
        // /etc/passwd: NAME:x:UID:GID:... (the tests' users are local ones).
        foreach (var line in File.Exists("/etc/passwd") ? File.ReadLines("/etc/passwd") : [])
        {
            if (line.Split(':') is [var user, _, var uid, var gid, ..] && user == name)
            {
                return (uint.Parse(uid, System.Globalization.CultureInfo.InvariantCulture), uint.Parse(gid, System.Globalization.CultureInfo.InvariantCulture));
            }
        }

        return null;
    }

    private static string? CannotConnect(string socketPath)
    {
        try
        {
            using var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
            socket.Connect(new UnixDomainSocketEndPoint(socketPath));
            return null;
        }
        catch (SocketException e)
        {
            return $"nothing answers on {socketPath} ({e.Message})";
        }
    }

    private static string? FindMissingImage(Engine engine, string script, string? missing)
    {
        if (missing is null && engine.Run("version") is { ExitCode: not 0 } version)
        {
            missing = $"the engine does not answer: {version.Output}";
        }

        if (missing is null && engine.Run("image", "inspect", Image) is { ExitCode: not 0 } image)
        {
            missing = $"the image {Image} is missing: {image.Output}";
        }

        return missing is null ? null : $"{engine.Name}: {missing} ({script} starts it)";
    }

    private static string? FindMissing()
    {
        if (!(Environment.GetEnvironmentVariable("PATH") ?? "").Split(':').Any(dir => File.Exists(Path.Combine(dir, "ttyd"))))
        {
            return "ttyd is not on PATH (scripts/install-ttyd.sh installs it)";
        }

        if (!(Environment.GetEnvironmentVariable("PATH") ?? "").Split(':').Any(dir => File.Exists(Path.Combine(dir, "tmux"))))
        {
            return "tmux is not on PATH (scripts/install-tmux.sh installs it; persistent shells need it)";
        }

        try
        {
            using var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
            socket.Connect(new UnixDomainSocketEndPoint("/var/run/docker.sock"));
        }
        catch (SocketException e)
        {
            return $"no Docker engine answers on /var/run/docker.sock ({e.Message}; scripts/docker-up.sh starts one)";
        }

        var (code, output) = Run(DockerClient, "image", "inspect", Image);
        return code == 0 ? null : $"the image {Image} is missing (scripts/docker-up.sh builds it): {output}";
    }

    // The longest a command of a test may take (container starts and removals, execs, image checks take seconds).
    private static readonly TimeSpan RunTimeout = TimeSpan.FromMinutes(3);

    public static (int ExitCode, string Output) Run(string file, params string[] arguments) => Run(file, arguments, null);

    /// <summary>Runs <paramref name="file"/>, with <paramref name="environment"/> set over this process's (a null value removes a variable).</summary>
    public static (int ExitCode, string Output) Run(string file, IEnumerable<string> arguments, IReadOnlyDictionary<string, string?>? environment)
    {
        var start = new ProcessStartInfo(file) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        foreach (var (name, value) in environment ?? new Dictionary<string, string?>())
        {
            if (value is null)
            {
                start.Environment.Remove(name);
            }
            else
            {
                start.Environment[name] = value;
            }
        }

        using var process = Process.Start(start)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();

        // A hung engine (Docker 20.10 can deadlock: moby#46661) fails the test that waits on it instead of the whole run.
        if (!process.WaitForExit(RunTimeout))
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"{file} {string.Join(' ', start.ArgumentList)} did not finish within {RunTimeout.TotalMinutes} minutes; the engine it talks to may be hung.");
        }

        process.WaitForExit(); // the output's end
        return (process.ExitCode, (stdout.Result + stderr.Result).Trim());
    }

    /// <summary>Starts a test container (busybox image, no network, labelled as a test container, hostname = name).</summary>
    public static string StartContainer(string name, params string[] command) => Engine.Docker.StartContainer(name, command);

    /// <summary>Removes test containers, whatever state they are in.</summary>
    public static void RemoveContainers(IEnumerable<string> names) => Engine.Docker.RemoveContainers(names);

    public static string Docker(params string[] arguments)
    {
        var (code, output) = Run(DockerClient, arguments);
        return code == 0 ? output : throw new InvalidOperationException($"docker {string.Join(' ', arguments)} failed ({code}): {output}");
    }
}
