using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace TtydPorts.IntegrationTests;

[Collection(RealPartsCollection.Name)]
public sealed class SessionLifecycleTests(ContainerLab lab)
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;


    [Fact]
    public async Task A_terminal_runs_commands_in_its_container_over_ttyds_websocket()
    {
        var container = lab.StartContainer();
        await using var sut = new ManagerUnderTest(18000, 18009);

        var session = await sut.Manager.EnsureSessionAsync(container, "alice", "topo1", Ct);

        Assert.NotNull(session);
        await using var client = await TtydClient.ConnectAsync(session.GetUrl(), Ct);
        await client.TypeAsync("echo hello-$((6*7)) from $(hostname)\r", Ct);
        await client.WaitForAsync($"hello-42 from {container}", Poll.Within(30));
    }

    [Fact]
    public async Task The_same_container_gets_the_same_port_and_pid_until_its_ttyd_is_killed()
    {
        var container = lab.StartContainer();
        await using var sut = new ManagerUnderTest(18010, 18019);

        var first = await sut.Manager.EnsureSessionAsync(container, "alice", null, Ct);
        var second = await sut.Manager.EnsureSessionAsync(container, "alice", null, Ct);
        Assert.Equal((first!.Port, first.ProcessId), (second!.Port, second.ProcessId));

        using (var ttyd = Process.GetProcessById(first.ProcessId))
        {
            ttyd.Kill(); // SIGKILL
        }

        await Poll.UntilAsync(() => !sut.Supervisor.IsAlive(first.Process), Poll.Within(10));

        var third = await sut.Manager.EnsureSessionAsync(container, "alice", null, Ct);
        Assert.NotEqual(first.ProcessId, third!.ProcessId);
        Assert.True(sut.Supervisor.IsAlive(third.Process));
        Assert.Equal([third.ProcessId], sut.TtydProcesses().Select(p => p.Process.ProcessId));
    }

    // Socket mode starts ttyd on the guess; direct mode prepares the start on it and spawns after the answer.
    [Theory]
    [InlineData(TtydListenMode.UnixSocket)]
    [InlineData(TtydListenMode.Tcp)]
    public async Task A_container_replaced_under_its_name_between_two_creates_gets_its_terminal_in_the_new_one_and_nothing_runs_for_the_old(TtydListenMode mode)
    {
        var container = lab.StartContainer();
        var logs = new CapturedLogs();
        await using var sut = new ManagerUnderTest(18900, 18904, o => (o.ListenMode, o.BasePath) = (mode, "/terminals"), services: s => s.AddSingleton<ILoggerProvider>(logs));
        var first = await sut.Manager.EnsureSessionAsync(container, "alice", null, Ct);
        await sut.Manager.DeleteNodeAsync(container, Ct);

        // The lab redeployed: the same name, another container. The manager's guess is still the old one.
        ContainerLab.RemoveContainer(container);
        lab.StartContainer(container, "sleep", "3600");
        RealParts.Docker("exec", container, "sh", "-c", "echo second-$((1+1)) > /generation");
        var id = RealParts.Docker("inspect", "-f", "{{.Id}}", container).Trim();

        var second = await sut.Manager.EnsureSessionAsync(container, "alice", null, Ct);

        Assert.Equal(id, second!.ContainerId);
        Assert.NotEqual(first!.ContainerId, second.ContainerId);
        Assert.Contains($"no longer the running container {first.ContainerId}", logs.Text, StringComparison.Ordinal); // the guess was taken, and refused
        Assert.Equal([second.ProcessId], sut.TtydProcesses().Select(p => p.Process.ProcessId));
        var ws = new Uri(second.SocketPath is null ? $"ws://127.0.0.1:{second.Port}{second.BasePath}/ws" : $"ws://localhost/terminals/{container}/ws");
        await using var client = await TtydClient.ConnectAsync(ws, second.Credential, second.SocketPath, $"http://{ws.Authority}", Ct);
        await client.TypeAsync("cat /generation\r", Ct);
        await client.WaitForAsync("second-2", Poll.Within(30));
    }

    [Fact]
    public async Task A_container_stopped_since_it_was_last_seen_running_is_refused_at_its_next_create_and_leaves_nothing()
    {
        var container = lab.StartContainer();
        var logs = new CapturedLogs();
        await using var sut = new ManagerUnderTest(18905, 18909, o => o.ListenMode = TtydListenMode.UnixSocket, services: s => s.AddSingleton<ILoggerProvider>(logs));
        var first = await sut.Manager.EnsureSessionAsync(container, "alice", null, Ct);
        await sut.Manager.DeleteNodeAsync(container, Ct);
        var again = await sut.Manager.EnsureSessionAsync(container, "alice", null, Ct);
        await sut.Manager.DeleteNodeAsync(container, Ct);

        // Stopped since: the next create is refused, though the manager last saw it running.
        RealParts.Docker("stop", "-t", "0", container);
        var error = await Assert.ThrowsAsync<ContainerNotFoundException>(() => sut.Manager.EnsureSessionAsync(container, "alice", null, Ct).AsTask());

        Assert.Equal(first!.ContainerId, again!.ContainerId);
        Assert.Contains(container, error.Message, StringComparison.Ordinal);
        Assert.Contains($"no longer the running container {first.ContainerId}", logs.Text, StringComparison.Ordinal); // the guess was taken, and refused
        Assert.Empty(sut.TtydProcesses());
        var folder = Path.GetDirectoryName(first.SocketPath)!;
        Assert.Empty(Directory.EnumerateFiles(folder, "*.sock").Concat(Directory.EnumerateFiles(folder, "*.log")));
    }

    [Fact]
    public async Task Sixty_four_concurrent_calls_for_eight_containers_start_exactly_eight_ttyd()
    {
        var containers = Enumerable.Range(0, 8).Select(_ => lab.StartContainer()).ToArray();
        await using var sut = new ManagerUnderTest(18020, 18059);

        var calls = Enumerable.Range(0, 64)
            .Select(i => Task.Run(() => sut.Manager.EnsureSessionAsync(containers[i % 8], "alice", "t", Ct).AsTask(), Ct))
            .ToArray();
        var sessions = await Task.WhenAll(calls);

        Assert.Equal(8, sessions.Select(s => s!.ProcessId).Distinct().Count());
        Assert.Equal(8, sessions.Select(s => s!.Port).Distinct().Count());
        Assert.Equal(8, sut.TtydProcesses().Count);
        Assert.Equal(8, sut.Manager.GetStatus().ActiveSessions);
    }

    [Fact]
    public async Task A_range_of_three_with_one_port_held_by_a_foreign_listener_gives_two_sessions_then_null()
    {
        var containers = Enumerable.Range(0, 3).Select(_ => lab.StartContainer()).ToArray();
        using var foreign = new TcpListener(IPAddress.Loopback, 18061);
        foreign.Start();
        await using var sut = new ManagerUnderTest(18060, 18062);

        var a = await sut.Manager.EnsureSessionAsync(containers[0], "alice", null, Ct);
        var b = await sut.Manager.EnsureSessionAsync(containers[1], "alice", null, Ct);
        var c = await sut.Manager.EnsureSessionAsync(containers[2], "alice", null, Ct);

        Assert.Equal([18060, 18062], new[] { a!.Port, b!.Port }.Order());
        Assert.Null(c);
        Assert.Equal(2, sut.TtydProcesses().Count);
    }

    [Fact]
    public async Task Removing_a_container_lets_orphan_cleanup_stop_its_session_and_free_its_port()
    {
        var kept = lab.StartContainer();
        var removed = lab.StartContainer();
        await using var sut = new ManagerUnderTest(18070, 18079);
        var keptSession = await sut.Manager.EnsureSessionAsync(kept, "alice", null, Ct);
        var removedSession = await sut.Manager.EnsureSessionAsync(removed, "alice", null, Ct);

        ContainerLab.RemoveContainer(removed);
        var result = await sut.Manager.CleanupOrphansAsync(Ct);

        Assert.Equal([removed], result.Stopped.Select(s => s.Container));
        Assert.False(sut.Supervisor.IsAlive(removedSession!.Process));
        Assert.False(ManagerUnderTest.IsListening(removedSession.Port));
        Assert.True(sut.Ports.TryAcquire(removedSession.Port));
        Assert.Equal([kept], sut.Manager.GetStatus().Containers);
        Assert.True(sut.Supervisor.IsAlive(keptSession!.Process));
    }

    [Fact]
    public async Task User_topology_and_node_cleanups_stop_exactly_their_sessions()
    {
        var c = Enumerable.Range(0, 5).Select(_ => lab.StartContainer()).ToArray();
        await using var sut = new ManagerUnderTest(18080, 18089);
        var alice = await sut.Manager.EnsureSessionAsync(c[0], "alice", "t-alice", Ct);
        var alice1 = await sut.Manager.EnsureSessionAsync(c[1], "alice1", "t-alice1", Ct);
        var topoA = await sut.Manager.EnsureSessionAsync(c[2], "bob", "t-bob", Ct);
        var topoB = await sut.Manager.EnsureSessionAsync(c[3], "bob", "t-bob", Ct);
        var node = await sut.Manager.EnsureSessionAsync(c[4], "carol", null, Ct);

        var user = await sut.Manager.CleanupUserAsync("alice", Ct);
        Assert.Equal([c[0]], user.Stopped.Select(s => s.Container));
        Assert.False(sut.Supervisor.IsAlive(alice!.Process));
        Assert.True(sut.Supervisor.IsAlive(alice1!.Process));

        var topology = await sut.Manager.ClearTopologyAsync("t-bob", Ct);
        Assert.Equal([c[2], c[3]], topology.Stopped.Select(s => s.Container).Order());
        Assert.False(sut.Supervisor.IsAlive(topoA!.Process) || sut.Supervisor.IsAlive(topoB!.Process));

        var deleted = await sut.Manager.DeleteNodeAsync(c[4], Ct);
        Assert.Equal([c[4]], deleted.Stopped.Select(s => s.Container));
        Assert.False(sut.Supervisor.IsAlive(node!.Process));

        Assert.Equal([alice1.ProcessId], sut.TtydProcesses().Select(p => p.Process.ProcessId));
    }

    [Fact]
    public async Task A_foreign_ttyd_survives_every_cleanup()
    {
        var container = lab.StartContainer();
        using var foreign = Process.Start(new ProcessStartInfo("ttyd", ["-p", "18099", "-i", "127.0.0.1", "sleep", "3600"]) { RedirectStandardError = true })!;
        try
        {
            await using var sut = new ManagerUnderTest(18090, 18098);
            await sut.Manager.EnsureSessionAsync(container, "alice", "t", Ct);

            await sut.Manager.CleanupUserAsync("alice", Ct);
            await sut.Manager.ClearTopologyAsync("t", Ct);
            await sut.Manager.DeleteNodeAsync(container, Ct);
            await sut.Manager.CleanupOrphansAsync(Ct);
            var all = await sut.Manager.CleanupAllAsync(Ct);

            Assert.Empty(all.Stopped);
            Assert.False(foreign.HasExited);
            Assert.Empty(sut.TtydProcesses());
        }
        finally
        {
            foreign.Kill();
            await foreign.WaitForExitAsync(Ct);
        }
    }

    [Theory]
    [InlineData("bad name", "alice")]
    [InlineData("x;reboot", "alice")]
    [InlineData("node", "../../etc")]
    [InlineData("", "alice")]
    public async Task Bad_names_are_refused_and_start_nothing(string container, string user)
    {
        await using var sut = new ManagerUnderTest(18100, 18104);

        var error = await Assert.ThrowsAsync<ArgumentException>(() => sut.Manager.EnsureSessionAsync(container, user, null, Ct).AsTask());

        Assert.Contains($"'{(SessionIds.IsValidContainerName(container) ? user : container)}'", error.Message, StringComparison.Ordinal);
        Assert.Empty(sut.TtydProcesses());
        Assert.Equal(0, sut.Ports.ReservedCount);
    }

    [Fact]
    public async Task A_container_that_does_not_exist_is_a_not_found_error_and_starts_nothing()
    {
        await using var sut = new ManagerUnderTest(18105, 18109);

        var error = await Assert.ThrowsAsync<ContainerNotFoundException>(() => sut.Manager.EnsureSessionAsync("tp-no-such-container", "alice", null, Ct).AsTask());

        Assert.Contains("'tp-no-such-container'", error.Message, StringComparison.Ordinal);
        Assert.Empty(sut.TtydProcesses());
    }

    [Fact]
    public async Task A_missing_ttyd_binary_is_a_start_error_that_names_it_and_keeps_no_port()
    {
        var container = lab.StartContainer();
        await using var sut = new ManagerUnderTest(18110, 18114, o => o.TtydPath = "/nonexistent/ttyd");

        var error = await Assert.ThrowsAsync<TtydStartException>(() => sut.Manager.EnsureSessionAsync(container, "alice", null, Ct).AsTask());

        Assert.Contains("'/nonexistent/ttyd'", error.Message, StringComparison.Ordinal);
        Assert.Equal(0, sut.Ports.ReservedCount);
    }

    [Fact]
    public async Task Stopping_a_session_with_a_connected_client_ends_ttyd_and_its_docker_exec_child()
    {
        var container = lab.StartContainer();
        await using var sut = new ManagerUnderTest(18115, 18119);
        var session = await sut.Manager.EnsureSessionAsync(container, "alice", null, Ct);
        await using var client = await TtydClient.ConnectAsync(session!.GetUrl(), Ct);
        await client.TypeAsync("echo ready-$((1+1))\r", Ct);
        await client.WaitForAsync("ready-2", Poll.Within(30));
        var children = sut.Supervisor.FindMarkedProcesses("TTYDPORTS_", "TTYDPORTS_SESSION", sut.TtydProcesses().Single().Markers["TTYDPORTS_SESSION"]);
        Assert.True(children.Count >= 2, "ttyd and its docker exec client carry the session marker");

        await sut.Manager.DeleteNodeAsync(container, Ct);

        Assert.All(children, c => Assert.False(sut.Supervisor.IsAlive(c.Process)));
    }
}
