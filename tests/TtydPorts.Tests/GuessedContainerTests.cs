using System.Diagnostics.Metrics;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.Metrics.Testing;
using Moq;

namespace TtydPorts.Tests;

/// <summary>
/// A create on a container seen before starts its ttyd while the engine answers, and keeps it only when the answer
/// confirms the container; these tests hold the engine's answer back to see both sides of it. Socket mode (the proxy's)
/// unless a test says otherwise: in direct mode the start is prepared on the guess and ttyd spawned after the answer.
/// </summary>
public sealed class GuessedContainerTests : IDisposable
{
    private readonly ManagerHarness _h = new();
    private readonly ServiceProvider _services = new ServiceCollection().AddMetrics().BuildServiceProvider();
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    public GuessedContainerTests() => _h.Options.ListenMode = TtydListenMode.UnixSocket;

    public void Dispose()
    {
        _services.Dispose();
        if (Directory.Exists(_h.Options.RuntimeDirectory))
        {
            Directory.Delete(_h.Options.RuntimeDirectory, recursive: true);
        }
    }

    // The container's first create answers at once (it is then "seen"); its session is deleted; the next lookup waits.
    private async Task<(TtydSessionManager Manager, TaskCompletionSource<ContainerInfo?> Answer)> SeenThenPendingAsync(string name, IMeterFactory? meters = null)
    {
        var manager = _h.Create(meters);
        await manager.EnsureSessionAsync(name, "alice", null, Ct);
        await manager.DeleteNodeAsync(name, Ct);
        var answer = new TaskCompletionSource<ContainerInfo?>(TaskCreationOptions.RunContinuationsAsynchronously);
        _h.Runtime.Setup(i => i.GetContainerAsync(name, It.IsAny<CancellationToken>())).Returns(answer.Task);
        return (manager, answer);
    }

    // Alice may hold one session and holds one (for "other"); the container was seen and its next lookup waits; starts counted.
    private async Task<(TtydSessionManager Manager, TaskCompletionSource<ContainerInfo?> Answer, MetricCollector<long> Starts)> AtHerLimitThenPendingAsync(string name)
    {
        var meters = _services.GetRequiredService<IMeterFactory>();
        var starts = new MetricCollector<long>(meters, "TtydPorts", "ttydports.session.starts");
        _h.Options.MaxSessionsPerUser = 1;
        var (manager, answer) = await SeenThenPendingAsync(name, meters);
        await manager.EnsureSessionAsync("other", "alice", null, Ct);
        return (manager, answer, starts);
    }

    // Direct mode: the container was seen, its next lookup waits, and a create is under way on the guess, which took a port
    // (the control for each test's "given back") but spawned nothing.
    private async Task<(TtydSessionManager Manager, TaskCompletionSource<ContainerInfo?> Answer, Task<TtydSession?> Ensure)> DirectCreateOnGuessAsync(
        CancellationToken cancellationToken, IMeterFactory? meters = null)
    {
        _h.Options.ListenMode = TtydListenMode.Tcp;
        var (manager, answer) = await SeenThenPendingAsync("node", meters);
        var ensure = manager.EnsureSessionAsync("node", "alice", null, cancellationToken).AsTask();
        Assert.Single(_h.Reserved);
        Assert.Single(_h.Launches);
        Assert.False(ensure.IsCompleted);
        return (manager, answer, ensure);
    }

    private bool IsAlive(int pid)
    {
        lock (_h.Alive)
        {
            return _h.Alive.Contains(pid);
        }
    }

    [Fact]
    public async Task A_container_seen_before_gets_its_ttyd_started_while_the_engine_answers_and_kept_once_the_answer_confirms_it()
    {
        var (manager, answer) = await SeenThenPendingAsync("node");

        var ensure = manager.EnsureSessionAsync("node", "alice", null, Ct).AsTask();

        // Started before the answer, and not handed out before it: no session to find, none in the status.
        Assert.Equal(2, _h.Launches.Count);
        Assert.Contains(ManagerHarness.IdOf("node"), _h.Launches[1].Arguments);
        Assert.False(ensure.IsCompleted);
        Assert.Null(manager.FindSession("node"));
        Assert.Empty(manager.GetStatus().Containers);

        answer.SetResult(_h.Info("node"));
        var session = await ensure;

        Assert.Equal(ManagerHarness.IdOf("node"), session!.ContainerId);
        Assert.Equal(2, _h.Launches.Count);
        Assert.True(IsAlive(session.ProcessId));
        Assert.Equal(["node"], manager.GetStatus().Containers);
    }

    [Fact]
    public async Task A_container_replaced_under_its_name_gets_a_terminal_for_the_new_one_and_the_guessed_ttyd_is_stopped()
    {
        var (manager, answer) = await SeenThenPendingAsync("node");
        var ensure = manager.EnsureSessionAsync("node", "alice", null, Ct).AsTask();
        Assert.Equal(2, _h.Launches.Count);
        var guessed = _h.Launches[1];

        answer.SetResult(ManagerHarness.Container("node", generation: 2));
        var session = await ensure;

        Assert.Equal(ManagerHarness.IdOf("node", 2), session!.ContainerId);
        Assert.Equal(3, _h.Launches.Count);
        Assert.Contains(ManagerHarness.IdOf("node", 2), _h.Launches[2].Arguments);
        Assert.DoesNotContain(ManagerHarness.IdOf("node"), _h.Launches[2].Arguments);
        Assert.Equal([session.ProcessId], _h.Alive);
        Assert.Contains(ManagerHarness.IdOf("node"), guessed.Arguments);
        Assert.Equal(["node"], manager.GetStatus().Containers);
    }

    [Fact]
    public async Task A_container_gone_since_it_was_seen_is_not_found_and_leaves_nothing()
    {
        _h.Options.MaxSessionsPerUser = 1;
        var (manager, answer) = await SeenThenPendingAsync("node");
        var ended = _h.Ended.Count; // the first session's stop
        var ensure = manager.EnsureSessionAsync("node", "alice", null, Ct).AsTask();
        Assert.Equal(2, _h.Launches.Count);

        answer.SetResult(null);

        await Assert.ThrowsAsync<ContainerNotFoundException>(() => ensure);
        Assert.Empty(_h.Alive);
        Assert.Empty(manager.GetStatus().Containers);
        Assert.Equal(ended, _h.Ended.Count); // nothing could have reached the guessed ttyd: no sweep of the container

        // The user's one slot was given back: another container starts.
        Assert.NotNull(await manager.EnsureSessionAsync("other", "alice", null, Ct));
    }

    [Fact]
    public async Task An_engine_that_fails_to_answer_fails_the_create_and_the_guessed_ttyd_is_stopped()
    {
        var (manager, answer) = await SeenThenPendingAsync("node");
        var ensure = manager.EnsureSessionAsync("node", "alice", null, Ct).AsTask();
        Assert.Equal(2, _h.Launches.Count);

        answer.SetException(new ContainerEngineException("engine down"));

        var error = await Assert.ThrowsAsync<ContainerEngineException>(() => ensure);
        Assert.Equal("engine down", error.Message);
        Assert.Empty(_h.Alive);
        Assert.Empty(manager.GetStatus().Containers);
    }

    [Fact]
    public async Task A_refusal_on_a_wrong_guess_gives_way_to_the_engines_answer_and_is_counted_once()
    {
        // Alice is at her limit: on the guess the create is refused for that, but the container is gone, which decides.
        var (manager, answer, starts) = await AtHerLimitThenPendingAsync("node");
        var ensure = manager.EnsureSessionAsync("node", "alice", null, Ct).AsTask();
        Assert.False(ensure.IsCompleted);

        answer.SetResult(null);

        await Assert.ThrowsAsync<ContainerNotFoundException>(() => ensure);
        Assert.Equal(["created", "created", "refused"], starts.GetMeasurementSnapshot().Select(m => (string)m.Tags["result"]!));
        Assert.Equal(2, _h.Launches.Count); // node's first session and other's: nothing for the refused one
    }

    [Fact]
    public async Task An_engine_that_fails_after_a_refusal_on_the_guess_fails_the_create_and_is_counted_once_as_failed()
    {
        var (manager, answer, starts) = await AtHerLimitThenPendingAsync("node");
        var ensure = manager.EnsureSessionAsync("node", "alice", null, Ct).AsTask();

        answer.SetException(new ContainerEngineException("engine down"));

        Assert.Equal("engine down", (await Assert.ThrowsAsync<ContainerEngineException>(() => ensure)).Message);
        Assert.Equal(["created", "created", "failed"], starts.GetMeasurementSnapshot().Select(m => (string)m.Tags["result"]!));
    }

    [Fact]
    public async Task A_refusal_on_a_confirmed_guess_stands()
    {
        _h.Options.MaxSessionsPerUser = 1;
        var (manager, answer) = await SeenThenPendingAsync("node");
        await manager.EnsureSessionAsync("other", "alice", null, Ct);
        var ensure = manager.EnsureSessionAsync("node", "alice", null, Ct).AsTask();

        answer.SetResult(_h.Info("node"));

        await Assert.ThrowsAsync<SessionLimitExceededException>(() => ensure);
        Assert.Equal(2, _h.Launches.Count); // node's first session and other's: nothing for the refused one
    }

    [Fact]
    public async Task A_container_the_engine_reported_removed_is_not_guessed()
    {
        var (manager, answer) = await SeenThenPendingAsync("node");
        manager.MarkContainerRemoved(ManagerHarness.IdOf("node"));

        var ensure = manager.EnsureSessionAsync("node", "alice", null, Ct).AsTask();

        Assert.Single(_h.Launches);
        answer.SetResult(ManagerHarness.Container("node", generation: 2));
        Assert.Equal(ManagerHarness.IdOf("node", 2), (await ensure)!.ContainerId);
        Assert.Equal(2, _h.Launches.Count);
    }

    [Fact]
    public async Task A_container_in_the_repair_passs_list_has_a_guess_at_its_first_create_and_one_gone_from_the_list_has_none()
    {
        var manager = _h.Create();
        _h.Runtime.Setup(i => i.ListContainersAsync(It.IsAny<CancellationToken>())).ReturnsAsync([_h.Info("listed"), _h.Info("dropped")]);
        await manager.RepairAsync(Ct);
        _h.Runtime.Setup(i => i.ListContainersAsync(It.IsAny<CancellationToken>())).ReturnsAsync([_h.Info("listed")]);
        await manager.RepairAsync(Ct);
        var listed = new TaskCompletionSource<ContainerInfo?>(TaskCreationOptions.RunContinuationsAsynchronously);
        var dropped = new TaskCompletionSource<ContainerInfo?>(TaskCreationOptions.RunContinuationsAsynchronously);
        _h.Runtime.Setup(i => i.GetContainerAsync("listed", It.IsAny<CancellationToken>())).Returns(listed.Task);
        _h.Runtime.Setup(i => i.GetContainerAsync("dropped", It.IsAny<CancellationToken>())).Returns(dropped.Task);

        var first = manager.EnsureSessionAsync("listed", "alice", null, Ct).AsTask();
        var other = manager.EnsureSessionAsync("dropped", "alice", null, Ct).AsTask();

        Assert.Single(_h.Launches); // the listed one's, started before its answer
        listed.SetResult(_h.Info("listed"));
        dropped.SetResult(_h.Info("dropped"));
        Assert.Equal(ManagerHarness.IdOf("listed"), (await first)!.ContainerId);
        Assert.Equal(ManagerHarness.IdOf("dropped"), (await other)!.ContainerId);
        Assert.Equal(2, _h.Launches.Count);
    }

    [Fact]
    public async Task An_answer_that_refutes_the_guess_ends_a_start_still_waiting_for_its_ttyd()
    {
        var (manager, answer) = await SeenThenPendingAsync("node");
        var cancelled = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var starts = 0;
        _h.Supervisor.Setup(p => p.StartAsync(It.IsAny<ProcessLaunch>(), It.IsAny<CancellationToken>()))
            .Returns(async (ProcessLaunch launch, CancellationToken token) =>
            {
                if (Interlocked.Increment(ref starts) > 1)
                {
                    return _h.Spawn(launch);
                }

                // The guessed ttyd never becomes ready: only the refuting answer ends its wait.
                using (token.Register(() => cancelled.TrySetResult()))
                {
                    await Task.Delay(Timeout.Infinite, token);
                }

                return default;
            });
        var ensure = manager.EnsureSessionAsync("node", "alice", null, Ct).AsTask();
        Assert.False(cancelled.Task.IsCompleted);

        answer.SetResult(ManagerHarness.Container("node", generation: 2));

        await cancelled.Task.WaitAsync(TimeSpan.FromSeconds(30), Ct);
        Assert.Equal(ManagerHarness.IdOf("node", 2), (await ensure)!.ContainerId);
        Assert.Equal(2, starts);
    }

    [Fact]
    public async Task A_create_cancelled_while_the_engine_has_not_answered_stops_the_guessed_ttyd_and_gives_back_the_users_slot()
    {
        _h.Options.MaxSessionsPerUser = 1;
        var (manager, _) = await SeenThenPendingAsync("node");
        using var cancel = CancellationTokenSource.CreateLinkedTokenSource(Ct);
        var ensure = manager.EnsureSessionAsync("node", "alice", null, cancel.Token).AsTask();
        Assert.Equal(2, _h.Launches.Count);

        await cancel.CancelAsync();

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => ensure);
        Assert.Empty(_h.Alive);
        Assert.Empty(manager.GetStatus().Containers);
        Assert.NotNull(await manager.EnsureSessionAsync("other", "alice", null, Ct));
    }

    [Fact]
    public async Task A_removal_reported_while_a_lookup_is_under_way_is_not_undone_by_its_answer()
    {
        var (manager, answer) = await SeenThenPendingAsync("node");
        var lookup = new TaskCompletionSource<ContainerInfo?>(TaskCreationOptions.RunContinuationsAsynchronously);
        _h.Runtime.Setup(i => i.GetContainerAsync("node", It.IsAny<CancellationToken>())).Returns(lookup.Task);
        var first = manager.EnsureSessionAsync("node", "alice", null, Ct).AsTask();

        // Removed while the engine's (older) answer is on its way: that answer must not bring the guess back, and the create
        // it answered is "not found", leaving nothing (the removal could not mark a session that was in no slot yet).
        manager.MarkContainerRemoved(ManagerHarness.IdOf("node"));
        lookup.SetResult(_h.Info("node"));
        await Assert.ThrowsAsync<ContainerNotFoundException>(() => first);
        Assert.Empty(_h.Alive);
        Assert.Empty(_h.Reserved);
        Assert.Empty(manager.GetStatus().Containers);
        _h.Runtime.Setup(i => i.GetContainerAsync("node", It.IsAny<CancellationToken>())).Returns(answer.Task);
        var launches = _h.Launches.Count;

        var second = manager.EnsureSessionAsync("node", "alice", null, Ct).AsTask();

        Assert.Equal(launches, _h.Launches.Count);
        answer.SetResult(ManagerHarness.Container("node", generation: 2));
        Assert.Equal(ManagerHarness.IdOf("node", 2), (await second)!.ContainerId);
    }

    [Fact]
    public async Task In_direct_mode_the_start_on_a_guess_is_prepared_while_the_engine_answers_and_ttyd_spawned_only_after_it()
    {
        // A TCP ttyd's credential is on its command line, which local users can read: no ttyd before the answer, but its
        // port is taken and its launch built.
        var (_, answer, ensure) = await DirectCreateOnGuessAsync(Ct);

        answer.SetResult(_h.Info("node"));
        var session = await ensure;
        Assert.Equal(ManagerHarness.IdOf("node"), session!.ContainerId);
        Assert.Equal(2, _h.Launches.Count);
        Assert.Equal([session.Port], _h.Reserved);
    }

    [Fact]
    public async Task In_direct_mode_a_wrong_guess_spawns_only_the_answers_container_and_gives_its_port_back()
    {
        var (_, answer, ensure) = await DirectCreateOnGuessAsync(Ct);

        answer.SetResult(ManagerHarness.Container("node", generation: 2));
        var session = await ensure;

        Assert.Equal(ManagerHarness.IdOf("node", 2), session!.ContainerId);
        Assert.Equal(2, _h.Launches.Count); // the guess's launch was never spawned
        Assert.DoesNotContain(ManagerHarness.IdOf("node"), _h.Launches[1].Arguments);
        Assert.Equal([session.Port], _h.Reserved);
        Assert.Equal([session.ProcessId], _h.Alive);
    }

    [Fact]
    public async Task In_direct_mode_a_container_gone_since_it_was_seen_is_not_found_and_nothing_is_spawned_or_reserved()
    {
        var (manager, answer, ensure) = await DirectCreateOnGuessAsync(Ct);

        answer.SetResult(null);

        await Assert.ThrowsAsync<ContainerNotFoundException>(() => ensure);
        Assert.Single(_h.Launches);
        Assert.Empty(_h.Reserved);
        Assert.Empty(_h.Alive);
        Assert.Empty(manager.GetStatus().Containers);
    }

    [Fact]
    public async Task In_direct_mode_a_create_cancelled_while_the_engine_has_not_answered_spawns_nothing_and_gives_back_the_port_and_the_users_slot()
    {
        _h.Options.MaxSessionsPerUser = 1;
        var meters = _services.GetRequiredService<IMeterFactory>();
        using var starts = new MetricCollector<long>(meters, "TtydPorts", "ttydports.session.starts");
        using var cancel = CancellationTokenSource.CreateLinkedTokenSource(Ct);
        var (manager, answer, ensure) = await DirectCreateOnGuessAsync(cancel.Token, meters);
        var counted = starts.GetMeasurementSnapshot().Count;

        await cancel.CancelAsync();

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => ensure);
        Assert.Single(_h.Launches);
        Assert.Empty(_h.Reserved);
        Assert.Equal(counted, starts.GetMeasurementSnapshot().Count); // not counted, as a create cancelled without a guess
        answer.SetResult(_h.Info("node"));
        Assert.NotNull(await manager.EnsureSessionAsync("other", "alice", null, Ct)); // her one slot is free
    }

    [Fact]
    public async Task A_first_create_whose_container_is_reported_removed_before_it_ends_is_not_found_and_leaves_nothing()
    {
        _h.Options.ListenMode = TtydListenMode.Tcp;
        var manager = _h.Create();
        var lookup = new TaskCompletionSource<ContainerInfo?>(TaskCreationOptions.RunContinuationsAsynchronously);
        _h.Runtime.Setup(i => i.GetContainerAsync("node", It.IsAny<CancellationToken>())).Returns(lookup.Task);
        var ensure = manager.EnsureSessionAsync("node", "alice", null, Ct).AsTask();

        manager.MarkContainerRemoved(ManagerHarness.IdOf("node")); // no session in a slot yet: nothing to mark
        lookup.SetResult(_h.Info("node")); // the answer was on its way before the removal

        await Assert.ThrowsAsync<ContainerNotFoundException>(() => ensure);
        Assert.Empty(_h.Launches); // refused on that answer before anything started
        Assert.Empty(_h.Alive);
        Assert.Empty(_h.Reserved);
        Assert.Empty(manager.GetStatus().Containers);

        // Control: another container's create in the same manager is handed out.
        Assert.NotNull(await manager.EnsureSessionAsync("other", "alice", null, Ct));
    }

    [Fact]
    public void A_guess_is_confirmed_only_by_the_same_running_container_with_the_same_labels()
    {
        var recent = new RecentContainers();
        var node = ManagerHarness.Container("node") with { Labels = new Dictionary<string, string> { ["ttydports.command"] = "sh" } };
        recent.Record("node", node, recent.Now);
        recent.Record("stopped", ManagerHarness.Container("stopped", state: "exited"), recent.Now);
        recent.Record("alias", ManagerHarness.Container("node"), recent.Now); // the engine's answer for another name

        Assert.Equal(node.Id, recent.Guess("node")!.Id);
        Assert.Null(recent.Guess("stopped"));
        Assert.Null(recent.Guess("alias"));
        var guess = recent.Guess("node")!;
        Assert.True(RecentContainers.Confirms(guess, node with { Labels = new Dictionary<string, string> { ["ttydports.command"] = "sh" } }));
        Assert.False(RecentContainers.Confirms(node, null));
        Assert.False(RecentContainers.Confirms(node, node with { State = "paused" }));
        Assert.False(RecentContainers.Confirms(node, node with { Id = ManagerHarness.IdOf("node", 2) }));
        Assert.False(RecentContainers.Confirms(node, node with { Labels = new Dictionary<string, string> { ["ttydports.command"] = "bash" } }));
        Assert.False(RecentContainers.Confirms(node, node with { Labels = new Dictionary<string, string> { ["ttydports.command"] = "sh", ["extra"] = "1" } }));
        Assert.False(RecentContainers.Confirms(node, node with { Name = "other" }));

        recent.Drop(node.Id); // stopped or renamed: a later answer brings it back
        Assert.Null(recent.Guess("node"));
        recent.Record("node", node, recent.Now);
        Assert.NotNull(recent.Guess("node"));

        recent.Forget(node.Id); // removed: never again
        Assert.Null(recent.Guess("node"));
        recent.Record("node", node, recent.Now);
        Assert.Null(recent.Guess("node"));
    }

    [Fact]
    public void An_answer_asked_for_before_a_stop_or_rename_does_not_bring_the_guess_back_and_an_older_list_does_not_drop_a_newer_guess()
    {
        var recent = new RecentContainers();
        var node = ManagerHarness.Container("node");
        var askedBefore = recent.Now;
        recent.Drop(node.Id); // the engine reported it stopped while the answer was on its way
        recent.Record("node", node, askedBefore);
        Assert.Null(recent.Guess("node"));
        recent.Record("node", node, recent.Now); // control: an answer asked for after the stop
        Assert.Equal(node.Id, recent.Guess("node")!.Id);

        // A list asked for before "node" was learnt, which does not show it yet, leaves its guess; a later one drops it.
        var other = ManagerHarness.Container("other");
        var listAsked = recent.Now;
        recent.Drop(node.Id);
        recent.Record("node", node, recent.Now);
        recent.RecordAll([other], listAsked);
        Assert.NotNull(recent.Guess("node"));
        Assert.NotNull(recent.Guess("other"));
        recent.RecordAll([other], recent.Now);
        Assert.Null(recent.Guess("node"));

        // An older "gone" answer does not drop a newer guess either.
        var goneAsked = recent.Now;
        recent.Record("other", other, recent.Now);
        recent.Record("other", null, goneAsked);
        Assert.NotNull(recent.Guess("other"));
        recent.Record("other", null, recent.Now);
        Assert.Null(recent.Guess("other"));
    }
}
