using System.Diagnostics;
using System.Globalization;

namespace TtydPorts.IntegrationTests;

/// <summary>
/// Rootless Docker, for real (issue 13): the engine scripts/docker-rootless-up.sh starts as the unprivileged user
/// <see cref="RealParts.RootlessUser"/>, and a lab host run as that user (the tool test host, started with setpriv),
/// which reaches the engine through its own socket, <c>/run/user/UID/docker.sock</c>. The tests themselves run as root,
/// to start that host and to look at its processes.
/// </summary>
[Collection(RealPartsCollection.Name)]
public sealed class RootlessDockerTests
{
    private const string Range = "18940-18949";

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private static string TestHostDll { get; } = Path.Combine(AppContext.BaseDirectory, "TtydPorts.Tool.TestHost.dll");

    private static string Dotnet { get; } = Environment.ProcessPath is { } p && Path.GetFileNameWithoutExtension(p) == "dotnet" ? p : "dotnet";

    [Fact]
    public async Task A_lab_host_run_by_the_rootless_user_opens_a_terminal_in_a_rootless_container_and_its_stop_leaves_no_shell_there()
    {
        Engine.DockerRootless.Require();
        var (uid, _) = RealParts.RootlessIds!.Value;
        using var lab = ContainerLab.On(Engine.DockerRootless);
        var node = lab.StartContainer();

        // A decoy of the same name on the main (rootful) engine, with another hostname: the session must reach the
        // rootless engine's container, not the one the default socket would give.
        using var main = new ContainerLab();
        Engine.Docker.Cli("run", "-d", "--label", RealParts.TestLabel, "--name", node, "--hostname", "rootful-decoy", "--network", "none", RealParts.Image, "sleep", "3600");
        main.Track(node);

        // Rootless for real: the container's processes run as the user on the host; control: the rootful decoy's as root.
        Assert.Equal(uid, HostUid(ContainerPid(Engine.DockerRootless, node)));
        Assert.Equal(0u, HostUid(ContainerPid(Engine.Docker, node)));

        var instance = "itest-rl-" + Guid.NewGuid().ToString("N")[..8];
        var runtime = Path.Combine(RealParts.RootlessRunDirectory, instance); // under the user's own 0700 XDG_RUNTIME_DIR
        string[] hostArguments = ["--instance", instance, "--range", Range, "--runtime", runtime, "--docker-endpoint", RealParts.RootlessEndpoint];
        using var supervisor = new LinuxProcessSupervisor();
        try
        {
            Assert.Empty(Marked(node)); // control: no terminal's shell in the container before the session

            var started = await RunAsRootlessUserAsync([TestHostDll, .. hostArguments, "--print-url", $"{node}:alice"]);
            Assert.True(started.ExitCode == 0, started.ToString());
            var lines = started.Output.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
            var session = Assert.Single(lines, l => l.StartsWith("session ", StringComparison.Ordinal)).Split(' ');
            Assert.Equal(node, session[1]);
            var ttydPid = int.Parse(session[3], CultureInfo.InvariantCulture);
            var url = new Uri(Assert.Single(lines, l => l.StartsWith($"url {node} ", StringComparison.Ordinal)).Split(' ', 3)[2]);

            // ttyd, and every process of the instance (its tmux server, the docker client), run as the rootless user;
            // control: the same read of this test process gives root.
            Assert.Equal(uid, HostUid(ttydPid));
            var processes = supervisor.FindMarkedProcesses("TTYDPORTS_", "TTYDPORTS_INSTANCE", instance);
            Assert.Contains(processes, m => m.Process.ProcessId == ttydPid);
            Assert.All(processes, m => Assert.Equal(uid, HostUid(m.Process.ProcessId)));
            Assert.Equal(0u, HostUid(Environment.ProcessId));

            // The terminal is a shell in the rootless engine's container: its hostname, as the container's root.
            await using (var client = await TtydClient.ConnectAsync(url, Ct))
            {
                await client.TypeAsync("echo in-$(hostname)-as-$(id -u)\r", Ct);
                await client.WaitForAsync($"in-{node}-as-0", Poll.Within(30));
                Assert.DoesNotContain("rootful-decoy", client.Screen, StringComparison.Ordinal);
            }

            // Its shell, marked, inside the container (a process that just ended can linger a moment in /proc: poll).
            await Poll.UntilAsync(() => Marked(node).Length == 1, Poll.Within(10));

            // The lab host (as the user again) adopts and stops its sessions: nothing of the terminal stays in the container.
            var stopped = await RunAsRootlessUserAsync([TestHostDll, "--cleanup", .. hostArguments]);
            Assert.True(stopped.ExitCode == 0, stopped.ToString());
            Assert.Contains("stopped 1", stopped.Output, StringComparison.Ordinal);
            await Poll.UntilAsync(() => Marked(node).Length == 0, Poll.Within(10));
            Assert.Contains("sleep 3600", Engine.DockerRootless.Cli("exec", node, "ps"), StringComparison.Ordinal); // control: the container runs on
            Assert.Empty(supervisor.FindMarkedProcesses("TTYDPORTS_", "TTYDPORTS_INSTANCE", instance));
            Assert.False(supervisor.IsAlive(processes.Single(m => m.Process.ProcessId == ttydPid).Process));

            // The session's files are gone; the instance key stays, by design, for the next run to verify its markers.
            Assert.DoesNotContain(Directory.GetFiles(runtime), f => !f.EndsWith(".key", StringComparison.Ordinal));
        }
        finally
        {
            // On failure: nothing of the instance may outlive the test.
            foreach (var left in supervisor.FindMarkedProcesses("TTYDPORTS_", "TTYDPORTS_INSTANCE", instance))
            {
                await supervisor.StopAsync(left.Process, TimeSpan.FromSeconds(1), CancellationToken.None);
            }

            if (Directory.Exists(runtime))
            {
                Directory.Delete(runtime, recursive: true);
            }
        }
    }

    // The terminal's shell runs as the container's root: that user can read its environment without CAP_SYS_PTRACE.
    private static string[] Marked(string container) =>
        Engine.DockerRootless.Cli("exec", "-u", "0", container, "sh", "-c", RuntimeTests.MarkedProcesses)
            .Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);

    private static int ContainerPid(Engine engine, string container) =>
        int.Parse(engine.Cli("inspect", "--format", "{{.State.Pid}}", container), CultureInfo.InvariantCulture);

    /// <summary>The real uid of a host process, from <c>/proc/PID/status</c>.</summary>
    private static uint HostUid(int pid) =>
        uint.Parse(File.ReadLines($"/proc/{pid}/status").First(l => l.StartsWith("Uid:", StringComparison.Ordinal))
            .Split('\t', StringSplitOptions.RemoveEmptyEntries)[1], CultureInfo.InvariantCulture);

    /// <summary>
    /// Runs <c>dotnet ARGUMENTS</c> as the rootless user (setpriv: its uid, gid and groups, no root process above it) with
    /// the environment a login of that user would have: its HOME and XDG_RUNTIME_DIR, nothing of root's.
    /// </summary>
    private static async Task<HostRun> RunAsRootlessUserAsync(string[] arguments)
    {
        var (uid, gid) = RealParts.RootlessIds!.Value;
        var start = new ProcessStartInfo("setpriv", [$"--reuid={uid}", $"--regid={gid}", "--init-groups", "--", Dotnet, .. arguments])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            WorkingDirectory = RealParts.RootlessHome,
        };
        start.Environment.Clear();
        start.Environment["PATH"] = Environment.GetEnvironmentVariable("PATH") ?? "/usr/local/bin:/usr/bin:/bin";
        start.Environment["HOME"] = RealParts.RootlessHome;
        start.Environment["USER"] = start.Environment["LOGNAME"] = RealParts.RootlessUser;
        start.Environment["XDG_RUNTIME_DIR"] = RealParts.RootlessRunDirectory;
        start.Environment["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1";
        start.Environment["DOTNET_NOLOGO"] = "1";

        using var process = Process.Start(start)!;
        process.StandardInput.Close();
        var stdout = process.StandardOutput.ReadToEndAsync(Ct);
        var stderr = process.StandardError.ReadToEndAsync(Ct);
        await process.WaitForExitAsync(Poll.Within(120));
        return new HostRun(process.ExitCode, await stdout, await stderr);
    }

    private sealed record HostRun(int ExitCode, string Output, string Error)
    {
        public override string ToString() => $"exit {ExitCode}\n--- stdout ---\n{Output}\n--- stderr ---\n{Error}";
    }
}
