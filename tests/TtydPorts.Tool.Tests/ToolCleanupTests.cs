using System.Text.RegularExpressions;
using System.Text.Json;
using TtydPorts.IntegrationTests;

namespace TtydPorts.Tool.Tests;

/// <summary>
/// The real tool, run as a process, against real ttyd sessions started through the library over real containers.
/// Every cleanup here is scoped with --instance to the test's own manager, so nothing of other people on this
/// machine is ever touched; the unscoped and --foreign modes run in a private PID namespace (see PidNamespaceTests).
/// </summary>
[Collection(ToolCollection.Name)]
public sealed class ToolCleanupTests(ToolLab lab)
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Default_cleanup_stops_only_the_session_whose_container_is_gone()
    {
        var kept = lab.StartContainer();
        var removed = lab.StartContainer();
        await using var foreign = await ForeignTtyd.StartAsync(20010, Ct);
        await using var sut = new ManagerUnderTest(20000, 20009);
        var keptSession = await sut.StartAsync(kept, "alice", "t1");
        var removedSession = await sut.StartAsync(removed, "alice", "t1");

        ToolLab.RemoveContainer(removed);
        var run = await TtydPortsTool.RunAsync("cleanup", "--instance", sut.Instance, "--range", sut.Range);

        Assert.True(run.ExitCode == 0, run.ToString());
        Assert.False(sut.IsAlive(removedSession), run.ToString());
        Assert.True(sut.IsAlive(keptSession), run.ToString());
        Assert.True(foreign.IsRunning);
        Assert.Contains("Port usage before:", run.Output, StringComparison.Ordinal);
        Assert.Contains("Port usage after:", run.Output, StringComparison.Ordinal);
        Assert.Contains($"session {removed} ", run.Output, StringComparison.Ordinal);
        Assert.DoesNotContain($"session {kept} ", run.Output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task User_topology_and_container_cleanups_stop_exactly_their_sessions()
    {
        var c = Enumerable.Range(0, 5).Select(_ => lab.StartContainer()).ToArray();
        await using var foreign = await ForeignTtyd.StartAsync(20030, Ct);
        await using var sut = new ManagerUnderTest(20020, 20029);
        var alice = await sut.StartAsync(c[0], "alice", "t1");
        var alice1 = await sut.StartAsync(c[1], "alice1", "t1");
        var bob = await sut.StartAsync(c[2], "bob", "t2");
        var carol = await sut.StartAsync(c[3], "carol");
        var dave = await sut.StartAsync(c[4], "dave", "t2");

        var user = await TtydPortsTool.RunAsync("cleanup", "--instance", sut.Instance, "--range", sut.Range, "--user", "alice");
        Assert.True(user.ExitCode == 0, user.ToString());
        Assert.Equal([false, true, true, true, true], new[] { alice, alice1, bob, carol, dave }.Select(sut.IsAlive));

        // Given together, the filters must all match: bob owns no session of topology t1.
        var none = await TtydPortsTool.RunAsync("cleanup", "--instance", sut.Instance, "--user", "bob", "--topology", "t1");
        Assert.True(none.ExitCode == 0, none.ToString());
        Assert.Contains("Nothing to stop.", none.Output, StringComparison.Ordinal);

        var topology = await TtydPortsTool.RunAsync("cleanup", "--instance", sut.Instance, "--topology", "t2");
        Assert.True(topology.ExitCode == 0, topology.ToString());
        Assert.Equal([false, true, false, true, false], new[] { alice, alice1, bob, carol, dave }.Select(sut.IsAlive));

        var container = await TtydPortsTool.RunAsync("cleanup", "--instance", sut.Instance, "--container", c[3]);
        Assert.True(container.ExitCode == 0, container.ToString());
        Assert.Equal([false, true, false, false, false], new[] { alice, alice1, bob, carol, dave }.Select(sut.IsAlive));
        Assert.True(foreign.IsRunning);
    }

    [Fact]
    public async Task All_with_an_instance_stops_every_session_of_that_instance_and_nothing_else()
    {
        var c = Enumerable.Range(0, 3).Select(_ => lab.StartContainer()).ToArray();
        await using var foreign = await ForeignTtyd.StartAsync(20050, Ct);
        await using var mine = new ManagerUnderTest(20040, 20044);
        await using var other = new ManagerUnderTest(20045, 20049);
        var a = await mine.StartAsync(c[0], "alice", "t1");
        var b = await mine.StartAsync(c[1], "bob");
        var kept = await other.StartAsync(c[2], "alice", "t1");

        var run = await TtydPortsTool.RunAsync("cleanup", "--all", "--instance", mine.Instance, "--range", "20040-20050", "--json");

        Assert.True(run.ExitCode == 0, run.ToString());
        Assert.False(mine.IsAlive(a) || mine.IsAlive(b), run.ToString());
        Assert.True(other.IsAlive(kept));
        Assert.True(foreign.IsRunning);
        using var json = JsonDocument.Parse(run.Output);
        Assert.Equal(2, json.RootElement.GetProperty("stopped").GetInt32());
        Assert.Equal(
            [a.ProcessId, b.ProcessId],
            json.RootElement.GetProperty("processes").EnumerateArray().Select(p => p.GetProperty("processId").GetInt32()).Order());
        Assert.Equal(3, json.RootElement.GetProperty("portsBefore").GetProperty("heldBySessions").GetInt32());
        Assert.Equal(1, json.RootElement.GetProperty("portsAfter").GetProperty("heldBySessions").GetInt32());
        Assert.Equal(1, json.RootElement.GetProperty("portsAfter").GetProperty("heldByOthers").GetInt32());
    }

    [Fact]
    public async Task All_stops_a_proxy_mode_session_and_leaves_no_socket_behind()
    {
        var container = lab.StartContainer();
        await using var sut = new ManagerUnderTest(20120, 20121, o => o.ListenMode = TtydListenMode.UnixSocket);
        var session = await sut.StartAsync(container, "alice");
        Assert.True(File.Exists(session.SocketPath));

        var run = await TtydPortsTool.RunAsync("cleanup", "--all", "--instance", sut.Instance);

        Assert.True(run.ExitCode == 0, run.ToString());
        Assert.False(sut.IsAlive(session));
        Assert.False(File.Exists(session.SocketPath), run.ToString());
    }

    [Fact]
    public async Task A_proxy_mode_session_shows_its_socket_and_no_port_in_status_and_cleanup()
    {
        var container = lab.StartContainer();
        await using var sut = new ManagerUnderTest(20150, 20151, o => o.ListenMode = TtydListenMode.UnixSocket);
        var session = await sut.StartAsync(container, "alice");

        var table = await TtydPortsTool.RunAsync("status", "--instance", sut.Instance);
        var json = await TtydPortsTool.RunAsync("status", "--instance", sut.Instance, "--json");
        var dryRun = await TtydPortsTool.RunAsync("cleanup", "--all", "--dry-run", "--instance", sut.Instance, "--json");
        var dryRunText = await TtydPortsTool.RunAsync("cleanup", "--all", "--dry-run", "--instance", sut.Instance);

        Assert.True(Regex.IsMatch(table.Output, $@"{container}\s+socket\s+{session.ProcessId}\s"), table.ToString());
        using var status = JsonDocument.Parse(json.Output);
        var listed = Assert.Single(status.RootElement.GetProperty("sessions").EnumerateArray());
        Assert.Equal((JsonValueKind.Null, JsonValueKind.Null, session.SocketPath), (
            listed.GetProperty("port").ValueKind, listed.GetProperty("address").ValueKind, listed.GetProperty("socket").GetString()));
        using var cleanup = JsonDocument.Parse(dryRun.Output);
        Assert.Equal(JsonValueKind.Null, Assert.Single(cleanup.RootElement.GetProperty("processes").EnumerateArray()).GetProperty("port").ValueKind);
        Assert.Contains($"session {container} (socket, user alice,", dryRunText.Output, StringComparison.Ordinal);
        Assert.DoesNotContain("port 0", dryRunText.Output, StringComparison.Ordinal);
        Assert.True(sut.IsAlive(session));
    }

    [Fact]
    public async Task Default_cleanup_leaves_healthy_proxy_sessions_alone_and_stops_a_frozen_one()
    {
        var c = Enumerable.Range(0, 2).Select(_ => lab.StartContainer()).ToArray();
        await using var sut = new ManagerUnderTest(20122, 20123, o => o.ListenMode = TtydListenMode.UnixSocket);
        var healthy = await sut.StartAsync(c[0], "alice");
        var frozen = await sut.StartAsync(c[1], "bob");
        Native.kill(frozen.ProcessId, 19); // SIGSTOP: alive and its socket still there, but it would never answer
        await Poll.UntilAsync(() => ProcFs.ReadStat(frozen.ProcessId)?.State == 'T', Poll.Within(10)); // the kernel stops it asynchronously

        var status = await TtydPortsTool.RunAsync("status", "--instance", sut.Instance);
        var run = await TtydPortsTool.RunAsync("cleanup", "--instance", sut.Instance);

        Assert.True(run.ExitCode == 0, run.ToString());
        Assert.True(Regex.IsMatch(status.Output, $@"{c[0]}\s.*\sok\b"), status.ToString());
        Assert.True(Regex.IsMatch(status.Output, $@"{c[1]}\s.*\sstopped\b"), status.ToString());
        Assert.True(sut.IsAlive(healthy), run.ToString());
        Assert.True(File.Exists(healthy.SocketPath));
        Assert.False(sut.IsAlive(frozen), run.ToString());
    }

    [Fact]
    public async Task Dry_run_lists_what_would_be_stopped_and_stops_nothing()
    {
        var c = Enumerable.Range(0, 2).Select(_ => lab.StartContainer()).ToArray();
        await using var sut = new ManagerUnderTest(20060, 20064);
        var a = await sut.StartAsync(c[0], "alice");
        var b = await sut.StartAsync(c[1], "bob");
        ToolLab.RemoveContainer(c[1]);

        var all = await TtydPortsTool.RunAsync("cleanup", "--all", "--dry-run", "--instance", sut.Instance);
        var orphans = await TtydPortsTool.RunAsync("cleanup", "--dry-run", "--instance", sut.Instance, "--json");

        Assert.True(all.ExitCode == 0, all.ToString());
        Assert.Contains("Would stop 2 ttyd processes:", all.Output, StringComparison.Ordinal);
        Assert.Contains("Dry run: nothing was stopped.", all.Output, StringComparison.Ordinal);
        Assert.True(orphans.ExitCode == 0, orphans.ToString());
        using var json = JsonDocument.Parse(orphans.Output);
        Assert.True(json.RootElement.GetProperty("dryRun").GetBoolean());
        var listed = Assert.Single(json.RootElement.GetProperty("processes").EnumerateArray());
        Assert.Equal(b.ProcessId, listed.GetProperty("processId").GetInt32());
        Assert.Equal("would-stop", listed.GetProperty("outcome").GetString());
        Assert.True(sut.IsAlive(a) && sut.IsAlive(b));
    }

    [Fact]
    public async Task Status_json_parses_and_shows_each_session_with_its_state()
    {
        var c = Enumerable.Range(0, 2).Select(_ => lab.StartContainer()).ToArray();
        await using var sut = new ManagerUnderTest(20070, 20074);
        var a = await sut.StartAsync(c[0], "alice", "t1");
        var b = await sut.StartAsync(c[1], "bob@example.org");
        ToolLab.RemoveContainer(c[1]);

        var run = await TtydPortsTool.RunAsync("status", "--instance", sut.Instance, "--json");
        var table = await TtydPortsTool.RunAsync("status", "--instance", sut.Instance);

        Assert.True(run.ExitCode == 0, run.ToString());
        using var json = JsonDocument.Parse(run.Output);
        Assert.Equal(2, json.RootElement.GetProperty("count").GetInt32());
        Assert.Equal(1, json.RootElement.GetProperty("orphans").GetInt32());
        var sessions = json.RootElement.GetProperty("sessions").EnumerateArray().ToDictionary(s => s.GetProperty("container").GetString()!);
        var first = sessions[c[0]];
        Assert.Equal((a.Port, a.ProcessId, "alice", "t1", sut.Instance, "ok", "running"), (
            first.GetProperty("port").GetInt32(), first.GetProperty("processId").GetInt32(), first.GetProperty("user").GetString(),
            first.GetProperty("topology").GetString(), first.GetProperty("instance").GetString(), first.GetProperty("state").GetString(),
            first.GetProperty("containerState").GetString()));
        var second = sessions[c[1]];
        Assert.Equal((b.ProcessId, JsonValueKind.Null, "orphan", "missing"), (
            second.GetProperty("processId").GetInt32(), second.GetProperty("topology").ValueKind,
            second.GetProperty("state").GetString(), second.GetProperty("containerState").GetString()));
        Assert.True(table.ExitCode == 0, table.ToString());
        Assert.Contains("CONTAINER", table.Output, StringComparison.Ordinal);
        Assert.Contains(c[0], table.Output, StringComparison.Ordinal);
        Assert.Contains("bob@example.org", table.Output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Status_shows_the_command_each_terminal_runs_in_the_table_and_the_json()
    {
        var c = Enumerable.Range(0, 2).Select(_ => lab.StartContainer()).ToArray();
        await using var sut = new ManagerUnderTest(20130, 20134);
        var command = new TerminalCommand { Arguments = ["sh", "-c", "exec sh", "a b"], User = "65534", WorkingDirectory = "/tmp", Environment = new Dictionary<string, string> { ["LAB_SECRET"] = "hunter2" } };
        await sut.Manager.EnsureSessionAsync(c[0], "alice", null, new TerminalRequest { Command = command }, Ct);
        await sut.StartAsync(c[1], "alice");

        var run = await TtydPortsTool.RunAsync("status", "--instance", sut.Instance, "--json");
        var table = await TtydPortsTool.RunAsync("status", "--instance", sut.Instance);

        Assert.True(run.ExitCode == 0, run.ToString());
        using var json = JsonDocument.Parse(run.Output);
        var sessions = json.RootElement.GetProperty("sessions").EnumerateArray().ToDictionary(s => s.GetProperty("container").GetString()!);
        var explicitCommand = sessions[c[0]].GetProperty("command");
        Assert.Equal(["sh", "-c", "exec sh", "a b"], explicitCommand.GetProperty("arguments").EnumerateArray().Select(a => a.GetString()));
        Assert.Equal(("65534", "/tmp", "LAB_SECRET"), (explicitCommand.GetProperty("user").GetString(), explicitCommand.GetProperty("workingDirectory").GetString(),
            explicitCommand.GetProperty("environmentNames").EnumerateArray().Single().GetString()));
        Assert.Equal(["/bin/sh"], sessions[c[1]].GetProperty("command").GetProperty("arguments").EnumerateArray().Select(a => a.GetString()));
        Assert.True(table.ExitCode == 0, table.ToString());
        Assert.Contains("COMMAND", table.Output, StringComparison.Ordinal);
        Assert.Contains("sh -c 'exec sh' 'a b' (user 65534) (in /tmp) (with LAB_SECRET)", table.Output, StringComparison.Ordinal);
        Assert.DoesNotContain("hunter2", run.Output + table.Output, StringComparison.Ordinal); // variable values may be secrets
    }

    [Fact]
    public async Task Ports_tells_free_ports_from_session_ports_and_a_foreign_listener()
    {
        var container = lab.StartContainer();
        await using var foreign = await ForeignTtyd.StartAsync(20083, Ct);
        await using var sut = new ManagerUnderTest(20080, 20082);
        var session = await sut.StartAsync(container, "alice");

        var json = await TtydPortsTool.RunAsync("ports", "--range", "20080-20084", "--json");
        var table = await TtydPortsTool.RunAsync("ports", "--range", "20080-20084");

        Assert.True(json.ExitCode == 0, json.ToString());
        using var document = JsonDocument.Parse(json.Output);
        Assert.Equal(3, document.RootElement.GetProperty("free").GetInt32());
        var used = document.RootElement.GetProperty("used").EnumerateArray().ToDictionary(u => u.GetProperty("port").GetInt32());
        Assert.Equal([session.Port, 20083], used.Keys.Order());
        Assert.Equal(("session", session.ProcessId, container, sut.Instance), (
            used[session.Port].GetProperty("heldBy").GetString(), used[session.Port].GetProperty("processId").GetInt32(),
            used[session.Port].GetProperty("container").GetString(), used[session.Port].GetProperty("instance").GetString()));
        Assert.Equal(("foreign", foreign.ProcessId), (used[20083].GetProperty("heldBy").GetString(), used[20083].GetProperty("processId").GetInt32()));
        Assert.Contains("ttyd -p 20083 -i 127.0.0.1 sleep 3600", used[20083].GetProperty("command").GetString(), StringComparison.Ordinal);
        Assert.True(table.ExitCode == 0, table.ToString());
        Assert.Contains("3 free, 1 held by TtydPorts sessions, 1 held by other processes", table.Output, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("bad;name", "cleanup", "--user", "bad;name")]
    [InlineData("../etc", "cleanup", "--container", "../etc")]
    [InlineData("-x", "cleanup", "--topology=-x")]
    [InlineData("a b", "status", "--instance", "a b")]
    [InlineData("9000-8000", "ports", "--range", "9000-8000")]
    [InlineData("0-10", "cleanup", "--range", "0-10")]
    [InlineData("80:90", "ports", "--range", "80:90")]
    [InlineData("localhost", "ports", "--bind", "localhost")]
    [InlineData("-1", "cleanup", "--grace=-1")]
    [InlineData("--all", "cleanup", "--all", "--user", "alice")]
    [InlineData("frobnicate", "frobnicate")]
    [InlineData("--force", "cleanup", "--force")]
    public async Task Bad_arguments_exit_2_with_a_message_naming_the_value(string named, params string[] arguments)
    {
        var run = await TtydPortsTool.RunAsync(arguments);

        Assert.True(run.ExitCode == 2, run.ToString());
        Assert.Contains(named, run.Error, StringComparison.Ordinal);
        Assert.Empty(run.Output);
    }

    [Fact]
    public async Task A_refused_command_stops_nothing()
    {
        var container = lab.StartContainer();
        await using var sut = new ManagerUnderTest(20090, 20094);
        var session = await sut.StartAsync(container, "alice");

        var run = await TtydPortsTool.RunAsync("cleanup", "--all", "--instance", sut.Instance, "--container", "bad/name");

        Assert.True(run.ExitCode == 2, run.ToString());
        Assert.True(sut.IsAlive(session));
    }

    [Theory]
    [InlineData]
    [InlineData("status")]
    [InlineData("ports")]
    [InlineData("cleanup")]
    public async Task Every_command_has_help(params string[] command)
    {
        var run = await TtydPortsTool.RunAsync([.. command, "--help"]);

        Assert.True(run.ExitCode == 0, run.ToString());
        Assert.Contains("Usage:", run.Output, StringComparison.Ordinal);
        Assert.Contains($"ttyd-ports {string.Join(' ', command)}".TrimEnd(), run.Output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_session_on_another_engine_is_never_an_orphan_of_this_one_and_its_own_engine_judges_it()
    {
        Engine.Podman.Require();
        using var podman = ContainerLab.On(Engine.Podman);
        var node = podman.StartContainer();
        await using var sut = new ManagerUnderTest(20060, 20064, o => (o.ContainerRuntime, o.PodmanEndpoint, o.PodmanPath) = (ContainerRuntimeKind.Podman, RealParts.PodmanEndpoint, RealParts.PodmanClient));
        var session = await sut.StartAsync(node, "alice", "t1");
        var podmanTool = new Dictionary<string, string> { ["CONTAINER_HOST"] = RealParts.PodmanEndpoint };

        // Docker's engine has no container of that name: yet the session is not its orphan.
        var status = await TtydPortsTool.RunAsync("status", "--instance", sut.Instance, "--json");
        var fromDocker = await TtydPortsTool.RunAsync("cleanup", "--instance", sut.Instance, "--range", sut.Range);
        Assert.True(fromDocker.ExitCode == 0, fromDocker.ToString());
        Assert.Contains("other-engine", status.Output, StringComparison.Ordinal);
        Assert.True(sut.IsAlive(session), fromDocker.ToString());

        // Its own engine keeps it while the container runs, and stops it once the container is gone.
        var kept = await TtydPortsTool.RunAsync(podmanTool, "--runtime", "podman", "cleanup", "--instance", sut.Instance, "--range", sut.Range);
        Assert.True(sut.IsAlive(session), kept.ToString());
        podman.Remove(node);
        var cleaned = await TtydPortsTool.RunAsync(podmanTool, "--runtime", "podman", "cleanup", "--instance", sut.Instance, "--range", sut.Range);
        Assert.True(cleaned.ExitCode == 0, cleaned.ToString());
        Assert.False(sut.IsAlive(session), cleaned.ToString());
        Assert.Contains("orphan: its container is gone", cleaned.Output, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("lxd")]
    [InlineData("1")] // an enum's number is no runtime's name
    [InlineData("0")]
    public async Task An_unknown_runtime_is_a_usage_error_naming_it(string runtime)
    {
        var run = await TtydPortsTool.RunAsync("--runtime", runtime, "status");

        Assert.Equal(2, run.ExitCode);
        Assert.Contains($"--runtime '{runtime}' is not a runtime", run.Error, StringComparison.Ordinal);
        Assert.Equal(0, (await TtydPortsTool.RunAsync("--runtime", "docker", "ports", "--range", "20065-20069")).ExitCode); // control
    }

    [Fact]
    public async Task Cleanup_also_ends_the_shell_the_terminal_left_inside_its_container()
    {
        var node = lab.StartContainer();
        await using var sut = new ManagerUnderTest(20070, 20074);
        await sut.StartAsync(node, "alice", "t1");
        var token = Assert.Single(sut.TtydProcesses()).Markers["TTYDPORTS_SESSION"];
        await Poll.UntilAsync(() => sut.Supervisor.FindMarkedProcesses("TTYDPORTS_", "TTYDPORTS_EXEC", token).Count > 0, Poll.Within(30)); // control: the shell runs

        var run = await TtydPortsTool.RunAsync("cleanup", "--all", "--instance", sut.Instance, "--range", sut.Range);

        Assert.True(run.ExitCode == 0, run.ToString());
        Assert.Empty(sut.TtydProcesses());
        await Poll.UntilAsync(() => sut.Supervisor.FindMarkedProcesses("TTYDPORTS_", "TTYDPORTS_EXEC", token).Count == 0, Poll.Within(10));
        Assert.Contains("sleep", RealParts.Docker("exec", node, "ps"), StringComparison.Ordinal); // the container itself runs on
    }
}
