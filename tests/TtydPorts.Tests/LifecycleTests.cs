using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.Metrics.Testing;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;
using Microsoft.Extensions.Time.Testing;
using Moq;
using System.Diagnostics.Metrics;

namespace TtydPorts.Tests;

public sealed class LifecycleTests : IDisposable
{
    private readonly ManagerHarness _h = new();
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    public void Dispose()
    {
        if (Directory.Exists(_h.Options.RuntimeDirectory))
        {
            Directory.Delete(_h.Options.RuntimeDirectory, recursive: true);
        }
    }

    private void Containers(params string[] names) =>
        _h.Runtime.Setup(i => i.ListContainersAsync(It.IsAny<CancellationToken>()))
            .ReturnsAsync([.. names.Select(_h.Info)]);

    [Fact]
    public async Task A_user_over_the_per_user_limit_gets_a_typed_refusal_and_nothing_starts()
    {
        _h.Options.MaxSessionsPerUser = 2;
        var manager = _h.Create();
        await manager.EnsureSessionAsync("a1", "alice", null, Ct);
        await manager.EnsureSessionAsync("a2", "alice", null, Ct);

        var error = await Assert.ThrowsAsync<SessionLimitExceededException>(() => manager.EnsureSessionAsync("a3", "alice", null, Ct).AsTask());

        Assert.Equal((SessionLimitScope.User, 2, "alice"), (error.Scope, error.Limit, error.UserId));
        Assert.Contains("'a3'", error.Message, StringComparison.Ordinal);
        Assert.Equal(2, _h.Launches.Count);
        Assert.NotNull(await manager.EnsureSessionAsync("b1", "bob", null, Ct));
        Assert.NotNull(await manager.EnsureSessionAsync("a1", "alice", null, Ct)); // reuse is never refused
    }

    [Fact]
    public async Task The_global_limit_refuses_new_sessions_until_one_is_stopped()
    {
        _h.Options.MaxSessions = 2;
        var manager = _h.Create();
        await manager.EnsureSessionAsync("a1", "alice", null, Ct);
        await manager.EnsureSessionAsync("b1", "bob", null, Ct);

        var error = await Assert.ThrowsAsync<SessionLimitExceededException>(() => manager.EnsureSessionAsync("c1", "carol", null, Ct).AsTask());
        Assert.Equal(SessionLimitScope.Global, error.Scope);

        await manager.DeleteNodeAsync("a1", Ct);
        Assert.NotNull(await manager.EnsureSessionAsync("c1", "carol", null, Ct));
    }

    [Fact]
    public async Task Concurrent_creates_for_one_user_never_exceed_the_limit()
    {
        _h.Options.MaxSessionsPerUser = 3;
        var gate = new TaskCompletionSource();
        _h.Supervisor.Setup(s => s.StartAsync(It.IsAny<ProcessLaunch>(), It.IsAny<CancellationToken>()))
            .Returns(async (ProcessLaunch launch, CancellationToken _) => { await gate.Task; return _h.Spawn(launch); });
        var manager = _h.Create();

        var calls = Enumerable.Range(0, 8).Select(i => manager.EnsureSessionAsync($"n{i}", "alice", null, Ct).AsTask()).ToArray();
        gate.SetResult();
        var outcomes = await Task.WhenAll(calls.Select(async c => { try { await c; return true; } catch (SessionLimitExceededException) { return false; } }));

        Assert.Equal(3, outcomes.Count(ok => ok));
        Assert.Equal(3, _h.Launches.Count);
    }

    [Fact]
    public async Task A_failed_start_gives_its_limit_slot_back()
    {
        _h.Options.MaxSessionsPerUser = 1;
        var first = true;
        _h.Supervisor.Setup(s => s.StartAsync(It.IsAny<ProcessLaunch>(), It.IsAny<CancellationToken>()))
            .Returns((ProcessLaunch launch, CancellationToken _) => first && !(first = false)
                ? Task.FromException<ProcessIdentity>(new ProcessLaunchException(LaunchFailure.NotExecutable, "no ttyd", null, ""))
                : Task.FromResult(_h.Spawn(launch)));
        var manager = _h.Create();

        await Assert.ThrowsAsync<TtydStartException>(() => manager.EnsureSessionAsync("a1", "alice", null, Ct).AsTask());
        Assert.Contains("no ttyd", manager.GetStatus().LastError, StringComparison.Ordinal);

        Assert.NotNull(await manager.EnsureSessionAsync("a1", "alice", null, Ct));
        Assert.Null(manager.GetStatus().LastError);
    }

    [Fact]
    public async Task Repair_waits_out_the_grace_period_before_stopping_a_session_whose_container_vanished()
    {
        _h.Options.ContainerGracePeriod = TimeSpan.FromSeconds(60);
        var manager = _h.Create();
        await manager.EnsureSessionAsync("kept", "alice", null, Ct);
        await manager.EnsureSessionAsync("gone", "alice", null, Ct);
        Containers("kept");

        Assert.Empty((await manager.RepairAsync(Ct)).Stopped);
        _h.Time.Advance(TimeSpan.FromSeconds(59));
        Assert.Empty((await manager.RepairAsync(Ct)).Stopped);
        _h.Time.Advance(TimeSpan.FromSeconds(1));
        var result = await manager.RepairAsync(Ct);

        Assert.Equal(["gone"], result.Stopped.Select(s => s.Container));
        Assert.Equal(["kept"], manager.GetStatus().Containers);
    }

    [Theory]
    [InlineData("paused")]
    [InlineData("Paused")] // engines' state names are compared ignoring case, as ContainerInfo.IsRunning does
    public async Task Repair_stops_after_the_grace_period_the_session_of_a_container_that_stopped_and_keeps_a_paused_ones(string pausedState)
    {
        _h.Options.ContainerGracePeriod = TimeSpan.FromSeconds(60);
        var manager = _h.Create();
        await manager.EnsureSessionAsync("running", "alice", null, Ct);
        await manager.EnsureSessionAsync("paused", "alice", null, Ct);
        await manager.EnsureSessionAsync("exited", "alice", null, Ct);
        _h.Runtime.Setup(i => i.ListContainersAsync(It.IsAny<CancellationToken>()))
            .ReturnsAsync([_h.Info("running"), _h.Info("paused") with { State = pausedState }, _h.Info("exited") with { State = "exited" }]);

        Assert.Empty((await manager.RepairAsync(Ct)).Stopped);
        _h.Time.Advance(TimeSpan.FromSeconds(60));
        var result = await manager.RepairAsync(Ct);

        Assert.Equal(["exited"], result.Stopped.Select(s => s.Container));
        Assert.Equal(["paused", "running"], manager.GetStatus().Containers.Order());
    }

    [Fact]
    public async Task A_container_that_comes_back_within_the_grace_period_keeps_its_terminal()
    {
        var manager = _h.Create();
        var session = await manager.EnsureSessionAsync("node", "alice", null, Ct);
        Containers();
        await manager.RepairAsync(Ct);
        _h.Time.Advance(TimeSpan.FromSeconds(30));
        Containers("node");
        await manager.RepairAsync(Ct);
        Containers();
        _h.Time.Advance(TimeSpan.FromSeconds(45));

        Assert.Empty((await manager.RepairAsync(Ct)).Stopped); // the grace period starts again from its last absence
        Assert.Same(session, await manager.EnsureSessionAsync("node", "alice", null, Ct));
    }

    [Fact]
    public async Task A_name_that_now_means_another_container_makes_its_session_stale_and_repair_stops_it_at_once()
    {
        var manager = _h.Create();
        var old = await manager.EnsureSessionAsync("node", "alice", null, Ct);
        var other = await manager.EnsureSessionAsync("other", "alice", null, Ct);
        Containers("node", "other");
        Assert.Empty((await manager.RepairAsync(Ct)).Stopped); // control: the same containers, nothing stale

        _h.Generations["node"] = 2; // removed and created again under the same name, within the grace period
        Containers("node", "other");
        var result = await manager.RepairAsync(Ct);

        Assert.Equal([old!], result.Stopped);
        Assert.DoesNotContain(old!.ProcessId, _h.Alive);
        Assert.Same(other, await manager.EnsureSessionAsync("other", "alice", null, Ct));
        var fresh = await manager.EnsureSessionAsync("node", "bob", null, Ct); // the new container's owner, no conflict with alice's
        Assert.NotEqual(old.ProcessId, fresh!.ProcessId);
        Assert.Equal(ManagerHarness.IdOf("node", 2), fresh.ContainerId);
        Assert.Equal(ManagerHarness.IdOf("node", 2), _h.Launches[^1].Arguments[^2]);
    }

    [Fact]
    public async Task A_destroyed_container_makes_its_session_stale_at_once_so_it_is_never_handed_out_again()
    {
        var manager = _h.Create();
        var old = await manager.EnsureSessionAsync("node", "alice", null, Ct);
        var other = await manager.EnsureSessionAsync("other", "alice", null, Ct);

        Assert.False(manager.MarkContainerRemoved(ManagerHarness.IdOf("node", 3))); // another id: nothing marked
        Assert.Same(old, await manager.EnsureSessionAsync("node", "alice", null, Ct));
        Assert.True(manager.MarkContainerRemoved(ManagerHarness.IdOf("node")));

        Assert.Null(manager.FindSession("node"));
        Assert.Same(other, manager.FindSession("other"));
        _h.Generations["node"] = 2;
        var fresh = await manager.EnsureSessionAsync("node", "alice", null, Ct);
        Assert.NotEqual(old!.ProcessId, fresh!.ProcessId);
        Assert.DoesNotContain(old.ProcessId, _h.Alive); // the slow path stopped the stale one before starting
        Assert.Equal(ManagerHarness.IdOf("node", 2), fresh.ContainerId);
    }

    [Fact]
    public async Task A_stale_session_is_stopped_by_repair_even_when_the_engine_does_not_answer()
    {
        var manager = _h.Create();
        var old = await manager.EnsureSessionAsync("node", "alice", null, Ct);
        var kept = await manager.EnsureSessionAsync("kept", "alice", null, Ct);
        _h.Runtime.Setup(i => i.ListContainersAsync(It.IsAny<CancellationToken>())).ThrowsAsync(new ContainerEngineException("down"));
        manager.MarkContainerRemoved(ManagerHarness.IdOf("node"));

        var result = await manager.RepairAsync(Ct);

        Assert.Equal([old!], result.Stopped);
        Assert.Contains(kept!.ProcessId, _h.Alive);
    }

    [Fact]
    public async Task An_engine_id_that_is_not_a_container_id_starts_nothing()
    {
        _h.Runtime.Setup(i => i.GetContainerAsync("node", It.IsAny<CancellationToken>()))
            .ReturnsAsync(new ContainerInfo { Id = "--privileged", Name = "node", State = "running", Labels = new Dictionary<string, string>() });

        var error = await Assert.ThrowsAsync<ContainerEngineException>(() => _h.Create().EnsureSessionAsync("node", "alice", null, Ct).AsTask());

        Assert.Contains("'--privileged'", error.Message, StringComparison.Ordinal);
        Assert.Empty(_h.Launches);
    }

    [Fact]
    public async Task Repair_drops_dead_sessions_even_when_the_engine_does_not_answer()
    {
        var manager = _h.Create();
        var dead = await manager.EnsureSessionAsync("dead", "alice", null, Ct);
        await manager.EnsureSessionAsync("alive", "alice", null, Ct);
        lock (_h.Alive) { _h.Alive.Remove(dead!.ProcessId); }
        _h.Runtime.Setup(i => i.ListContainersAsync(It.IsAny<CancellationToken>())).ThrowsAsync(new ContainerEngineException("engine down"));

        var result = await manager.RepairAsync(Ct);

        Assert.Equal(["dead"], result.Stopped.Select(s => s.Container));
        Assert.DoesNotContain(dead.Port, _h.Reserved);
        Assert.Equal(["alive"], manager.GetStatus().Containers);
    }

    [Fact]
    public async Task Idle_sessions_are_stopped_after_the_timeout_and_a_connected_client_keeps_one_alive()
    {
        _h.Options.IdleTimeout = TimeSpan.FromMinutes(5);
        var manager = _h.Create();
        var busy = await manager.EnsureSessionAsync("busy", "alice", null, Ct);
        await manager.EnsureSessionAsync("idle", "alice", null, Ct);
        Containers("busy", "idle");
        _h.Clients[busy!.Port] = 1;

        _h.Time.Advance(TimeSpan.FromMinutes(4));
        Assert.Empty((await manager.RepairAsync(Ct)).Stopped);
        _h.Time.Advance(TimeSpan.FromMinutes(1));
        var result = await manager.RepairAsync(Ct);

        Assert.Equal(["idle"], result.Stopped.Select(s => s.Container));
        _h.Clients.Clear();
        _h.Time.Advance(TimeSpan.FromMinutes(5));
        Assert.Equal(["busy"], (await manager.RepairAsync(Ct)).Stopped.Select(s => s.Container));
    }

    [Fact]
    public async Task Without_an_idle_timeout_sessions_without_clients_are_kept()
    {
        var manager = _h.Create();
        await manager.EnsureSessionAsync("idle", "alice", null, Ct);
        Containers("idle");
        _h.Time.Advance(TimeSpan.FromDays(30));

        Assert.Empty((await manager.RepairAsync(Ct)).Stopped);
        Assert.Equal(0, _h.ClientCounts);
    }

    [Fact]
    public async Task Stopping_a_session_also_stops_what_its_shell_left_inside_the_container()
    {
        var manager = _h.Create();
        var session = await manager.EnsureSessionAsync("node", "alice", null, Ct);
        var token = _h.Launches[0].Environment["TTYDPORTS_SESSION"];
        lock (_h.Alive) { _h.Alive.UnionWith([7001, 7002, 7003]); }
        _h.Execs.Add(new MarkedProcess { Process = new ProcessIdentity(7001, 1), ParentProcessId = 1, Markers = new Dictionary<string, string> { ["TTYDPORTS_EXEC"] = token } });
        _h.Execs.Add(new MarkedProcess { Process = new ProcessIdentity(7002, 1), ParentProcessId = 7001, Markers = new Dictionary<string, string> { ["TTYDPORTS_EXEC"] = token } });
        _h.Execs.Add(new MarkedProcess { Process = new ProcessIdentity(7003, 1), ParentProcessId = 1, Markers = new Dictionary<string, string> { ["TTYDPORTS_EXEC"] = "another-session" } });

        await manager.DeleteNodeAsync("node", Ct);

        Assert.DoesNotContain(session!.ProcessId, _h.Alive);
        Assert.Equal([7003], _h.Alive);
        Assert.Contains("TTYDPORTS_EXEC=" + token, _h.Launches[0].Arguments);
    }

    [Fact]
    public async Task Metrics_count_starts_by_result_and_stops_by_reason()
    {
        using var services = new ServiceCollection().AddMetrics().BuildServiceProvider();
        var meters = services.GetRequiredService<IMeterFactory>();
        using var starts = new MetricCollector<long>(meters, "TtydPorts", "ttydports.session.starts");
        using var stops = new MetricCollector<long>(meters, "TtydPorts", "ttydports.session.stops");
        using var duration = new MetricCollector<double>(meters, "TtydPorts", "ttydports.session.start.duration");
        using var active = new MetricCollector<int>(meters, "TtydPorts", "ttydports.sessions.active");
        _h.Options.MaxSessions = 1;
        var manager = _h.Create(meters);

        await manager.EnsureSessionAsync("a", "alice", null, Ct);
        await manager.EnsureSessionAsync("a", "alice", null, Ct);
        await Assert.ThrowsAsync<SessionLimitExceededException>(() => manager.EnsureSessionAsync("b", "alice", null, Ct).AsTask());
        active.RecordObservableInstruments();
        await manager.CleanupUserAsync("alice", Ct);

        Assert.Equal(["created", "reused", "refused"], starts.GetMeasurementSnapshot().Select(m => (string)m.Tags["result"]!));
        Assert.Equal("user", Assert.Single(stops.GetMeasurementSnapshot()).Tags["reason"]);
        Assert.Single(duration.GetMeasurementSnapshot());
        Assert.Equal(1, active.LastMeasurement!.Value);
    }

    [Fact]
    public async Task The_repair_service_runs_a_pass_each_interval_and_at_once_when_a_container_is_destroyed()
    {
        var time = new FakeTimeProvider();
        var manager = new Mock<ITtydSessionManager>();
        var passes = 0;
        manager.Setup(m => m.RepairAsync(It.IsAny<CancellationToken>())).Callback(() => Interlocked.Increment(ref passes)).ReturnsAsync(CleanupResult.Empty);
        var removals = System.Threading.Channels.Channel.CreateUnbounded<ContainerInfo>();
        var inventory = new Mock<IContainerInventory>();
        inventory.As<IContainerEventSource>().Setup(e => e.WatchRemovedContainersAsync(It.IsAny<CancellationToken>()))
            .Returns((CancellationToken ct) => removals.Reader.ReadAllAsync(ct));
        var options = Options.Create(new TtydSessionOptions { RepairInterval = TimeSpan.FromSeconds(30) });
        using var service = new TtydRepairService(manager.Object, inventory.Object, options, time);

        await service.StartAsync(Ct);
        await PollAsync(() => Volatile.Read(ref passes) == 1); // the first pass at once: adoption, and what it cannot hand out
        var first = Volatile.Read(ref passes);

        // The loop registers its wait on the fake clock asynchronously, so the clock is moved until a pass ran.
        await PollAsync(() => { time.Advance(TimeSpan.FromSeconds(30)); return Volatile.Read(ref passes) > first; });
        var afterInterval = Volatile.Read(ref passes);
        await removals.Writer.WriteAsync(ManagerHarness.Container("node1", "destroyed"), Ct);
        await PollAsync(() => Volatile.Read(ref passes) > afterInterval); // the clock stands still: only the event can cause it
        await service.StopAsync(Ct);

        manager.Verify(m => m.MarkContainerRemoved(ManagerHarness.IdOf("node1")), Times.Once); // stale before the pass runs
        manager.Verify(m => m.CleanupAllAsync(It.IsAny<CancellationToken>()), Times.Never); // sessions outlive the host by default
    }

    [Fact]
    public async Task The_repair_service_keeps_the_managers_guesses_current_from_the_engines_events_asking_one_name_at_a_time_and_past_any_failure()
    {
        var manager = new Mock<ITtydSessionManager>();
        manager.Setup(m => m.RepairAsync(It.IsAny<CancellationToken>())).ReturnsAsync(CleanupResult.Empty);
        var guesses = manager.As<IContainerGuesses>();
        var learnt = new List<string>();
        var inFlight = 0;
        var mostInFlight = 0;
        var slow = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        guesses.Setup(g => g.LearnAsync(It.IsAny<string>(), It.IsAny<CancellationToken>())).Returns(async (string name, CancellationToken _) =>
        {
            mostInFlight = Math.Max(mostInFlight, Interlocked.Increment(ref inFlight));
            if (name == "slow")
            {
                await slow.Task;
            }

            Interlocked.Decrement(ref inFlight);
            lock (learnt)
            {
                learnt.Add(name);
            }

            return name switch
            {
                "down" => throw new ContainerEngineException("engine down"),
                "odd" => throw new InvalidOperationException("an inventory of the host's own failed otherwise"),
                _ => ManagerHarness.Container(name),
            };
        });
        var events = System.Threading.Channels.Channel.CreateUnbounded<ContainerEvent>();
        var inventory = new Mock<IContainerInventory>();
        inventory.As<IContainerChangeSource>().Setup(e => e.WatchChangesAsync(It.IsAny<long?>(), It.IsAny<CancellationToken>()))
            .Returns((long? _, CancellationToken ct) => events.Reader.ReadAllAsync(ct));
        var options = Options.Create(new TtydSessionOptions { RepairInterval = TimeSpan.FromHours(1) });
        using var service = new TtydRepairService(manager.Object, inventory.Object, options, new FakeTimeProvider());
        await service.StartAsync(Ct);

        await events.Writer.WriteAsync(new ContainerEvent(ContainerEventKind.Running, ManagerHarness.IdOf("slow"), "slow"), Ct);
        await events.Writer.WriteAsync(new ContainerEvent(ContainerEventKind.Running, ManagerHarness.IdOf("down"), "down"), Ct);
        await events.Writer.WriteAsync(new ContainerEvent(ContainerEventKind.Running, ManagerHarness.IdOf("odd"), "odd"), Ct);
        await events.Writer.WriteAsync(new ContainerEvent(ContainerEventKind.Running, ManagerHarness.IdOf("x"), "bad name;"), Ct);
        await events.Writer.WriteAsync(new ContainerEvent(ContainerEventKind.Stopped, ManagerHarness.IdOf("stopped"), "stopped"), Ct);
        await events.Writer.WriteAsync(new ContainerEvent(ContainerEventKind.Removed, ManagerHarness.IdOf("gone"), "gone"), Ct);
        await events.Writer.WriteAsync(new ContainerEvent(ContainerEventKind.Running, ManagerHarness.IdOf("node"), "node"), Ct);

        // A removal is not held up by a name the engine is slow to answer about.
        await PollAsync(() => manager.Invocations.Any(i => i.Method.Name == nameof(ITtydSessionManager.MarkContainerRemoved)));
        Assert.Empty(learnt);
        slow.SetResult();

        // Then each started name in turn, the engine's failure on one not ending the others; an invalid name is not asked.
        await PollAsync(() => { lock (learnt) { return learnt.Count == 4; } });
        await service.StopAsync(Ct);
        Assert.Equal(["slow", "down", "odd", "node"], learnt);
        Assert.Equal(1, mostInFlight);
        foreach (var started in new[] { "slow", "down", "odd", "node", "x" })
        {
            guesses.Verify(g => g.Drop(ManagerHarness.IdOf(started)), Times.Once); // a rename's old name: dropped by id
        }

        guesses.Verify(g => g.Drop(ManagerHarness.IdOf("stopped")), Times.Once);
        guesses.Verify(g => g.Drop(ManagerHarness.IdOf("gone")), Times.Never);
        manager.Verify(m => m.MarkContainerRemoved(ManagerHarness.IdOf("gone")), Times.Once);
        manager.Verify(m => m.MarkContainerRemoved(ManagerHarness.IdOf("stopped")), Times.Never);
    }

    // The engine's stream breaks (a keepalive timeout, an engine restart) or stays quiet for EngineLiveness.QuietLimit
    // (Docker sends nothing while idle; something between may answer for a dead engine): the service subscribes again
    // from the time of the last event or subscription it saw, so that nothing reported meanwhile is lost, and says so.
    [Fact]
    public async Task The_repair_service_subscribes_again_from_the_last_event_seen_after_the_stream_breaks_or_stays_quiet()
    {
        var time = new FakeTimeProvider();
        var manager = new Mock<ITtydSessionManager>();
        manager.Setup(m => m.RepairAsync(It.IsAny<CancellationToken>())).ReturnsAsync(CleanupResult.Empty);
        var subscriptions = new System.Collections.Concurrent.ConcurrentQueue<(long? Since, System.Threading.Channels.Channel<ContainerEvent> Events)>();
        var inventory = new Mock<IContainerInventory>();
        inventory.As<IContainerChangeSource>().Setup(e => e.WatchChangesAsync(It.IsAny<long?>(), It.IsAny<CancellationToken>()))
            .Returns((long? since, CancellationToken ct) =>
            {
                var events = System.Threading.Channels.Channel.CreateUnbounded<ContainerEvent>();
                subscriptions.Enqueue((since, events));
                return events.Reader.ReadAllAsync(ct);
            });
        var logs = new Microsoft.Extensions.Logging.Testing.FakeLogger<TtydRepairService>();
        var options = Options.Create(new TtydSessionOptions { RepairInterval = TimeSpan.FromHours(1) });
        using var service = new TtydRepairService(manager.Object, inventory.Object, options, time, logs);
        await service.StartAsync(Ct);
        (long? Since, System.Threading.Channels.Channel<ContainerEvent> Events) Subscription(int n) => subscriptions.ElementAt(n - 1);

        // The first from now; it sees the subscription's time, then a removal, then the stream breaks.
        await PollAsync(() => subscriptions.Count == 1);
        Assert.Null(Subscription(1).Since);
        await Subscription(1).Events.Writer.WriteAsync(new ContainerEvent(ContainerEventKind.Subscribed, "", "") { TimeNano = 1_000 }, Ct);
        await Subscription(1).Events.Writer.WriteAsync(new ContainerEvent(ContainerEventKind.Removed, ManagerHarness.IdOf("a"), "a") { TimeNano = 2_000 }, Ct);
        await PollAsync(() => manager.Invocations.Any(i => i.Method.Name == nameof(ITtydSessionManager.MarkContainerRemoved)));
        Subscription(1).Events.Writer.Complete(new ContainerEngineException("The event stream broke: Connection timed out"));

        // After the retry delay, from that removal's time; back, it says so.
        await PollAsync(() => { time.Advance(TimeSpan.FromSeconds(1)); return subscriptions.Count == 2; });
        Assert.Equal(2_000, Subscription(2).Since);
        await Subscription(2).Events.Writer.WriteAsync(new ContainerEvent(ContainerEventKind.Subscribed, "", "") { TimeNano = 5_000 }, Ct);
        await PollAsync(() => logs.Collector.GetSnapshot().Any(r => r.Id.Id == 120));

        // On a resume the subscription's time (5000) does not move the point: the replay that follows it does, event by
        // event, so a stream that breaks again in the middle of the replay resumes after the last replayed event, not
        // after the subscription (which would lose the rest of the replay). Then nothing for a while.
        await Subscription(2).Events.Writer.WriteAsync(new ContainerEvent(ContainerEventKind.Stopped, ManagerHarness.IdOf("b"), "b") { TimeNano = 3_000 }, Ct);
        await PollAsync(() => logs.Collector.GetSnapshot().Any(r => r.Id.Id == 101 && r.Message.Contains(ManagerHarness.IdOf("b"), StringComparison.Ordinal)));
        time.Advance(EngineLiveness.QuietLimit - TimeSpan.FromSeconds(1));
        Assert.Equal(2, subscriptions.Count);
        await PollAsync(() => { time.Advance(TimeSpan.FromSeconds(1)); return subscriptions.Count == 3; });
        Assert.Equal(3_000, Subscription(3).Since);
        await service.StopAsync(Ct);

        var records = logs.Collector.GetSnapshot();
        Assert.Single(records, r => r.Id.Id == 10); // the failure, as before
        Assert.Contains("after 1 failed attempt(s)", Assert.Single(records, r => r.Id.Id == 120).Message, StringComparison.Ordinal);
        Assert.Contains($"No container event for {EngineLiveness.QuietLimit}", Assert.Single(records, r => r.Id.Id == 121).Message, StringComparison.Ordinal);
        manager.Verify(m => m.MarkContainerRemoved(ManagerHarness.IdOf("a")), Times.Once);
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task A_shutdown_whose_timeout_passes_during_its_cleanup_ends_quietly_and_a_cancellation_from_elsewhere_is_thrown_on(bool shutdownTimedOut)
    {
        using var shutdown = new CancellationTokenSource();
        var manager = new Mock<ITtydSessionManager>();
        manager.Setup(m => m.RepairAsync(It.IsAny<CancellationToken>())).ReturnsAsync(CleanupResult.Empty);
        manager.Setup(m => m.CleanupAllAsync(It.IsAny<CancellationToken>())).Returns((CancellationToken token) =>
        {
            // The manager finishes the stops that began and then throws the cancellation: either the host's (its shutdown
            // timeout passed meanwhile) or, the control, one of its own that is no shutdown's business.
            if (shutdownTimedOut)
            {
                shutdown.Cancel();
                return Task.FromException<CleanupResult>(new OperationCanceledException(token));
            }

            return Task.FromException<CleanupResult>(new OperationCanceledException("cancelled elsewhere"));
        });
        var options = Options.Create(new TtydSessionOptions { RepairInterval = TimeSpan.FromHours(1), StopSessionsOnShutdown = true });
        using var service = new TtydRepairService(manager.Object, Mock.Of<IContainerInventory>(), options, new FakeTimeProvider());
        await service.StartAsync(Ct);

        var stop = service.StopAsync(shutdown.Token);

        if (shutdownTimedOut)
        {
            await stop;
        }
        else
        {
            Assert.Equal("cancelled elsewhere", (await Assert.ThrowsAsync<OperationCanceledException>(() => stop)).Message);
        }

        manager.Verify(m => m.CleanupAllAsync(It.IsAny<CancellationToken>()), Times.Once);
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

public sealed class PortCooldownTests
{
    private static PortAllocator Allocator(FakeTimeProvider time, int start, int end) =>
        new(Options.Create(new TtydSessionOptions { PortRangeStart = start, PortRangeEnd = end, PortCooldown = TimeSpan.FromSeconds(30) }), time);

    [Fact]
    public void A_freed_port_rests_before_it_is_handed_out_again()
    {
        var time = new FakeTimeProvider();
        using var ports = Allocator(time, 47310, 47311);
        Assert.True(ports.TryAcquire(out var a));
        Assert.True(ports.TryAcquire(out var b));
        ports.Release(b);
        time.Advance(TimeSpan.FromSeconds(20));
        ports.Release(a);
        time.Advance(TimeSpan.FromSeconds(15));

        // Next-fit alone would give a (the cursor is on it); a is still cooling, b has rested.
        Assert.True(ports.TryAcquire(out var next));
        Assert.Equal(b, next);
    }

    [Fact]
    public void A_cooling_port_is_handed_out_when_nothing_else_is_free()
    {
        var time = new FakeTimeProvider();
        using var ports = Allocator(time, 47320, 47320);
        Assert.True(ports.TryAcquire(out var only));
        ports.Release(only);

        Assert.True(ports.TryAcquire(out var again));
        Assert.Equal(only, again);
        Assert.False(ports.TryAcquire(out _));
    }
}
