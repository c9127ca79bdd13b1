using Moq;

namespace TtydPorts.Tests;

/// <summary>
/// A create on a container seen before starts its ttyd while the engine answers, and keeps it only when the answer
/// confirms the container; these tests hold the engine's answer back to see both sides of it.
/// </summary>
public sealed class GuessedContainerTests : IDisposable
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

    // The container's first create answers at once (it is then "seen"); its session is deleted; the next lookup waits.
    private async Task<(TtydSessionManager Manager, TaskCompletionSource<ContainerInfo?> Answer)> SeenThenPendingAsync(string name)
    {
        var manager = _h.Create();
        await manager.EnsureSessionAsync(name, "alice", null, Ct);
        await manager.DeleteNodeAsync(name, Ct);
        var answer = new TaskCompletionSource<ContainerInfo?>(TaskCreationOptions.RunContinuationsAsynchronously);
        _h.Runtime.Setup(i => i.GetContainerAsync(name, It.IsAny<CancellationToken>())).Returns(answer.Task);
        return (manager, answer);
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

        // Started before the answer, and not handed out before it.
        Assert.Equal(2, _h.Launches.Count);
        Assert.Contains(ManagerHarness.IdOf("node"), _h.Launches[1].Arguments);
        Assert.False(ensure.IsCompleted);

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
        Assert.Equal([session.Port], _h.Reserved);
        Assert.DoesNotContain(ManagerHarness.PortOf(guessed), _h.Reserved);
    }

    [Fact]
    public async Task A_container_gone_since_it_was_seen_is_not_found_and_leaves_nothing()
    {
        _h.Options.MaxSessionsPerUser = 1;
        var (manager, answer) = await SeenThenPendingAsync("node");
        var ensure = manager.EnsureSessionAsync("node", "alice", null, Ct).AsTask();
        Assert.Equal(2, _h.Launches.Count);

        answer.SetResult(null);

        await Assert.ThrowsAsync<ContainerNotFoundException>(() => ensure);
        Assert.Empty(_h.Alive);
        Assert.Empty(_h.Reserved);
        Assert.Empty(manager.GetStatus().Containers);

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
        Assert.Empty(_h.Reserved);
    }

    [Fact]
    public async Task A_refusal_on_a_wrong_guess_gives_way_to_the_engines_answer()
    {
        // Alice is at her limit: on the guess the create is refused for that, but the container is gone, which decides.
        _h.Options.MaxSessionsPerUser = 1;
        var (manager, answer) = await SeenThenPendingAsync("node");
        await manager.EnsureSessionAsync("other", "alice", null, Ct);
        var ensure = manager.EnsureSessionAsync("node", "alice", null, Ct).AsTask();
        Assert.False(ensure.IsCompleted);

        answer.SetResult(null);

        await Assert.ThrowsAsync<ContainerNotFoundException>(() => ensure);
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
    public async Task Without_a_credential_nothing_starts_before_the_engine_answers()
    {
        // Anyone on the machine could make a credential-less ttyd run its command before the answer came.
        (_h.Options.RequireCredentials, _h.Options.AllowUnauthenticatedLoopbackTerminals) = (false, true);
        var (manager, answer) = await SeenThenPendingAsync("node");

        var ensure = manager.EnsureSessionAsync("node", "alice", null, Ct).AsTask();

        Assert.Single(_h.Launches);
        answer.SetResult(_h.Info("node"));
        Assert.Equal(ManagerHarness.IdOf("node"), (await ensure)!.ContainerId);
        Assert.Equal(2, _h.Launches.Count);
    }

    [Fact]
    public void A_guess_is_confirmed_only_by_the_same_running_container_with_the_same_labels()
    {
        var recent = new RecentContainers();
        var node = ManagerHarness.Container("node") with { Labels = new Dictionary<string, string> { ["ttydports.command"] = "sh" } };
        recent.Record("node", node);
        recent.Record("stopped", ManagerHarness.Container("stopped", state: "exited"));
        recent.Record("alias", ManagerHarness.Container("node")); // the engine's answer for another name

        Assert.Same(node, recent.Guess("node"));
        Assert.Null(recent.Guess("stopped"));
        Assert.Null(recent.Guess("alias"));
        Assert.True(RecentContainers.Confirms(node, node with { }));
        Assert.False(RecentContainers.Confirms(node, null));
        Assert.False(RecentContainers.Confirms(node, node with { State = "paused" }));
        Assert.False(RecentContainers.Confirms(node, node with { Id = ManagerHarness.IdOf("node", 2) }));
        Assert.False(RecentContainers.Confirms(node, node with { Labels = new Dictionary<string, string> { ["ttydports.command"] = "bash" } }));

        recent.Forget(node.Id);
        Assert.Null(recent.Guess("node"));
    }
}
