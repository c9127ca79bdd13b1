using System.Diagnostics;
using System.Net.Sockets;

namespace TtydPorts.IntegrationTests;

/// <summary>
/// Finds the real ttyd and Docker engine. Where one is missing a test skips with the reason, except under
/// <c>CI=true</c>, where a missing part fails the run.
/// </summary>
public static class RealParts
{
    public const string Image = "ttydports/busybox:test";
    public const string TestLabel = "ttydports.test=1";

    private static readonly Lazy<string?> Missing = new(FindMissing);

    public static string DockerClient { get; } = File.Exists("/usr/bin/docker") ? "/usr/bin/docker" : "docker";

    public static void Require()
    {
        if (Missing.Value is { } reason)
        {
            if (string.Equals(Environment.GetEnvironmentVariable("CI"), "true", StringComparison.OrdinalIgnoreCase))
            {
                throw new InvalidOperationException($"CI=true and a real part is missing: {reason}. Run scripts/test.sh, which installs and starts them.");
            }

            Assert.Skip(reason);
        }
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

    public static (int ExitCode, string Output) Run(string file, params string[] arguments)
    {
        var start = new ProcessStartInfo(file) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        using var process = Process.Start(start)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        process.WaitForExit();
        return (process.ExitCode, (stdout.Result + stderr.Result).Trim());
    }

    /// <summary>Starts a test container (busybox image, no network, labelled as a test container, hostname = name).</summary>
    public static string StartContainer(string name, params string[] command)
    {
        Require();
        Docker(["run", "-d", "--label", TestLabel, "--name", name, "--hostname", name, "--network", "none", Image,
            .. command.Length > 0 ? command : ["sleep", "3600"]]);
        return name;
    }

    /// <summary>Removes test containers, whatever state they are in.</summary>
    public static void RemoveContainers(IEnumerable<string> names)
    {
        string[] all = [.. names];
        if (all.Length > 0)
        {
            Run(DockerClient, ["rm", "-f", .. all]);
        }
    }

    public static string Docker(params string[] arguments)
    {
        var (code, output) = Run(DockerClient, arguments);
        return code == 0 ? output : throw new InvalidOperationException($"docker {string.Join(' ', arguments)} failed ({code}): {output}");
    }
}
