using Moq;

namespace TtydPorts.Tests;

/// <summary>
/// Status from what the kernel reported (IProcessEvents) instead of a system call per session; reuse still asks, so
/// a killed or stopped ttyd is never handed out, even before status has learnt it.
/// </summary>
public sealed class LearntStatusTests : IDisposable
{
    private readonly ManagerHarness _h = new();
    private readonly Dictionary<int, ProcessWatch> _watches = [];
    private readonly List<int> _unwatched = [];
    private bool _reportsStops = true;
    private int _refreshes;
    private int _portProbes;

    public LearntStatusTests()
    {
        var events = _h.Supervisor.As<IProcessEvents>();
        events.Setup(e => e.Watch(It.IsAny<ProcessIdentity>())).Returns((ProcessIdentity p) =>
        {
            var watch = new ProcessWatch(_reportsStops, _ => _unwatched.Add(p.ProcessId));
            _watches[p.ProcessId] = watch;
            return watch;
        });
        events.Setup(e => e.Refresh()).Callback(() => _refreshes++);
    }

    public void Dispose()
    {
        if (Directory.Exists(_h.Options.RuntimeDirectory))
        {
            Directory.Delete(_h.Options.RuntimeDirectory, recursive: true);
        }
    }

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private async Task<(TtydSessionManager Manager, TtydSession A, TtydSession B)> TwoSessionsAsync()
    {
        var manager = _h.Create();
        var listening = manager.IsPortListening;
        manager.IsPortListening = port =>
        {
            _portProbes++;
            return listening(port);
        };
        var a = await manager.EnsureSessionAsync("a", "alice", null, Ct);
        var b = await manager.EnsureSessionAsync("b", "alice", null, Ct);
        return (manager, a!, b!);
    }

    private void ForgetCalls()
    {
        _h.Supervisor.Invocations.Clear();
        _portProbes = 0;
        _refreshes = 0;
    }

    [Fact]
    public async Task Status_asks_the_kernel_once_per_call_and_nothing_per_session()
    {
        var (manager, _, _) = await TwoSessionsAsync();
        ForgetCalls();

        var status = manager.GetStatus();

        Assert.Equal(2, status.ActiveSessions);
        Assert.Equal(1, _refreshes);
        _h.Supervisor.Verify(s => s.IsAlive(It.IsAny<ProcessIdentity>()), Times.Never);
        _h.Supervisor.Verify(s => s.IsStopped(It.IsAny<ProcessIdentity>()), Times.Never);
        Assert.Equal(0, _portProbes);
    }

    [Fact]
    public async Task An_exit_the_kernel_reported_turns_the_session_unhealthy_in_status_without_a_call_per_session()
    {
        var (manager, a, b) = await TwoSessionsAsync();
        ForgetCalls();

        _watches[a.ProcessId].SetExited();
        var status = manager.GetStatus();

        Assert.False(status.Sessions.Single(s => s.Session.Container == "a").Healthy);
        Assert.True(status.Sessions.Single(s => s.Session.Container == "b").Healthy);
        _h.Supervisor.Verify(s => s.IsAlive(It.IsAny<ProcessIdentity>()), Times.Never);
        Assert.Equal(b.ProcessId, manager.FindSession("b")!.ProcessId);
    }

    [Fact]
    public async Task A_stop_the_kernel_reported_turns_the_session_unhealthy_in_status_and_a_continue_back()
    {
        var (manager, a, _) = await TwoSessionsAsync();

        _watches[a.ProcessId].SetStopped(true);
        Assert.False(manager.GetStatus().Sessions.Single(s => s.Session.Container == "a").Healthy);

        _watches[a.ProcessId].SetStopped(false);
        Assert.True(manager.GetStatus().Sessions.Single(s => s.Session.Container == "a").Healthy);
    }

    [Fact]
    public async Task A_killed_ttyd_is_not_reused_even_before_status_learnt_its_exit()
    {
        var (manager, a, _) = await TwoSessionsAsync();
        lock (_h.Alive)
        {
            _h.Alive.Remove(a.ProcessId); // killed; the watch has not heard of it yet
        }

        var again = await manager.EnsureSessionAsync("a", "alice", null, Ct);

        Assert.NotEqual(a.ProcessId, again!.ProcessId);
        Assert.Contains(a.ProcessId, _unwatched); // the replaced session's watch ended with it
    }

    [Fact]
    public async Task A_stopped_ttyd_is_not_handed_out_even_before_status_learnt_the_stop()
    {
        var (manager, a, _) = await TwoSessionsAsync();
        lock (_h.Alive)
        {
            _h.Stopped.Add(a.ProcessId); // SIGSTOP; no report yet
        }

        var again = await manager.EnsureSessionAsync("a", "alice", null, Ct);

        Assert.NotEqual(a.ProcessId, again!.ProcessId);
    }

    [Fact]
    public async Task Status_asks_whether_a_process_is_stopped_when_the_kernel_does_not_report_its_stops()
    {
        _reportsStops = false; // not our child (adopted): only a parent hears of stops
        var (manager, a, _) = await TwoSessionsAsync();
        lock (_h.Alive)
        {
            _h.Stopped.Add(a.ProcessId);
        }

        ForgetCalls();
        var status = manager.GetStatus();

        Assert.False(status.Sessions.Single(s => s.Session.Container == "a").Healthy);
        _h.Supervisor.Verify(s => s.IsStopped(It.IsAny<ProcessIdentity>()), Times.Exactly(2));
        _h.Supervisor.Verify(s => s.IsAlive(It.IsAny<ProcessIdentity>()), Times.Never);
    }

    [Fact]
    public async Task Stopping_sessions_ends_their_watches()
    {
        var (manager, a, b) = await TwoSessionsAsync();

        var result = await manager.CleanupAllAsync(Ct);

        Assert.Equal(2, result.Stopped.Count);
        Assert.Equal([a.ProcessId, b.ProcessId], _unwatched.Order());
        Assert.Empty(_h.Reserved);
    }

    [Fact]
    public void A_reported_stop_wins_over_the_state_read_when_the_watch_began()
    {
        var watch = new ProcessWatch(reportsStops: true);
        watch.SetStopped(true);
        watch.SetInitialStopped(false); // read before the report, applied after: older

        Assert.True(watch.IsStopped);
        var unwatched = 0;
        var once = new ProcessWatch(reportsStops: true, _ => unwatched++);
        once.Dispose();
        once.Dispose();
        Assert.Equal(1, unwatched);
    }
}

/// <summary>ProcessEvents on real processes: exits through the epoll set, stops and continues through waitid.</summary>
public sealed class ProcessEventsTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    // The kernel stops and continues a process asynchronously to the signal.
    private static async Task UntilAsync(Func<bool> condition)
    {
        using var limit = CancellationTokenSource.CreateLinkedTokenSource(Ct);
        limit.CancelAfter(TimeSpan.FromSeconds(10));
        while (!condition())
        {
            await Task.Delay(5, limit.Token);
        }
    }

    [Fact]
    public async Task Reports_a_childs_stop_continue_and_exit_when_refreshed()
    {
        using var events = new ProcessEvents();
        var process = System.Diagnostics.Process.Start("sleep", "30");
        using var handle = PidFd.Open(process.Id) ?? throw new InvalidOperationException("no pidfds on this kernel");
        try
        {
            using var watch = events.Watch(handle, process.Id, child: true)!;
            events.Refresh();
            Assert.False(watch.HasExited);
            Assert.False(watch.IsStopped);

            Assert.Equal(0, Native.kill(process.Id, 19)); // SIGSTOP
            await UntilAsync(() => ProcFs.ReadStat(process.Id)?.State == 'T');
            events.Refresh();
            Assert.True(watch.IsStopped);

            Assert.Equal(0, Native.kill(process.Id, Native.SIGCONT));
            await UntilAsync(() => ProcFs.ReadStat(process.Id)?.State != 'T');
            events.Refresh();
            Assert.False(watch.IsStopped);

            process.Kill();
            await process.WaitForExitAsync(Ct);
            events.Refresh();
            Assert.True(watch.HasExited);
        }
        finally
        {
            if (!process.HasExited)
            {
                process.Kill();
            }
        }
    }

    [Fact]
    public async Task An_ended_watch_leaves_the_set_and_gives_the_handle_back()
    {
        using var events = new ProcessEvents();
        var process = System.Diagnostics.Process.Start("sleep", "30");
        var handle = PidFd.Open(process.Id) ?? throw new InvalidOperationException("no pidfds on this kernel");
        try
        {
            var watch = events.Watch(handle, process.Id, child: false)!;
            Assert.False(watch.ReportsStops);
            watch.Dispose();
            process.Kill();
            await process.WaitForExitAsync(Ct);
            events.Refresh();

            Assert.False(watch.HasExited); // no longer watched
            handle.Dispose();
            Assert.True(handle.IsClosed);
        }
        finally
        {
            if (!process.HasExited)
            {
                process.Kill();
            }
        }
    }
}
