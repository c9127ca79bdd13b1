using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Time.Testing;

namespace TtydPorts.IntegrationTests;

[Collection(RealPartsCollection.Name)]
public sealed class LifecycleTests(ContainerLab lab)
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;


    private static object Describe(TtydStatus status) =>
        string.Join("; ", status.Sessions.Select(s => $"{s.Session.Container} {s.Session.Port} {s.Session.ProcessId} {s.Session.UserId} {s.Session.TopologyId} {s.Healthy}"));

    [Fact]
    public async Task A_restarted_host_adopts_its_sessions_and_open_terminals_keep_working()
    {
        var c1 = lab.StartContainer();
        var c2 = lab.StartContainer();
        var first = new ManagerUnderTest(18200, 18209);
        var s1 = await first.Manager.EnsureSessionAsync(c1, "alice", "t1", Ct);
        await first.Manager.EnsureSessionAsync(c2, "bob", "t2", Ct);
        await using var client = await TtydClient.ConnectAsync(s1!.GetUrl(), Ct);
        await client.TypeAsync("echo before-$((40+2))\r", Ct);
        await client.WaitForAsync("before-42", Poll.Within(30));
        var before = first.Manager.GetStatus();

        await first.AbandonAsync();
        await using var second = new ManagerUnderTest(18200, 18209, instance: first.Instance);
        var after = second.Manager.GetStatus();

        Assert.Equal(Describe(before), Describe(after));
        Assert.Equal(2, after.ActiveSessions);
        await client.TypeAsync("echo after-$((50+5))\r", Ct);
        await client.WaitForAsync("after-55", Poll.Within(30));
        Assert.Equal(s1.ProcessId, (await second.Manager.EnsureSessionAsync(c1, "alice", "t1", Ct))!.ProcessId);
    }

    [Fact]
    public async Task Terminals_outlive_a_host_process_that_stops_gracefully_and_the_next_host_adopts_them()
    {
        var c1 = lab.StartContainer();
        var c2 = lab.StartContainer();
        var instance = "itest-" + Guid.NewGuid().ToString("N")[..8];
        var runtime = Path.Combine(Path.GetTempPath(), instance);
        using var host = Process.Start(new ProcessStartInfo("dotnet", [
            Path.Combine(AppContext.BaseDirectory, "TtydPorts.ConsoleSample.dll"), "--keep",
            $"--TtydPorts:InstanceName={instance}", "--TtydPorts:PortRangeStart=18280", "--TtydPorts:PortRangeEnd=18289",
            $"--TtydPorts:RuntimeDirectory={runtime}", c1, c2])
        { RedirectStandardOutput = true, RedirectStandardError = true })!;
        var urls = new Dictionary<string, Uri>();
        while (urls.Count < 2 && await host.StandardOutput.ReadLineAsync(Poll.Within(60)) is { } line)
        {
            // "<container>: <url> (ttyd pid N)"
            var parts = line.Split(' ');
            if (parts.Length >= 2 && parts[0].TrimEnd(':') is var name && (name == c1 || name == c2))
            {
                urls[name] = new Uri(parts[1]);
            }
        }

        Assert.Equal(2, urls.Count);
        await using var client = await TtydClient.ConnectAsync(urls[c1], Ct);
        await client.TypeAsync("echo before-$((40+2))\r", Ct);
        await client.WaitForAsync("before-42", Poll.Within(30));

        RealParts.Run("kill", "-TERM", host.Id.ToString(System.Globalization.CultureInfo.InvariantCulture)); // a graceful stop
        await host.WaitForExitAsync(Poll.Within(30));
        await using var next = new ManagerUnderTest(18280, 18289, instance: instance);
        var status = next.Manager.GetStatus();

        Assert.Equal(0, host.ExitCode);
        Assert.Equal([c1, c2], status.Containers.Order(StringComparer.Ordinal));
        Assert.Equal(2, status.ActiveSessions);
        Assert.Equal(urls[c1].Port, status.Sessions.Single(s => s.Session.Container == c1).Session.Port);
        Assert.All(status.Sessions, s => Assert.Equal(("demo-user", "demo-topology"), (s.Session.UserId, s.Session.TopologyId)));
        await client.TypeAsync("echo after-$((50+5))\r", Ct);
        await client.WaitForAsync("after-55", Poll.Within(30));
    }

    [Fact]
    public async Task Another_instance_on_the_same_machine_never_touches_these_sessions_or_their_ports()
    {
        var container = lab.StartContainer();
        await using var mine = new ManagerUnderTest(18220, 18221);
        await using var other = new ManagerUnderTest(18220, 18221);
        var session = await mine.Manager.EnsureSessionAsync(container, "alice", null, Ct);

        var stopped = await other.Manager.CleanupAllAsync(Ct);
        Assert.True(other.Ports.TryAcquire(out var port));

        Assert.Empty(stopped.Stopped);
        Assert.Empty(other.Manager.GetStatus().Sessions);
        Assert.NotEqual(session!.Port, port);
        Assert.True(mine.Supervisor.IsAlive(session.Process));
    }

    [Fact]
    public async Task A_host_killed_while_creating_leaves_nothing_that_the_next_host_does_not_adopt_or_reap()
    {
        var adopted = lab.StartContainer();
        var reaped = lab.StartContainer();
        var instance = "itest-" + Guid.NewGuid().ToString("N")[..8];
        var runtime = Path.Combine(Path.GetTempPath(), instance);

        // A host killed while its new ttyd is not ready yet: this one never listens (ttyd runs on without a listener when
        // its interface does not exist), so the host is certainly inside EnsureSessionAsync when it dies.
        using (var host = Process.Start(new ProcessStartInfo("dotnet", [
            Path.Combine(AppContext.BaseDirectory, "TtydPorts.ConsoleSample.dll"),
            $"--TtydPorts:InstanceName={instance}", "--TtydPorts:ExtraTtydArguments:0=-i", "--TtydPorts:ExtraTtydArguments:1=nosuchif0",
            "--TtydPorts:PortRangeStart=18230", "--TtydPorts:PortRangeEnd=18239", $"--TtydPorts:RuntimeDirectory={runtime}", reaped])
        { RedirectStandardOutput = true, RedirectStandardError = true })!)
        {
            var supervisor = new LinuxProcessSupervisor();
            await Poll.UntilAsync(() => supervisor.FindMarkedProcesses("TTYDPORTS_", "TTYDPORTS_INSTANCE", instance).Count > 0, Poll.Within(60));
            host.Kill(); // SIGKILL, in the middle of EnsureSessionAsync
            await host.WaitForExitAsync(Ct);
        }

        // And one that finished its start before its host went: the next host must adopt it, not reap it.
        var earlier = new ManagerUnderTest(18230, 18239, instance: instance);
        var kept = await earlier.Manager.EnsureSessionAsync(adopted, "alice", null, Ct);
        await earlier.AbandonAsync();

        await using var next = new ManagerUnderTest(18230, 18239, instance: instance);
        var repaired = await next.Manager.RepairAsync(Ct);
        var status = next.Manager.GetStatus();

        Assert.Equal([reaped], repaired.Stopped.Select(s => s.Container));
        Assert.Equal([adopted], status.Containers);
        Assert.True(status.Sessions.Single().Healthy);
        Assert.Equal(kept!.ProcessId, status.Sessions.Single().Session.ProcessId);
        Assert.Equal(status.Sessions.Select(s => s.Session.ProcessId), next.TtydProcesses().Select(p => p.Process.ProcessId));
    }

    [Fact]
    public async Task Stopping_a_session_ends_the_shell_and_commands_it_left_running_inside_the_container()
    {
        var container = lab.StartContainer();
        await using var sut = new ManagerUnderTest(18240, 18244);
        var session = await sut.Manager.EnsureSessionAsync(container, "alice", null, Ct);
        await using var client = await TtydClient.ConnectAsync(session!.GetUrl(), Ct);
        await client.TypeAsync("sleep 777\r", Ct);
        await Poll.UntilAsync(() => RealParts.Docker("top", container).Contains("sleep 777", StringComparison.Ordinal), Poll.Within(30));

        await sut.Manager.DeleteNodeAsync(container, Ct);

        await Poll.UntilAsync(() => !RealParts.Docker("top", container).Contains("sleep 777", StringComparison.Ordinal), Poll.Within(10));
        var left = RealParts.Docker("top", container, "-o", "pid,args");
        Assert.DoesNotContain("/bin/sh", left, StringComparison.Ordinal);
    }

    [Fact]
    public async Task An_idle_terminal_is_reaped_once_its_last_client_has_been_gone_for_the_timeout()
    {
        var container = lab.StartContainer();
        var time = new FakeTimeProvider(DateTimeOffset.UtcNow);
        await using var sut = new ManagerUnderTest(18245, 18249, o => o.IdleTimeout = TimeSpan.FromMinutes(5), services: s => s.TryAddSingleton<TimeProvider>(time));
        var session = await sut.Manager.EnsureSessionAsync(container, "alice", null, Ct);
        var client = await TtydClient.ConnectAsync(session!.GetUrl(), Ct);
        await client.TypeAsync("echo connected\r", Ct);
        await client.WaitForAsync("connected", Poll.Within(30));

        time.Advance(TimeSpan.FromMinutes(10));
        Assert.Empty((await sut.Manager.RepairAsync(Ct)).Stopped);

        await client.DisposeAsync();
        await Poll.UntilAsync(() => ListenerProbe.CountEstablishedConnections(sut.Ports.RangeStart, sut.Ports.RangeEnd).GetValueOrDefault(session.Port) == 0, Poll.Within(10));
        time.Advance(TimeSpan.FromMinutes(4));
        Assert.Empty((await sut.Manager.RepairAsync(Ct)).Stopped);
        time.Advance(TimeSpan.FromMinutes(2));
        var reaped = await sut.Manager.RepairAsync(Ct);

        Assert.Equal([container], reaped.Stopped.Select(s => s.Container));
        Assert.False(sut.Supervisor.IsAlive(session.Process));
    }

    [Fact]
    public async Task In_socket_mode_an_idle_terminal_is_reaped_once_its_last_client_has_been_gone_for_the_timeout()
    {
        var container = lab.StartContainer();
        var time = new FakeTimeProvider(DateTimeOffset.UtcNow);
        await using var sut = new ManagerUnderTest(18275, 18279, o => (o.IdleTimeout, o.ListenMode) = (TimeSpan.FromMinutes(5), TtydListenMode.UnixSocket), services: s => s.TryAddSingleton<TimeProvider>(time));
        var session = await sut.Manager.EnsureSessionAsync(container, "alice", null, Ct);
        var client = await TtydClient.ConnectAsync(new Uri("ws://localhost/ws"), session!.Credential, session.SocketPath, "http://localhost", Ct);
        await client.TypeAsync("echo connected\r", Ct);
        await client.WaitForAsync("connected", Poll.Within(30));

        time.Advance(TimeSpan.FromMinutes(10));
        Assert.Empty((await sut.Manager.RepairAsync(Ct)).Stopped);

        await client.DisposeAsync();
        await Poll.UntilAsync(() => ProcFs.CountUnixConnections().GetValueOrDefault(session.SocketPath!) == 0, Poll.Within(10));
        time.Advance(TimeSpan.FromMinutes(6));
        var reaped = await sut.Manager.RepairAsync(Ct);

        Assert.Equal([container], reaped.Stopped.Select(s => s.Container));
        Assert.False(sut.Supervisor.IsAlive(session.Process));
        Assert.False(File.Exists(session.SocketPath));
    }

    [Fact]
    public async Task A_container_recreated_under_the_same_name_is_never_reached_through_the_old_session()
    {
        var container = lab.StartContainer(lab.NextName(), "sh", "-c", "echo generation-1 > /tmp/gen; exec sleep 3600");
        await using var sut = new ManagerUnderTest(18250, 18254);
        var old = await sut.Manager.EnsureSessionAsync(container, "alice", null, Ct);
        await using (var before = await TtydClient.ConnectAsync(old!.GetUrl(), Ct))
        {
            await before.TypeAsync("cat /tmp/gen\r", Ct);
            await before.WaitForAsync("generation-1", Poll.Within(30)); // control: the old session reaches its container
        }

        ContainerLab.RemoveContainer(container);
        lab.StartContainer(container, "sh", "-c", "echo generation-2 > /tmp/gen; exec sleep 3600"); // someone else's, same name

        // The old ttyd still runs, but its terminal execs into the id it recorded, which is gone.
        await using (var after = await TtydClient.ConnectAsync(old.GetUrl(), Ct))
        {
            await Assert.ThrowsAnyAsync<Exception>(async () =>
            {
                await after.TypeAsync("cat /tmp/gen\r", Ct);
                await after.WaitForAsync("generation-2", Poll.Within(10));
            });
            Assert.DoesNotContain("generation-2", after.Screen, StringComparison.Ordinal);
        }

        // Why: its command names the id it recorded. (docker's "No such container" may be lost: ttyd drops the output of
        // a command that exits at once.)
        var command = File.ReadAllText($"/proc/{old.ProcessId}/cmdline").Split('\0');
        Assert.Contains(old.ContainerId, command);
        Assert.DoesNotContain(container, command);

        var repair = await sut.Manager.RepairAsync(Ct); // within the grace period: the other id is enough
        Assert.Equal([old.ProcessId], repair.Stopped.Select(s => s.ProcessId));
        Assert.False(sut.Supervisor.IsAlive(old.Process));

        var fresh = await sut.Manager.EnsureSessionAsync(container, "bob", null, Ct);
        Assert.NotEqual(old.ProcessId, fresh!.ProcessId);
        Assert.NotEqual(old.ContainerId, fresh.ContainerId);
        await using var client = await TtydClient.ConnectAsync(fresh.GetUrl(), Ct);
        await client.TypeAsync("cat /tmp/gen\r", Ct);
        await client.WaitForAsync("generation-2", Poll.Within(30));
    }

    [Fact]
    public async Task With_the_engine_stopped_new_sessions_fail_clearly_running_ones_go_on_and_all_recovers_when_it_is_back()
    {
        await using var engine = await SecondEngine.StartAsync(Ct);
        engine.Docker("run", "-d", "--name", "tp-eng-a", "--network", "none", RealParts.Image, "sleep", "3600");
        await using var sut = new ManagerUnderTest(18255, 18259, o => o.DockerEndpoint = engine.Endpoint);
        var running = await sut.Manager.EnsureSessionAsync("tp-eng-a", "alice", null, Ct);

        await engine.StopAsync();
        var error = await Assert.ThrowsAsync<ContainerEngineException>(() => sut.Manager.EnsureSessionAsync("tp-eng-b", "alice", null, Ct).AsTask());
        var reused = await sut.Manager.EnsureSessionAsync("tp-eng-a", "alice", null, Ct);
        var status = sut.Manager.GetStatus();
        var repair = await sut.Manager.RepairAsync(Ct);

        Assert.Contains(engine.Socket, error.Message, StringComparison.Ordinal);
        Assert.Equal(running!.ProcessId, reused!.ProcessId);
        Assert.Equal(1, status.ActiveSessions);
        Assert.Empty(repair.Stopped);

        await engine.StartAgainAsync(Ct);
        engine.Docker("run", "-d", "--name", "tp-eng-b", "--network", "none", RealParts.Image, "sleep", "3600");
        var recovered = await sut.Manager.EnsureSessionAsync("tp-eng-b", "alice", null, Ct);
        Assert.NotNull(recovered);
        await using var client = await TtydClient.ConnectAsync(recovered.GetUrl(), Ct);
        await client.TypeAsync("echo back-$((3*3))\r", Ct);
        await client.WaitForAsync("back-9", Poll.Within(30));
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task A_process_frozen_once_its_socket_accepts_is_not_ready_and_is_ended_while_a_running_one_is_ready(bool freeze)
    {
        // A shell whose child ttyd serves the socket, the shell stopped (SIGSTOP) or waiting: the kernel accepts connections
        // either way, so only the process's own state tells the frozen start apart.
        var folder = Directory.CreateTempSubdirectory("tp-frozen-start-");
        var socket = Path.Combine(folder.FullName, "t.sock");
        using var supervisor = new LinuxProcessSupervisor();
        var launch = new ProcessLaunch
        {
            FileName = "/bin/sh",
            // Frozen: the child starts ttyd only once the shell is stopped, so the socket never accepts while it runs.
            Arguments = ["-c", freeze
                ? $"(while ! grep -q '^State:[[:space:]]*T' /proc/$$/status; do :; done; exec ttyd -i '{socket}' -W cat) & kill -STOP $$; wait"
                : $"ttyd -i '{socket}' -W cat & wait"],
            ReadyEndpoint = new UnixDomainSocketEndPoint(socket),
            ReadyTimeout = TimeSpan.FromSeconds(3),
        };
        try
        {
            if (freeze)
            {
                ProcessLaunchException? error = null;
                try
                {
                    // Handed out by mistake: still stopped (thawed and ended) before the assertion fails.
                    await supervisor.StopAsync(await supervisor.StartAsync(launch, Ct), TimeSpan.Zero, Ct);
                }
                catch (ProcessLaunchException e)
                {
                    error = e;
                }

                Assert.NotNull(error);
                Assert.Equal(LaunchFailure.Timeout, error.Failure);
                Assert.Contains("was stopped (SIGSTOP)", error.Message, StringComparison.Ordinal);
            }
            else
            {
                var started = await supervisor.StartAsync(launch, Ct);
                Assert.True(supervisor.IsAlive(started) && !supervisor.IsStopped(started));
                await supervisor.StopAsync(started, TimeSpan.FromSeconds(2), Ct);
            }

            // Nothing of it is left: the shell and its ttyd (the failed start stops the whole tree, thawing it).
            await Poll.UntilAsync(() => !Directory.EnumerateDirectories("/proc").Any(d => Uses(d, socket)), Poll.Within(30));
        }
        finally
        {
            folder.Delete(recursive: true);
        }
    }

    // Whether the process of a /proc entry has the path on its command line (a process gone meanwhile has not).
    private static bool Uses(string procEntry, string path)
    {
        try
        {
            return File.ReadAllText(Path.Combine(procEntry, "cmdline")).Contains(path, StringComparison.Ordinal);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return false;
        }
    }

    [Fact]
    public async Task A_ttyd_that_is_not_executable_is_a_clear_error_at_first_use_and_in_status()
    {
        var container = lab.StartContainer();
        var fake = Path.GetTempFileName();
        try
        {
            await using var sut = new ManagerUnderTest(18260, 18264, o => o.TtydPath = fake);

            var error = await Assert.ThrowsAsync<TtydStartException>(() => sut.Manager.EnsureSessionAsync(container, "alice", null, Ct).AsTask());

            Assert.Contains($"'{fake}'", error.Message, StringComparison.Ordinal);
            Assert.Contains("ermission denied", error.Message, StringComparison.Ordinal);
            Assert.Equal(error.Message, sut.Manager.GetStatus().LastError);
            Assert.Equal(0, sut.Ports.ReservedCount);
        }
        finally
        {
            File.Delete(fake);
        }
    }

    [Fact]
    public async Task A_port_taken_between_the_probe_and_ttyds_bind_makes_the_manager_try_the_next_one()
    {
        var container = lab.StartContainer();
        var dir = Directory.CreateTempSubdirectory("tp-race-").FullName;
        try
        {
            RealParts.Run("mkfifo", Path.Combine(dir, "port"));
            RealParts.Run("mkfifo", Path.Combine(dir, "go"));
            var wrapper = Path.Combine(dir, "ttyd.sh");
            File.WriteAllText(wrapper, $"#!/bin/sh\nif [ ! -e '{dir}/raced' ]; then : > '{dir}/raced'; echo \"$2\" > '{dir}/port'; read ok < '{dir}/go'; fi\nexec ttyd \"$@\"\n");
            File.SetUnixFileMode(wrapper, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
            await using var sut = new ManagerUnderTest(18265, 18269, o => o.TtydPath = wrapper);
            using var foreign = new TcpListener(IPAddress.Loopback, 0);

            var ensure = sut.Manager.EnsureSessionAsync(container, "alice", null, Ct).AsTask();
            var racedPort = int.Parse((await File.ReadAllTextAsync(Path.Combine(dir, "port"), Poll.Within(30))).Trim(), System.Globalization.CultureInfo.InvariantCulture);
            using var thief = new TcpListener(IPAddress.Loopback, racedPort);
            thief.Start();
            await File.WriteAllTextAsync(Path.Combine(dir, "go"), "go\n", Ct);
            var session = await ensure;

            Assert.NotEqual(racedPort, session!.Port);
            Assert.Equal([session.ProcessId], sut.TtydProcesses().Select(p => p.Process.ProcessId));
            Assert.True(sut.Manager.GetStatus().Sessions.Single().Healthy);
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }
}
