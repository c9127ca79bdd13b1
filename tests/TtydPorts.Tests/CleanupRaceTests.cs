using Moq;

namespace TtydPorts.Tests;

/// <summary>
/// Cleanups against what runs beside them: a create still under way (the cleanup wins, and no terminal outlives it), and
/// a container busy with something else when the cleanup's caller gives up (every stop that began is finished).
/// </summary>
public sealed class CleanupRaceTests : IDisposable
{
    private readonly ManagerHarness _h = new();

    // The sessions' processes outside ttyd's tree (a tmux server, say), carrying the session's signed markers.
    private readonly List<MarkedProcess> _outside = [];

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    public CleanupRaceTests() =>
        _h.Supervisor.Setup(s => s.FindMarkedProcesses(It.IsAny<string>(), "TTYDPORTS_SESSION", It.IsAny<string?>()))
            .Returns((string _, string _, string? token) =>
            {
                lock (_h.Alive)
                {
                    return [.. _outside.Where(m => _h.Alive.Contains(m.Process.ProcessId) && (token is null || m.Markers["TTYDPORTS_SESSION"] == token))];
                }
            });

    public void Dispose()
    {
        if (Directory.Exists(_h.Options.RuntimeDirectory))
        {
            Directory.Delete(_h.Options.RuntimeDirectory, recursive: true);
        }
    }

    // ttyd starts, then its start waits for the test; the token is ignored, as a start past the point of cancelling.
    private TaskCompletionSource HoldStarts(TaskCompletionSource<ProcessLaunch> entered)
    {
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        _h.Supervisor.Setup(s => s.StartAsync(It.IsAny<ProcessLaunch>(), It.IsAny<CancellationToken>()))
            .Returns(async (ProcessLaunch launch, CancellationToken _) =>
            {
                entered.TrySetResult(launch);
                await release.Task;
                return _h.Spawn(launch);
            });
        return release;
    }

    private static TaskCompletionSource<ProcessLaunch> Entered() => new(TaskCreationOptions.RunContinuationsAsynchronously);

    private Task<CleanupResult> Cleanup(TtydSessionManager manager, string kind, CancellationToken cancellationToken) => kind switch
    {
        "user" => manager.CleanupUserAsync("alice", cancellationToken),
        "topology" => manager.ClearTopologyAsync("t1", cancellationToken),
        "node" => manager.DeleteNodeAsync("r1", cancellationToken),
        "all" => manager.CleanupAllAsync(cancellationToken),
        _ => throw new ArgumentOutOfRangeException(nameof(kind)),
    };

    private int[] AliveNow()
    {
        lock (_h.Alive)
        {
            return [.. _h.Alive.Order()];
        }
    }

    [Theory]
    [InlineData("user", StopReason.User, "the cleanup of user 'alice'")]
    [InlineData("topology", StopReason.Topology, "the clearing of topology 't1'")]
    [InlineData("node", StopReason.Node, "the deletion of node 'r1'")]
    [InlineData("all", StopReason.All, "the cleanup of every session")]
    public async Task A_cleanup_that_matches_a_create_under_way_wins_the_create_fails_naming_it_and_no_terminal_is_left(string kind, StopReason reason, string named)
    {
        _h.Options.MaxSessionsPerUser = 1;
        var entered = Entered();
        var release = HoldStarts(entered);
        var manager = _h.Create();

        var create = manager.EnsureSessionAsync("r1", "alice", "t1", Ct).AsTask();
        await entered.Task; // on its slow path: nothing in the slot yet
        var cleanup = Cleanup(manager, kind, Ct);
        Assert.False(cleanup.IsCompleted); // it waits for the create it matched
        release.SetResult();

        var error = await Assert.ThrowsAsync<SessionCleanedUpException>(() => create);
        var result = await cleanup;

        Assert.Equal(("r1", reason), (error.Container, error.Reason));
        Assert.Contains(named, error.Message, StringComparison.Ordinal);
        Assert.Single(_h.Launches);
        Assert.Empty(AliveNow()); // the ttyd it started was stopped, before the cleanup returned
        Assert.Empty(_h.Reserved);
        Assert.Null(manager.FindSession("r1"));
        Assert.Empty(manager.GetStatus().Sessions);
        Assert.Empty(result.Stopped); // the sessions that existed; the create never handed one out
        Assert.True(result.Succeeded);

        // Its place in the per-user limit was given back: alice's next create starts.
        _h.Supervisor.Setup(s => s.StartAsync(It.IsAny<ProcessLaunch>(), It.IsAny<CancellationToken>()))
            .Returns((ProcessLaunch launch, CancellationToken _) => Task.FromResult(_h.Spawn(launch)));
        Assert.NotNull(await manager.EnsureSessionAsync("r1", "alice", "t1", Ct));
    }

    [Fact]
    public async Task A_cleanup_ends_a_matching_ttyd_start_at_once_and_returns_with_nothing_left_running()
    {
        // As the real supervisor does: a cancelled start stops the process it spawned, and throws.
        var entered = Entered();
        _h.Supervisor.Setup(s => s.StartAsync(It.IsAny<ProcessLaunch>(), It.IsAny<CancellationToken>()))
            .Returns(async (ProcessLaunch launch, CancellationToken ct) =>
            {
                var process = _h.Spawn(launch);
                entered.TrySetResult(launch);
                try
                {
                    await Task.Delay(Timeout.Infinite, ct);
                }
                finally
                {
                    lock (_h.Alive)
                    {
                        _h.Alive.Remove(process.ProcessId);
                    }
                }

                return process;
            });
        var manager = _h.Create();
        var create = manager.EnsureSessionAsync("r1", "alice", null, Ct).AsTask();
        await entered.Task;
        Assert.NotEmpty(AliveNow());

        var result = await manager.CleanupUserAsync("alice", Ct); // no release: the cleanup ends the start itself

        Assert.Empty(AliveNow());
        Assert.Empty(result.Stopped);
        var error = await Assert.ThrowsAsync<SessionCleanedUpException>(() => create);
        Assert.Equal(StopReason.User, error.Reason);
        Assert.Empty(_h.Reserved);
        Assert.Empty(manager.GetStatus().Sessions);
    }

    [Fact]
    public async Task A_cleanup_that_comes_once_the_create_has_made_its_session_still_wins_and_the_create_stops_that_session()
    {
        TtydSessionManager manager = null!;
        Task<CleanupResult>? cleanup = null;
        var events = _h.Supervisor.As<IProcessEvents>();
        events.Setup(e => e.Watch(It.IsAny<ProcessIdentity>())).Returns((ProcessIdentity _) =>
        {
            cleanup ??= manager.CleanupUserAsync("alice", Ct); // the last step of making the session, before it is handed out
            return null;
        });
        events.Setup(e => e.Refresh());
        manager = _h.Create();

        var error = await Assert.ThrowsAsync<SessionCleanedUpException>(() => manager.EnsureSessionAsync("r1", "alice", null, Ct).AsTask());
        var result = await cleanup!;

        Assert.Equal(StopReason.User, error.Reason);
        Assert.Single(_h.Launches);
        Assert.Empty(AliveNow());
        Assert.Empty(result.Stopped);
        Assert.Empty(_h.Reserved);
        Assert.Empty(manager.GetStatus().Sessions);
    }

    [Fact]
    public async Task Two_cleanups_that_match_one_create_both_wait_until_what_it_started_is_stopped()
    {
        var entered = Entered();
        var release = HoldStarts(entered);
        var manager = _h.Create();

        var create = manager.EnsureSessionAsync("r1", "alice", "t1", Ct).AsTask();
        await entered.Task;
        var user = manager.CleanupUserAsync("alice", Ct);
        var topology = manager.ClearTopologyAsync("t1", Ct); // the create is revoked already: this one waits all the same
        Assert.False(user.IsCompleted || topology.IsCompleted);
        release.SetResult();

        await Task.WhenAll(user, topology);
        Assert.Empty(AliveNow());
        Assert.Equal(StopReason.User, (await Assert.ThrowsAsync<SessionCleanedUpException>(() => create)).Reason); // the first one wins
    }

    [Fact]
    public async Task A_revoked_create_that_does_not_end_holds_the_cleanup_only_for_its_own_bound_and_still_stops_its_ttyd()
    {
        var entered = Entered();
        var release = HoldStarts(entered);
        var manager = _h.Create();
        var create = manager.EnsureSessionAsync("r1", "alice", null, Ct).AsTask();
        await entered.Task;

        var cleanup = manager.CleanupUserAsync("alice", Ct);
        _h.Time.Advance(_h.Options.StartTimeout + (2 * _h.Options.StopGracePeriod) - TimeSpan.FromTicks(1));
        Assert.False(cleanup.IsCompleted);
        _h.Time.Advance(TimeSpan.FromTicks(1));
        Assert.Empty((await cleanup.WaitAsync(TimeSpan.FromSeconds(30), Ct)).Stopped); // a guard: it completed with the fake clock's move

        release.SetResult();
        await Assert.ThrowsAsync<SessionCleanedUpException>(() => create);
        Assert.Empty(AliveNow());
    }

    [Fact]
    public async Task A_cleanup_of_another_user_or_topology_leaves_a_create_under_way_alone()
    {
        var entered = Entered();
        var release = HoldStarts(entered);
        var manager = _h.Create();

        var create = manager.EnsureSessionAsync("r1", "alice", "t1", Ct).AsTask();
        await entered.Task;
        var bob = await manager.CleanupUserAsync("bob", Ct); // returns while alice's create is still held
        var other = await manager.ClearTopologyAsync("t2", Ct);
        var node = await manager.DeleteNodeAsync("r2", Ct);
        release.SetResult();
        var session = await create;

        Assert.Empty(bob.Stopped.Concat(other.Stopped).Concat(node.Stopped));
        Assert.NotNull(session);
        Assert.Equal([session.ProcessId], AliveNow());
        Assert.Same(session, manager.FindSession("r1"));
    }

    [Fact]
    public async Task A_cleanup_whose_caller_gave_up_before_it_began_throws_and_leaves_a_create_under_way_alone()
    {
        var entered = Entered();
        var release = HoldStarts(entered);
        var manager = _h.Create();

        var create = manager.EnsureSessionAsync("r1", "alice", "t1", Ct).AsTask();
        await entered.Task;
        using var gaveUp = new CancellationTokenSource();
        await gaveUp.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => manager.CleanupUserAsync("alice", gaveUp.Token));
        release.SetResult();
        var session = await create; // not revoked: "cancelled, nothing done" holds

        Assert.NotNull(session);
        Assert.Equal([session.ProcessId], AliveNow());

        // The control: the same cleanup not cancelled ends it.
        var result = await manager.CleanupUserAsync("alice", Ct);
        Assert.Equal([session], result.Stopped);
        Assert.Empty(AliveNow());
    }

    [Fact]
    public async Task A_session_handed_out_before_the_cleanup_is_stopped_by_it_as_before()
    {
        var manager = _h.Create();
        var session = await manager.EnsureSessionAsync("r1", "alice", "t1", Ct);

        var result = await manager.CleanupUserAsync("alice", Ct);

        Assert.Equal([session!], result.Stopped);
        Assert.Empty(AliveNow());
    }

    // Three sessions of alice, each with a process outside ttyd's tree, a shell in its container and a log file.
    private async Task<(TtydSession Session, ProcessLaunch Launch, int Outside, int Exec)[]> SessionsAsync(TtydSessionManager manager, params string[] containers)
    {
        var sessions = new List<(TtydSession, ProcessLaunch, int, int)>();
        foreach (var (container, i) in containers.Select((c, i) => (c, i)))
        {
            var session = await manager.EnsureSessionAsync(container, "alice", "t1", Ct);
            var launch = _h.Launches[^1];
            var token = launch.Environment["TTYDPORTS_SESSION"];
            var (outside, exec) = (6000 + i, 7000 + i);
            _outside.Add(new MarkedProcess
            {
                Process = new ProcessIdentity(outside, (ulong)outside * 10),
                ParentProcessId = 1,
                Markers = launch.Environment.Where(e => e.Key.StartsWith("TTYDPORTS_", StringComparison.Ordinal)).ToDictionary(),
                OwnerUid = Native.geteuid(),
                ExecutablePath = "/usr/bin/tmux",
            });
            _h.Execs.Add(new MarkedProcess { Process = new ProcessIdentity(exec, 1), ParentProcessId = 1, Markers = new Dictionary<string, string> { ["TTYDPORTS_EXEC"] = token } });
            lock (_h.Alive)
            {
                _h.Alive.UnionWith([outside, exec]);
            }

            File.WriteAllText(launch.LogPath!, "ttyd's output");
            sessions.Add((session!, launch, outside, exec));
        }

        return [.. sessions];
    }

    private void AssertFullyStopped((TtydSession Session, ProcessLaunch Launch, int Outside, int Exec) s, TtydSessionManager manager)
    {
        Assert.Null(manager.FindSession(s.Session.Container));
        Assert.DoesNotContain(s.Session.ProcessId, AliveNow());
        Assert.DoesNotContain(s.Outside, AliveNow()); // step 3: its processes outside ttyd's tree
        Assert.DoesNotContain(s.Exec, AliveNow()); // step 4: its shell in the container
        Assert.Contains(_h.Ended, t => t.Marker == s.Launch.Environment["TTYDPORTS_SESSION"]);
        Assert.False(File.Exists(s.Launch.LogPath), "its files are deleted");
        Assert.DoesNotContain(s.Session.Port, _h.Reserved);
    }

    // A stop of the container c under way (a node delete whose ttyd is slow to leave): it holds c's gate.
    private (Task<CleanupResult> Delete, TaskCompletionSource Stopping, TaskCompletionSource Release) SlowStopOf(TtydSessionManager manager, TtydSession session)
    {
        var stopping = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        _h.Supervisor.Setup(s => s.StopAsync(It.IsAny<ProcessIdentity>(), It.IsAny<TimeSpan>(), It.IsAny<CancellationToken>()))
            .Returns(async (ProcessIdentity p, TimeSpan _, CancellationToken _) =>
            {
                if (p == session.Process)
                {
                    stopping.TrySetResult();
                    await release.Task;
                }

                lock (_h.Alive)
                {
                    return _h.Alive.Remove(p.ProcessId);
                }
            });
        return (manager.DeleteNodeAsync(session.Container, Ct), stopping, release);
    }

    [Fact]
    public async Task A_cancelled_batch_finishes_the_stop_of_every_session_it_had_halted_and_then_throws()
    {
        var manager = _h.Create();
        var s = await SessionsAsync(manager, "a", "b", "c");
        var (delete, stopping, release) = SlowStopOf(manager, s[2].Session);
        await stopping.Task;
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(Ct);

        var cleanup = manager.CleanupUserAsync("alice", cts.Token); // a and b at once; c's gate is busy
        await PollAsync(() => manager.FindSession("a") is null && manager.FindSession("b") is null);
        await cts.CancelAsync(); // the request was aborted

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => cleanup);
        AssertFullyStopped(s[0], manager);
        AssertFullyStopped(s[1], manager);
        Assert.Contains(s[2].Outside, AliveNow()); // c is the node delete's, still under way

        release.SetResult();
        Assert.Equal([s[2].Session], (await delete).Stopped);
        AssertFullyStopped(s[2], manager);
        Assert.Empty(AliveNow());
    }

    [Fact]
    public async Task An_uncancelled_batch_waits_for_a_busy_gate_and_stops_every_session()
    {
        var manager = _h.Create();
        var s = await SessionsAsync(manager, "a", "b", "c");
        var (delete, stopping, release) = SlowStopOf(manager, s[2].Session);
        await stopping.Task;

        var cleanup = manager.CleanupUserAsync("alice", Ct);
        await PollAsync(() => manager.FindSession("a") is null && manager.FindSession("b") is null);
        Assert.False(cleanup.IsCompleted); // waiting for c's gate
        release.SetResult();

        Assert.Equal(["a", "b"], (await cleanup).Stopped.Select(x => x.Container).Order()); // c was the node delete's
        Assert.Equal([s[2].Session], (await delete).Stopped);
        foreach (var session in s)
        {
            AssertFullyStopped(session, manager);
        }

        Assert.Empty(AliveNow());
    }

    [Fact]
    public async Task A_cancelled_batch_waiting_for_a_create_it_revoked_finishes_its_halted_sessions_and_the_create_still_stops_its_own()
    {
        var manager = _h.Create();
        var s = await SessionsAsync(manager, "a", "b", "c");
        var entered = Entered();
        var releaseStart = HoldStarts(entered);

        // The host asks for c with another command: c's terminal is replaced, the new one's start held (past cancelling).
        var replace = manager.EnsureSessionAsync("c", "alice", "t1", new TerminalRequest { Command = TerminalCommand.Of("/bin/ash") }, Ct).AsTask();
        await entered.Task;
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(Ct);
        var cleanup = manager.CleanupUserAsync("alice", cts.Token);
        await PollAsync(() => manager.FindSession("a") is null && manager.FindSession("b") is null);
        await cts.CancelAsync();

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => cleanup);
        AssertFullyStopped(s[0], manager);
        AssertFullyStopped(s[1], manager);

        releaseStart.SetResult();
        await Assert.ThrowsAsync<SessionCleanedUpException>(() => replace);
        AssertFullyStopped(s[2], manager); // replaced, before the cleanup began
        Assert.Empty(AliveNow()); // the replacement's own ttyd too
        Assert.Empty(manager.GetStatus().Sessions);
    }

    private static async Task PollAsync(Func<bool> condition)
    {
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(Ct);
        cts.CancelAfter(TimeSpan.FromSeconds(10));
        while (!condition())
        {
            await Task.Delay(1, cts.Token);
        }
    }
}
