using Moq;

namespace TtydPorts.Tests;

/// <summary>
/// Cleanups against what runs beside them: a container busy with something else when the cleanup's caller gives up
/// (every stop that began is finished).
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

    private int[] AliveNow()
    {
        lock (_h.Alive)
        {
            return [.. _h.Alive.Order()];
        }
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
