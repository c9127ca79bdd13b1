using System.Diagnostics;
using System.Globalization;
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

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task A_host_killed_as_its_stop_ends_the_tmux_server_leaves_no_shell_in_the_container_and_no_session_file(bool execClient)
    {
        var container = lab.StartContainer();
        var instance = "itest-" + Guid.NewGuid().ToString("N")[..8];
        var runtime = Path.Combine(Path.GetTempPath(), instance);
        var supervisor = new LinuxProcessSupervisor();
        List<string> arguments = [Path.Combine(AppContext.BaseDirectory, "TtydPorts.ConsoleSample.dll"), $"--TtydPorts:InstanceName={instance}",
            "--TtydPorts:PortRangeStart=18290", "--TtydPorts:PortRangeEnd=18294", $"--TtydPorts:RuntimeDirectory={runtime}", container];
        if (execClient)
        {
            RealParts.RequireExecClient();
            arguments.Insert(1, $"--TtydPorts:ExecClientPath={RealParts.ExecClient}");
        }

        ManagerUnderTest? next = null;
        try
        {
            using (var host = Process.Start(new ProcessStartInfo("dotnet", arguments) { RedirectStandardOutput = true, RedirectStandardError = true })!)
            try
            {
                // The shell started with the session runs in the container once its tmux server is there.
                await Poll.UntilAsync(() => RealParts.Docker("top", container, "-o", "pid,args").Contains("/bin/sh", StringComparison.Ordinal), Poll.Within(60));
                var server = supervisor.FindMarkedProcesses("TTYDPORTS_", "TTYDPORTS_INSTANCE", instance).Single(p => p.ParentProcessId == 1 && p.ExecutablePath == Native.ResolveExecutable("tmux"));

                // The sample stops its terminals on SIGTERM; it is killed the moment that stop has ended the tmux server.
                RealParts.Run("kill", "-TERM", host.Id.ToString(CultureInfo.InvariantCulture));
                using var within = CancellationTokenSource.CreateLinkedTokenSource(Ct);
                within.CancelAfter(TimeSpan.FromSeconds(30));
                while (supervisor.IsAlive(server.Process))
                {
                    within.Token.ThrowIfCancellationRequested(); // a spin: the kill must come before the stop's next step
                }

                host.Kill();
                await host.WaitForExitAsync(Ct);
            }
            finally
            {
                host.Kill(); // a no-op once it is gone; on a failure before the kill, the next host's disposal ends its terminals
            }

            next = new ManagerUnderTest(18290, 18294, instance: instance);

            Assert.DoesNotContain("/bin/sh", RealParts.Docker("top", container, "-o", "pid,args"), StringComparison.Ordinal);
            Assert.Empty(next.AllProcesses());
            Assert.Equal([instance + ".key"], Directory.GetFiles(runtime).Select(Path.GetFileName));
        }
        finally
        {
            await (next ?? new ManagerUnderTest(18290, 18294, instance: instance)).DisposeAsync();
        }
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

    // Listeners that take no connection, as perl (perl-base is in every Debian) makes them with a backlog of 0: the kernel
    // queues one connection, then none. Each shows its socket only once it is in that state, so that no readiness check
    // can be answered by it before: "full" listens and never accepts, its one queued connection its own; "stopped" is
    // stopped (SIGSTOP) while it listens (a Unix socket renamed into place by its child once it is stopped; a TCP socket,
    // which cannot be renamed, put into listen() by that child on the socket they share; its arguments name the test's
    // folder, as the others' do, for the look at what is left). Shown 0.2 s late, when the start's first check, on the
    // start's own thread, is long past: every later one runs on the shared thread.
    private const string FullUnixListener = """
        use Socket; my ($path) = @ARGV;
        socket(my $s, AF_UNIX, SOCK_STREAM, 0) or die "socket: $!"; bind($s, pack_sockaddr_un("$path.tmp")) or die "bind: $!"; listen($s, 0) or die "listen: $!";
        socket(my $c, AF_UNIX, SOCK_STREAM, 0) or die "socket: $!"; connect($c, pack_sockaddr_un("$path.tmp")) or die "connect: $!";
        select(undef, undef, undef, 0.2); rename("$path.tmp", $path) or die "rename: $!"; sleep 1 while 1;
        """;

    private const string StoppedUnixListener = """
        use Socket; use POSIX (); my ($path) = @ARGV; my $parent = $$;
        socket(my $s, AF_UNIX, SOCK_STREAM, 0) or die "socket: $!"; bind($s, pack_sockaddr_un("$path.tmp")) or die "bind: $!"; listen($s, 0) or die "listen: $!";
        if (!fork()) { while (1) { open(my $f, "<", "/proc/$parent/stat") or POSIX::_exit(1); last if <$f> =~ /\) T /; } select(undef, undef, undef, 0.2); rename("$path.tmp", $path); POSIX::_exit(0); }
        kill 'STOP', $$; sleep 1 while 1;
        """;

    private const string StoppedTcpListener = """
        use Socket; use POSIX (); my ($port, $tag) = @ARGV; my $parent = $$;
        socket(my $s, AF_INET, SOCK_STREAM, 0) or die "socket: $!"; setsockopt($s, SOL_SOCKET, SO_REUSEADDR, 1);
        bind($s, pack_sockaddr_in($port, inet_aton("127.0.0.1"))) or die "bind: $!";
        if (!fork()) { while (1) { open(my $f, "<", "/proc/$parent/stat") or POSIX::_exit(1); last if <$f> =~ /\) T /; } select(undef, undef, undef, 0.2); listen($s, 0); POSIX::_exit(0); }
        kill 'STOP', $$; sleep 1 while 1;
        """;

    // A listener whose backlog is full, frozen or not accepting, takes no connection; the readiness checks of every start
    // run on one shared thread (the Ticker), and a blocking connect to such a listener waited until that process's own
    // timeout, every other start waiting with it (and one that checked on its own thread waited for good). Two such
    // starts, then three ttyd starts: these are ready while the two still wait, and the two fail with their timeout,
    // leaving nothing. Every start checks on the shared thread here, as all but one do when starts are concurrent (the
    // lone start's checks on its own thread would let the test's starts, one after the other, pass a stalled ticker).
    [Theory]
    [InlineData("unix")]
    [InlineData("tcp")]
    public async Task Starts_whose_listener_takes_no_connection_fail_alone_and_hold_up_no_other_start(string transport)
    {
        var folder = Directory.CreateTempSubdirectory("tp-full-backlog-");
        using var supervisor = new LinuxProcessSupervisor();
        var ttyd = Native.ResolveExecutable("ttyd") ?? throw new InvalidOperationException("ttyd is not on PATH");
        ProcessLaunch Perl(string name, string script, EndPoint ready, params string[] arguments) => new()
        {
            FileName = "/usr/bin/perl",
            Arguments = ["-e", script, .. arguments],
            ReadyEndpoint = ready,
            ReadyTimeout = FrozenTimeout,
            LogPath = Path.Combine(folder.FullName, name + ".log"),
        };

        // Each with the timeout message it must fail with.
        (ProcessLaunch Launch, string Error)[] frozen;
        const string NotAccepting = "did not accept connections";
        const string Stopped = "was stopped (SIGSTOP) and did not serve";
        if (transport == "unix")
        {
            var full = Path.Combine(folder.FullName, "full.sock");
            var stopped = Path.Combine(folder.FullName, "stopped.sock");
            frozen = [(Perl("full", FullUnixListener, new UnixDomainSocketEndPoint(full), full), NotAccepting),
                (Perl("stopped", StoppedUnixListener, new UnixDomainSocketEndPoint(stopped), stopped), Stopped)];
        }
        else
        {
            frozen = [.. FreePorts(2).Select(port => (Perl($"stopped-{port}", StoppedTcpListener, new IPEndPoint(IPAddress.Loopback, port), port.ToString(CultureInfo.InvariantCulture), folder.FullName), Stopped))];
        }

        var inline = LinuxProcessSupervisor.MaxInlineWaits;
        LinuxProcessSupervisor.MaxInlineWaits = 0; // the collection runs alone: no other start is affected
        try
        {
            var frozenStarts = frozen.Select(f => Task.Run(() => supervisor.StartAsync(f.Launch, Ct))).ToList();

            // From the moment each backlog is full, a blocking connect to it waits.
            await Poll.UntilAsync(() => frozen.All(f => IsFull(f.Launch.ReadyEndpoint)), Poll.Within(30));
            var normal = Enumerable.Range(0, 3).Select(i => Path.Combine(folder.FullName, $"n{i}.sock")).Select(socket => Task.Run(() => supervisor.StartAsync(new ProcessLaunch
            {
                FileName = ttyd,
                Arguments = ["-i", socket, "-W", "cat"],
                ReadyEndpoint = new UnixDomainSocketEndPoint(socket),
            }, Ct))).ToList();

            // A ttyd is ready in milliseconds; the failure bound is half the frozen starts' timeout, to which a stall lasts.
            var ready = Task.WhenAll(normal);
            await Task.WhenAny(ready, Task.Delay(FrozenTimeout / 2, Ct));
            Assert.True(ready.IsCompleted, $"{normal.Count(t => !t.IsCompleted)} of {normal.Count} ttyd starts were not ready within {FrozenTimeout / 2}.");
            Assert.False(frozenStarts.Any(t => t.IsCompleted), $"A start that could never be ready ended: {string.Join(" / ", frozenStarts.Where(t => t.IsCompleted).Select(t => t.Exception?.InnerException?.Message))}");
            foreach (var started in await Task.WhenAll(normal))
            {
                Assert.True(supervisor.IsAlive(started));
                await supervisor.StopAsync(started, TimeSpan.FromSeconds(2), Ct);
            }

            foreach (var (start, expected) in frozenStarts.Zip(frozen.Select(f => f.Error)))
            {
                var error = await Assert.ThrowsAsync<ProcessLaunchException>(() => start.WaitAsync(TimeSpan.FromSeconds(60), Ct));
                Assert.Equal(LaunchFailure.Timeout, error.Failure);
                Assert.Contains(expected, error.Message, StringComparison.Ordinal);
            }

            // Nothing of them is left: each failed start stopped its tree, thawing it.
            await Poll.UntilAsync(() => !Directory.EnumerateDirectories("/proc").Any(d => Uses(d, folder.FullName)), Poll.Within(30));
        }
        finally
        {
            LinuxProcessSupervisor.MaxInlineWaits = inline;

            // Only on failure is anything left: killed, which also frees a connect that waits on it.
            foreach (var entry in Directory.EnumerateDirectories("/proc").Where(d => Uses(d, folder.FullName)))
            {
                if (int.TryParse(Path.GetFileName(entry), CultureInfo.InvariantCulture, out var pid))
                {
                    Native.kill(pid, Native.SIGKILL);
                }
            }

            folder.Delete(recursive: true);
        }
    }

    private static readonly TimeSpan FrozenTimeout = TimeSpan.FromSeconds(8);

    // Ports free on loopback now: the kernel's choice for a moment's listener.
    private static int[] FreePorts(int count)
    {
        var listeners = Enumerable.Range(0, count).Select(_ => new TcpListener(IPAddress.Loopback, 0)).ToList();
        listeners.ForEach(l => l.Start());
        var ports = listeners.Select(l => ((IPEndPoint)l.LocalEndpoint).Port).ToArray();
        listeners.ForEach(l => l.Stop());
        return ports;
    }

    // Whether the listener at the endpoint takes no further connection: a Unix connect answers EAGAIN, a TCP one's SYN is
    // dropped (not connected within 50 ms). A connection it takes stays queued, which fills the backlog for the next look.
    private static bool IsFull(EndPoint endpoint)
    {
        using var socket = new Socket(endpoint.AddressFamily, SocketType.Stream, endpoint is UnixDomainSocketEndPoint ? ProtocolType.Unspecified : ProtocolType.Tcp) { Blocking = false };
        try
        {
            socket.Connect(endpoint);
            return false;
        }
        catch (SocketException e) when (e.SocketErrorCode == SocketError.WouldBlock && endpoint is UnixDomainSocketEndPoint)
        {
            return true;
        }
        catch (SocketException e) when (e.SocketErrorCode is SocketError.WouldBlock or SocketError.InProgress)
        {
            // Connected or refused within the wait: answered. Neither: the SYN was dropped.
            return !socket.Poll(TimeSpan.FromMilliseconds(50), SelectMode.SelectWrite) && !socket.Poll(TimeSpan.Zero, SelectMode.SelectError);
        }
        catch (SocketException)
        {
            return false; // not there yet, or not listening yet
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
