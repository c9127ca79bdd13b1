using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Time.Testing;

namespace TtydPorts.IntegrationTests;

/// <summary>Persistent shells over real ttyd, real tmux and a real container: reconnect, sharing, stop, restart, read-only observers.</summary>
[Collection(RealPartsCollection.Name)]
public sealed class PersistentShellTests(ContainerLab lab)
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task A_reconnected_client_finds_the_same_shell_with_its_variable_and_its_earlier_output()
    {
        var container = lab.StartContainer();
        await using var sut = new ManagerUnderTest(18300, 18309);
        var session = await sut.Manager.EnsureSessionAsync(container, "alice", null, Ct);

        await using (var first = await TtydClient.ConnectAsync(session!.GetUrl(), Ct))
        {
            await first.TypeAsync("X=41; echo set-$X-$TERM\r", Ct);
            await first.WaitForAsync("set-41-screen-256color", Poll.Within(30));
        }

        await using var second = await TtydClient.ConnectAsync(session.GetUrl(), Ct);
        await second.WaitForAsync("set-41-screen-256color", Poll.Within(30)); // tmux redraws the screen: the earlier output
        await second.TypeAsync("echo result-$((X+1))\r", Ct);
        await second.WaitForAsync("result-42", Poll.Within(30));

        // Control: without persistence the reconnected client gets a new shell, where X is unset.
        var other = lab.StartContainer();
        await using var plain = new ManagerUnderTest(18310, 18319, o => o.PersistentShells = false);
        var plainSession = await plain.Manager.EnsureSessionAsync(other, "alice", null, Ct);
        await using (var first = await TtydClient.ConnectAsync(plainSession!.GetUrl(), Ct))
        {
            await first.TypeAsync("X=41; echo set-$X\r", Ct);
            await first.WaitForAsync("set-41", Poll.Within(30));
        }

        await using var fresh = await TtydClient.ConnectAsync(plainSession.GetUrl(), Ct);
        await fresh.TypeAsync("echo result-$((X+1))\r", Ct);
        await fresh.WaitForAsync("result-1", Poll.Within(30));
        Assert.Empty(plain.TmuxServers());
    }

    [Fact]
    public async Task Two_clients_of_the_owner_see_and_type_into_the_same_shell()
    {
        var container = lab.StartContainer();
        await using var sut = new ManagerUnderTest(18320, 18329);
        var session = await sut.Manager.EnsureSessionAsync(container, "alice", null, Ct);

        await using var one = await TtydClient.ConnectAsync(session!.GetUrl(), Ct);
        await one.TypeAsync("echo ready-$((1+1))\r", Ct);
        await one.WaitForAsync("ready-2", Poll.Within(30));
        await using var two = await TtydClient.ConnectAsync(session.GetUrl(), Ct);

        await one.TypeAsync("echo from-one-$((20+1))\r", Ct);
        await two.WaitForAsync("from-one-21", Poll.Within(30));
        await two.TypeAsync("echo from-two-$((30+2))\r", Ct);
        await one.WaitForAsync("from-two-32", Poll.Within(30));
        Assert.Single(sut.TmuxServers());
    }

    [Fact]
    public async Task Stopping_the_session_ends_the_tmux_server_the_shell_in_the_container_and_removes_the_socket()
    {
        var container = lab.StartContainer();
        await using var sut = new ManagerUnderTest(18330, 18339);
        var session = await sut.Manager.EnsureSessionAsync(container, "alice", null, Ct);
        await using (var client = await TtydClient.ConnectAsync(session!.GetUrl(), Ct))
        {
            await client.TypeAsync("echo up-$((2+3))\r", Ct);
            await client.WaitForAsync("up-5", Poll.Within(30));
        }

        // Controls: the page is gone, yet the server, the shell in the container and the socket are there.
        var server = Assert.Single(sut.TmuxServers());
        var shells = Execs(sut); // this session's only: other tests' sessions run meanwhile
        Assert.NotEmpty(shells);
        var sockets = Directory.GetFiles(sut.RuntimeDirectory, "*.tmux");
        Assert.Single(sockets);

        var result = await sut.Manager.DeleteNodeAsync(container, Ct);

        Assert.Single(result.Stopped);
        Assert.False(sut.Supervisor.IsAlive(server.Process));
        Assert.Empty(sut.AllProcesses());
        Assert.DoesNotContain(sut.Supervisor.FindMarkedProcesses("TTYDPORTS_", TtydProcessDiscovery.ExecMarker), p => shells.Any(s => s.Process == p.Process));
        Assert.DoesNotContain("sh", RealParts.Docker("top", container, "-o", "pid,args").Split('\n').Skip(1).Select(l => l.Trim().Split(' ', 2).Last()));
        Assert.Empty(Directory.GetFiles(sut.RuntimeDirectory, "*.tmux"));
    }

    [Fact]
    public async Task After_a_host_restart_the_adopted_session_keeps_its_shell_and_its_variable()
    {
        var container = lab.StartContainer();
        var instance = "itest-" + Guid.NewGuid().ToString("N")[..8];
        var first = new ManagerUnderTest(18340, 18349, instance: instance);
        var session = await first.Manager.EnsureSessionAsync(container, "alice", null, Ct);
        await using (var client = await TtydClient.ConnectAsync(session!.GetUrl(), Ct))
        {
            await client.TypeAsync("X=41; echo before-$X\r", Ct);
            await client.WaitForAsync("before-41", Poll.Within(30));
        }

        await first.AbandonAsync();
        await using var second = new ManagerUnderTest(18340, 18349, instance: instance);
        var adopted = await second.Manager.EnsureSessionAsync(container, "alice", null, Ct);

        Assert.Equal(session.ProcessId, adopted!.ProcessId);
        await using var again = await TtydClient.ConnectAsync(adopted.GetUrl(), Ct);
        await again.TypeAsync("echo after-$((X+1))\r", Ct);
        await again.WaitForAsync("after-42", Poll.Within(30));
    }

    [Fact]
    public async Task Without_tmux_no_session_starts_and_the_error_names_tmux_and_the_option()
    {
        var container = lab.StartContainer();
        await using var sut = new ManagerUnderTest(18350, 18359, o => o.TmuxPath = "/nonexistent/tmux");

        var error = await Assert.ThrowsAsync<TtydStartException>(async () => await sut.Manager.EnsureSessionAsync(container, "alice", null, Ct));

        Assert.Contains("'/nonexistent/tmux'", error.Message, StringComparison.Ordinal);
        Assert.Contains("PersistentShells = false", error.Message, StringComparison.Ordinal);
        Assert.Equal(error.Message, sut.Manager.GetStatus().LastError);
        Assert.Empty(sut.TtydProcesses());

        // Control: turning persistence off starts the terminal with the same missing tmux.
        await using var plain = new ManagerUnderTest(18360, 18369, o => { o.TmuxPath = "/nonexistent/tmux"; o.PersistentShells = false; });
        Assert.NotNull(await plain.Manager.EnsureSessionAsync(container, "alice", null, Ct));
    }

    [Fact]
    public async Task An_observer_sees_the_owners_output_and_what_it_types_never_reaches_the_shell()
    {
        var container = lab.StartContainer();
        await using var sut = new ManagerUnderTest(18370, 18379, o => { o.ListenMode = TtydListenMode.UnixSocket; o.BasePath = "/terminals"; });
        var session = await sut.Manager.EnsureSessionAsync(container, "alice", null, Ct);
        Assert.NotNull(session!.ObserverSocketPath);
        var watched = await ((IObserverTerminals)sut.Manager).EnsureObserverAsync(session, Ct);
        Assert.NotNull(watched);

        await using var owner = await TtydClient.ConnectAsync(new Uri($"ws://localhost/terminals/{container}/ws"), session.Credential, session.SocketPath, "http://localhost", Ct);
        await owner.TypeAsync("echo owner-$((3*3))\r", Ct);
        await owner.WaitForAsync("owner-9", Poll.Within(30));

        await using var observer = await TtydClient.ConnectAsync(new Uri($"ws://localhost/terminals/{container}/watch/ws"), session.Credential, session.ObserverSocketPath, "http://localhost", Ct);
        await observer.WaitForAsync("owner-9", Poll.Within(30));
        await observer.TypeAsync("touch /tmp/typed-by-observer\r", Ct);
        await owner.TypeAsync("touch /tmp/typed-by-owner; echo owner-$((4*4))\r", Ct);
        await observer.WaitForAsync("owner-16", Poll.Within(30));

        Assert.Equal(0, RealParts.Run(RealParts.DockerClient, "exec", container, "test", "-e", "/tmp/typed-by-owner").ExitCode); // control
        Assert.NotEqual(0, RealParts.Run(RealParts.DockerClient, "exec", container, "test", "-e", "/tmp/typed-by-observer").ExitCode);
        Assert.DoesNotContain("typed-by-observer", owner.Screen, StringComparison.Ordinal);

        var result = await sut.Manager.DeleteNodeAsync(container, Ct);
        Assert.Single(result.Stopped);
        Assert.False(sut.Supervisor.IsAlive(watched.Process));
        Assert.Empty(sut.Observers());
    }

    [Fact]
    public async Task An_observer_starts_at_the_first_watch_only_once_for_concurrent_watchers_again_after_it_died_and_never_for_a_dead_session()
    {
        var container = lab.StartContainer();
        await using var sut = new ManagerUnderTest(18470, 18474, o => { o.ListenMode = TtydListenMode.UnixSocket; o.BasePath = "/terminals"; });
        var observers = (IObserverTerminals)sut.Manager;
        var session = (await sut.Manager.EnsureSessionAsync(container, "alice", null, Ct))!;

        // Nobody watches yet: the session runs no observer.
        Assert.Empty(sut.Observers());
        Assert.Single(sut.TtydProcesses()); // control: the session's own ttyd is found the same way

        // Eight watchers at once: one observer, the same for all.
        var started = await Task.WhenAll(Enumerable.Range(0, 8).Select(_ => observers.EnsureObserverAsync(session, Ct).AsTask()));
        Assert.Single(started.Distinct());
        Assert.NotNull(started[0]);
        Assert.Single(sut.Observers());
        await using (var watcher = await TtydClient.ConnectAsync(new Uri($"ws://localhost/terminals/{container}/watch/ws"), session.Credential, started[0]!.SocketPath, "http://localhost", Ct))
        {
            await watcher.WaitForAsync("#", Poll.Within(30));
        }

        // Killed from outside: the next watcher gets a new one, on the same socket path (the dead one's file removed).
        var first = started[0]!.Process;
        Assert.True(sut.Supervisor.IsAlive(first));
        System.Diagnostics.Process.GetProcessById(first.ProcessId).Kill();
        await Poll.UntilAsync(() => !sut.Supervisor.IsAlive(first), Poll.Within(30));
        var again = await observers.EnsureObserverAsync(session, Ct);
        Assert.NotNull(again);
        Assert.NotEqual(first, again.Process);
        await using (var watcher = await TtydClient.ConnectAsync(new Uri($"ws://localhost/terminals/{container}/watch/ws"), session.Credential, again.SocketPath, "http://localhost", Ct))
        {
            await watcher.WaitForAsync("#", Poll.Within(30));
        }

        // Frozen (SIGSTOP): it would accept a watcher and never answer; the next watcher gets a new one, the frozen one is ended.
        RealParts.Run("kill", "-STOP", again.Process.ProcessId.ToString(System.Globalization.CultureInfo.InvariantCulture));
        await Poll.UntilAsync(() => sut.Supervisor.IsStopped(again.Process), Poll.Within(30));
        var thawed = await observers.EnsureObserverAsync(session, Ct);
        Assert.NotNull(thawed);
        Assert.NotEqual(again.Process, thawed.Process);
        Assert.False(sut.Supervisor.IsAlive(again.Process));
        await using (var watcher = await TtydClient.ConnectAsync(new Uri($"ws://localhost/terminals/{container}/watch/ws"), session.Credential, thawed.SocketPath, "http://localhost", Ct))
        {
            await watcher.WaitForAsync("#", Poll.Within(30));
        }

        again = thawed;

        // A session whose ttyd died gets no new observer (nothing would be left to stop it), nor one that is no longer
        // the container's.
        System.Diagnostics.Process.GetProcessById(again.Process.ProcessId).Kill();
        System.Diagnostics.Process.GetProcessById(session.ProcessId).Kill();
        await Poll.UntilAsync(() => !sut.Supervisor.IsAlive(again.Process) && !sut.Supervisor.IsAlive(session.Process), Poll.Within(30));
        Assert.Null(await observers.EnsureObserverAsync(session, Ct));
        Assert.Empty(sut.Observers());
        await sut.Manager.DeleteNodeAsync(container, Ct);
        Assert.Null(await observers.EnsureObserverAsync(session, Ct));
        Assert.Empty(sut.Observers());
    }

    [Fact]
    public async Task Repair_stops_an_observer_nobody_used_for_a_repair_interval_and_keeps_one_with_a_watcher()
    {
        var container = lab.StartContainer();
        var time = new FakeTimeProvider(DateTimeOffset.UtcNow);
        await using var sut = new ManagerUnderTest(18480, 18484, o => { o.ListenMode = TtydListenMode.UnixSocket; o.BasePath = "/terminals"; o.RepairInterval = TimeSpan.FromSeconds(30); },
            services: s => s.TryAddSingleton<TimeProvider>(time));
        var observers = (IObserverTerminals)sut.Manager;
        var session = (await sut.Manager.EnsureSessionAsync(container, "alice", null, Ct))!;
        var observer = (await observers.EnsureObserverAsync(session, Ct))!;

        // A connected watcher keeps it, however long.
        await using (var watcher = await TtydClient.ConnectAsync(new Uri($"ws://localhost/terminals/{container}/watch/ws"), session.Credential, observer.SocketPath, "http://localhost", Ct))
        {
            await watcher.WaitForAsync("#", Poll.Within(30));
            time.Advance(TimeSpan.FromMinutes(10));
            await sut.Manager.RepairAsync(Ct);
            Assert.True(sut.Supervisor.IsAlive(observer.Process));
        }

        // Once nobody is connected: handed out again at 20 s, so still there at 40 s; gone at 51 s.
        await Poll.UntilAsync(() => !ProcFs.CountUnixConnections().ContainsKey(observer.SocketPath), Poll.Within(30));
        await sut.Manager.RepairAsync(Ct);
        time.Advance(TimeSpan.FromSeconds(20));
        Assert.Equal(observer, await observers.EnsureObserverAsync(session, Ct));
        time.Advance(TimeSpan.FromSeconds(20));
        await sut.Manager.RepairAsync(Ct);
        Assert.True(sut.Supervisor.IsAlive(observer.Process));
        time.Advance(TimeSpan.FromSeconds(11));
        await sut.Manager.RepairAsync(Ct);
        Assert.False(sut.Supervisor.IsAlive(observer.Process));
        Assert.Empty(sut.Observers());
        Assert.False(File.Exists(observer.SocketPath));
        Assert.Equal(session, sut.Manager.FindSession(container)); // the session and its shell stay

        var next = (await observers.EnsureObserverAsync(session, Ct))!;
        Assert.NotEqual(observer.Process, next.Process);
        await using var again = await TtydClient.ConnectAsync(new Uri($"ws://localhost/terminals/{container}/watch/ws"), session.Credential, next.SocketPath, "http://localhost", Ct);
        await again.WaitForAsync("#", Poll.Within(30));
    }

    [Fact]
    public async Task A_watcher_who_comes_right_after_the_session_was_created_waits_for_the_shell_started_with_it()
    {
        var container = lab.StartContainer();

        // A tmux whose new-session takes a second: the shell started with the session is not there yet when the watcher
        // comes, and the watch (a read-only attach) would end at once without it.
        var folder = Directory.CreateTempSubdirectory("ttydports-slow-tmux-");
        try
        {
            var slowTmux = Path.Combine(folder.FullName, "tmux");
            File.WriteAllText(slowTmux, $"#!/bin/sh\ncase \" $* \" in *\" new-session \"*) sleep 1 ;; esac\nexec {Native.ResolveExecutable("tmux")} \"$@\"\n");
            File.SetUnixFileMode(slowTmux, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
            await using var sut = new ManagerUnderTest(18480, 18484, o => (o.ListenMode, o.BasePath, o.TmuxPath) = (TtydListenMode.UnixSocket, "/terminals", slowTmux));
            var session = (await sut.Manager.EnsureSessionAsync(container, "alice", null, Ct))!;
            Assert.Empty(sut.TmuxServers()); // the shell is still starting: what the watcher meets

            var observer = (await ((IObserverTerminals)sut.Manager).EnsureObserverAsync(session, Ct))!;

            await using var watcher = await TtydClient.ConnectAsync(new Uri($"ws://localhost/terminals/{container}/watch/ws"), session.Credential, observer.SocketPath, "http://localhost", Ct);
            await watcher.WaitForAsync("#", Poll.Within(30));
            Assert.Single(sut.TmuxServers());
        }
        finally
        {
            folder.Delete(recursive: true);
        }
    }

    [Fact]
    public async Task A_session_whose_ttyd_died_while_no_host_ran_leaves_no_tmux_server_observer_or_file_after_the_next_start()
    {
        var dying = lab.StartContainer();
        var living = lab.StartContainer();
        var instance = "itest-" + Guid.NewGuid().ToString("N")[..8];
        Action<TtydSessionOptions> proxyMode = o => { o.ListenMode = TtydListenMode.UnixSocket; o.BasePath = "/terminals"; };
        var first = new ManagerUnderTest(18485, 18489, proxyMode, instance: instance);
        var dead = (await first.Manager.EnsureSessionAsync(dying, "alice", null, Ct))!;
        var kept = (await first.Manager.EnsureSessionAsync(living, "alice", null, Ct))!;
        var deadObserver = (await ((IObserverTerminals)first.Manager).EnsureObserverAsync(dead, Ct))!;
        var keptObserver = (await ((IObserverTerminals)first.Manager).EnsureObserverAsync(kept, Ct))!;
        await Poll.UntilAsync(() => first.TmuxServers().Count == 2 && Shells(dying) == 1 && Shells(living) == 1, Poll.Within(30)); // both shells started with their sessions
        var deadFiles = Directory.GetFiles(first.RuntimeDirectory).Where(f => Path.GetFileName(f).StartsWith(Path.GetFileNameWithoutExtension(dead.SocketPath!), StringComparison.Ordinal)).ToList();
        Assert.NotEmpty(deadFiles);

        // The host goes; then one session's ttyd is killed before the next host starts.
        await first.AbandonAsync();
        System.Diagnostics.Process.GetProcessById(dead.ProcessId).Kill();
        await Poll.UntilAsync(() => !first.Supervisor.IsAlive(dead.Process), Poll.Within(30));

        await using var second = new ManagerUnderTest(18485, 18489, proxyMode, instance: instance);
        Assert.Null(second.Manager.FindSession(dying));
        Assert.False(second.Supervisor.IsAlive(deadObserver.Process));
        Assert.Single(second.TmuxServers());
        Assert.All(deadFiles, f => Assert.False(File.Exists(f), f));
        await Poll.UntilAsync(() => Shells(dying) == 0, Poll.Within(30)); // the shell inside its container too
        Assert.Equal(1, Shells(living));

        // Control: the live session was adopted with its shell and observer untouched.
        Assert.Equal(kept.ProcessId, second.Manager.FindSession(living)!.ProcessId);
        Assert.True(second.Supervisor.IsAlive(keptObserver.Process));
        Assert.Equal(keptObserver, await ((IObserverTerminals)second.Manager).EnsureObserverAsync(second.Manager.FindSession(living)!, Ct));
    }

    [Fact]
    public async Task A_live_ttyd_the_next_host_does_not_adopt_is_left_running_with_its_shell_never_taken_for_a_leftover()
    {
        var container = lab.StartContainer();
        var instance = "itest-" + Guid.NewGuid().ToString("N")[..8];
        var first = new ManagerUnderTest(18490, 18494, instance: instance);
        var session = (await first.Manager.EnsureSessionAsync(container, "alice", null, Ct))!;

        // The shell up in the container: the tmux client that started the server (counted with servers while it runs,
        // its parent being unmarked) has left by then.
        await Poll.UntilAsync(() => Shells(container) == 1 && first.TmuxServers().Count == 1, Poll.Within(30));
        var server = first.TmuxServers()[0].Process;
        await first.AbandonAsync();

        // The next host runs another ttyd binary (an upgrade, another TtydPath): it refuses to adopt the running one.
        var copy = Path.Combine(Path.GetTempPath(), instance + "-bin");
        Directory.CreateDirectory(copy);
        ManagerUnderTest? second = null;
        int? adopted;
        bool serverKept;
        try
        {
            File.Copy(Native.ResolveExecutable("ttyd")!, Path.Combine(copy, "ttyd"));
            File.SetUnixFileMode(Path.Combine(copy, "ttyd"), UnixFileMode.UserRead | UnixFileMode.UserExecute | UnixFileMode.UserWrite);
            second = new ManagerUnderTest(18490, 18494, o => o.TtydPath = Path.Combine(copy, "ttyd"), instance: instance);
            Assert.Null(second.Manager.FindSession(container));
            Assert.True(second.Supervisor.IsAlive(session.Process)); // not adopted, yet not stopped as a leftover
            Assert.True(second.Supervisor.IsAlive(server));
        }
        finally
        {
            // It owns nothing. A host with the binary that started the session adopts it, and stops it at its end,
            // whatever failed above: the session never outlives the test.
            if (second is not null)
            {
                await second.AbandonAsync();
            }

            await using var third = new ManagerUnderTest(18490, 18494, instance: instance);
            adopted = third.Manager.FindSession(container)?.ProcessId;
            serverKept = third.Supervisor.IsAlive(server);
            Directory.Delete(copy, recursive: true);
        }

        // Control: that host adopted it, shell and all.
        Assert.Equal(session.ProcessId, adopted);
        Assert.True(serverKept);
    }

    [Fact]
    public async Task After_a_host_restart_a_watched_sessions_observer_is_adopted_not_doubled_and_stops_with_it()
    {
        var container = lab.StartContainer();
        var instance = "itest-" + Guid.NewGuid().ToString("N")[..8];
        Action<TtydSessionOptions> proxyMode = o => { o.ListenMode = TtydListenMode.UnixSocket; o.BasePath = "/terminals"; };
        var first = new ManagerUnderTest(18475, 18479, proxyMode, instance: instance);
        var session = (await first.Manager.EnsureSessionAsync(container, "alice", null, Ct))!;
        var observer = (await ((IObserverTerminals)first.Manager).EnsureObserverAsync(session, Ct))!;

        await first.AbandonAsync();
        await using var second = new ManagerUnderTest(18475, 18479, proxyMode, instance: instance);
        var adopted = (await second.Manager.EnsureSessionAsync(container, "alice", null, Ct))!;
        Assert.Equal(session.ProcessId, adopted.ProcessId);
        Assert.Equal(observer, await ((IObserverTerminals)second.Manager).EnsureObserverAsync(adopted, Ct));
        Assert.Single(second.Observers());

        Assert.Single((await second.Manager.DeleteNodeAsync(container, Ct)).Stopped);
        Assert.False(second.Supervisor.IsAlive(observer.Process));
        Assert.Empty(second.Observers());
    }

    [Fact]
    public async Task The_shell_is_running_when_the_session_is_returned_before_any_client_connects_and_the_stop_ends_it()
    {
        var container = lab.StartContainer();
        await using var sut = new ManagerUnderTest(18380, 18389);

        await sut.Manager.EnsureSessionAsync(container, "alice", null, Ct);

        // Nobody connected: the shell in the container, its docker exec client and the tmux server are the manager's
        // (polled together: the tmux client that created the server carries the markers too until it exits).
        await Poll.UntilAsync(() => Shells(container) == 1 && sut.TmuxServers().Count == 1, Poll.Within(30));
        Assert.NotEmpty(Execs(sut));

        var result = await sut.Manager.DeleteNodeAsync(container, Ct);

        Assert.Single(result.Stopped);
        Assert.Empty(sut.AllProcesses());
        Assert.Equal(0, Shells(container));
        Assert.Empty(Directory.GetFiles(sut.RuntimeDirectory, "*.tmux"));
    }

    [Fact]
    public async Task The_first_client_attaches_to_the_started_shell_and_after_it_exits_the_next_client_gets_a_new_one()
    {
        var container = lab.StartContainer();
        await using var sut = new ManagerUnderTest(18390, 18399);
        var session = await sut.Manager.EnsureSessionAsync(container, "alice", null, Ct);
        await Poll.UntilAsync(() => Shells(container) == 1 && sut.TmuxServers().Count == 1, Poll.Within(30));
        var server = Assert.Single(sut.TmuxServers());

        await using (var first = await TtydClient.ConnectAsync(session!.GetUrl(), Ct))
        {
            await first.TypeAsync("echo first-$((5+5))\r", Ct);
            await first.WaitForAsync("first-10", Poll.Within(30));
            Assert.Equal(1, Shells(container)); // attached to that shell: no second docker exec
            Assert.Equal(server.Process, Assert.Single(sut.TmuxServers()).Process);
            await first.TypeAsync("exit\r", Ct);
            await Poll.UntilAsync(() => sut.TmuxServers().Count == 0 && Shells(container) == 0, Poll.Within(30));
        }

        await using var next = await TtydClient.ConnectAsync(session.GetUrl(), Ct);
        await next.TypeAsync("echo next-$((6+6))\r", Ct);
        await next.WaitForAsync("next-12", Poll.Within(30));
        Assert.NotEqual(server.Process, Assert.Single(sut.TmuxServers()).Process);
    }

    [Fact]
    public async Task Repair_replaces_a_session_whose_tmux_server_is_frozen_and_keeps_one_whose_shell_runs()
    {
        var container = lab.StartContainer();
        await using var sut = new ManagerUnderTest(18500, 18509);
        var session = await sut.Manager.EnsureSessionAsync(container, "alice", null, Ct);
        await Poll.UntilAsync(() => Shells(container) == 1 && sut.TmuxServers().Count == 1, Poll.Within(30));
        var server = Assert.Single(sut.TmuxServers()).Process;

        // ttyd answers either way; only the shell's server tells them apart.
        Assert.Empty((await sut.Manager.RepairAsync(Ct)).Stopped);
        Assert.Equal(session!.ProcessId, (await sut.Manager.EnsureSessionAsync(container, "alice", null, Ct))!.ProcessId);

        RealParts.Run("kill", "-STOP", server.ProcessId.ToString(System.Globalization.CultureInfo.InvariantCulture));
        await Poll.UntilAsync(() => sut.Supervisor.IsStopped(server), Poll.Within(30));
        var repaired = await sut.Manager.RepairAsync(Ct);

        Assert.Equal(session.ProcessId, Assert.Single(repaired.Stopped).ProcessId);
        Assert.False(sut.Supervisor.IsAlive(server)); // the stop thaws what it ends
        var next = await sut.Manager.EnsureSessionAsync(container, "alice", null, Ct);
        Assert.NotEqual(session.ProcessId, next!.ProcessId);
        await using var client = await TtydClient.ConnectAsync(next.GetUrl(), Ct);
        await client.TypeAsync("echo thawed-$((7+7))\r", Ct);
        await client.WaitForAsync("thawed-14", Poll.Within(30));
    }

    // The processes in the container that carry this manager's one session's token (ttyd's session marker).
    private static IReadOnlyList<MarkedProcess> Execs(ManagerUnderTest sut) =>
        sut.Supervisor.FindMarkedProcesses("TTYDPORTS_", TtydProcessDiscovery.ExecMarker, Assert.Single(sut.TtydProcesses()).Markers[TtydProcessDiscovery.SessionMarker]);

    // The interactive shells in the container (docker top's pid,args lines whose command is the shell, /bin/sh).
    private static int Shells(string container) =>
        RealParts.Docker("top", container, "-o", "pid,args").Split('\n').Skip(1).Count(l => Path.GetFileName(l.Trim().Split(' ', 2).Last()) == "sh");
}
