using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace TtydPorts.IntegrationTests;

/// <summary>A cleanup racing a create of the same user, over real ttyd, tmux and a container.</summary>
[Collection(RealPartsCollection.Name)]
public sealed class CleanupRaceTests(ContainerLab lab)
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task A_logout_during_a_create_of_the_same_user_wins_and_leaves_no_process_shell_or_file_of_it()
    {
        var container = lab.StartContainer();
        var logs = new CapturedLogs();
        using var held = new HeldFirstStart(new LinuxProcessSupervisor());
        await using var sut = new ManagerUnderTest(18910, 18914, services: s => s.AddSingleton<IProcessSupervisor>(held).AddSingleton<ILoggerProvider>(logs));

        var create = sut.Manager.EnsureSessionAsync(container, "alice", "t1", Ct).AsTask();
        try
        {
            var ttyd = await held.Started.Task.WaitAsync(Poll.Within(30)); // ready and listening, its start not yet returned
            Assert.True(sut.Supervisor.IsAlive(ttyd));
            var logout = sut.Manager.CleanupUserAsync("alice", Ct);
            Assert.False(logout.IsCompleted); // it waits for the create it matched
            Assert.Contains("lost to the cleanup of user 'alice'", logs.Text, StringComparison.Ordinal);
            held.Release(); // the start returns past the point of cancelling: the create itself stops what it started

            var result = await logout;

            Assert.False(sut.Supervisor.IsAlive(ttyd)); // gone before the logout returned
            Assert.Empty(sut.AllProcesses()); // no tmux server, no exec client
            // (A shell the stop signalled may take a moment to go; one it missed stays for good.)
            await Poll.UntilAsync(() => !RealParts.Docker("top", container, "-o", "pid,args").Split('\n').Skip(1).Select(l => Path.GetFileName(l.Trim().Split(' ', 2).Last())).Contains("sh"), Poll.Within(10));
            Assert.Empty(result.Stopped);
            Assert.True(result.Succeeded);
            var error = await Assert.ThrowsAsync<SessionCleanedUpException>(() => create);
            Assert.Equal(StopReason.User, error.Reason);
            Assert.Null(sut.Manager.FindSession(container));
            Assert.Equal(0, sut.Ports.ReservedCount);

            // Control: the next create, with no cleanup beside it, gets a working terminal.
            var session = await sut.StartAsync(container, "alice", "t1");
            Assert.True(sut.IsAlive(session));
        }
        finally
        {
            // Whatever failed above, the held create ends, so that disposing the manager can stop what it started.
            held.Release();
            await ((Task)create).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing | ConfigureAwaitOptions.ContinueOnCapturedContext);
        }
    } // disposing the manager asserts that no process of its instance and no session file is left

    [Fact]
    public async Task A_stop_while_the_engine_is_still_starting_a_browsers_shell_leaves_no_shell_in_the_container()
    {
        var container = lab.StartContainer();
        await using var sut = new ManagerUnderTest(18915, 18919, o => o.PersistentShells = false);
        using var engine = new EngineApiClient(new EngineEndpoint { Uri = "unix:///var/run/docker.sock", SocketPath = "/var/run/docker.sock" }, "docker");

        // A browser connects (ttyd runs docker exec for it) and the node is deleted while the engine starts that exec
        // (about 100 ms here): the client dies with ttyd, the engine starts the shell anyway. Caught in that window by
        // asking the engine; an attempt whose shell was up first tries again.
        for (var attempt = 1; ; attempt++)
        {
            var session = await sut.StartAsync(container, "alice");
            var token = Assert.Single(sut.TtydProcesses()).Markers[TtydProcessDiscovery.SessionMarker];
            await using var browser = await TtydClient.ConnectAsync(session.GetUrl(), Ct);
            var caught = false;
            using (var window = CancellationTokenSource.CreateLinkedTokenSource(Ct))
            {
                window.CancelAfter(TimeSpan.FromSeconds(2)); // the engine asked alone in the loop: its window is some 50 ms
                while (!window.IsCancellationRequested && !(caught = await engine.CountExecsStartingAsync(session.ContainerId!, EngineRuntime.IsInRuntimeInit, Ct) > 0))
                {
                }
            }

            Assert.Single((await sut.Manager.DeleteNodeAsync(container, Ct)).Stopped);

            // Once the engine has started what it was starting, nothing of the session runs in the container.
            await Poll.UntilAsync(() => engine.CountExecsStartingAsync(session.ContainerId!, EngineRuntime.IsInRuntimeInit, Ct).GetAwaiter().GetResult() == 0, Poll.Within(30));
            Assert.Empty(sut.Supervisor.FindMarkedProcesses("TTYDPORTS_", TtydProcessDiscovery.ExecMarker, token));
            // (A shell the stop signalled may take a moment to go; one it missed stays for good.)
            await Poll.UntilAsync(() => !RealParts.Docker("top", container, "-o", "pid,args").Split('\n').Skip(1).Select(l => Path.GetFileName(l.Trim().Split(' ', 2).Last())).Contains("sh"), Poll.Within(10));
            if (caught || attempt == 20)
            {
                Assert.True(caught, "the engine was never seen starting the browser's exec");
                return;
            }
        }
    }

    [Fact]
    public async Task A_process_that_names_itself_as_runcs_init_counts_as_an_exec_starting_only_while_it_is_young()
    {
        // A tenant's shell can take any name: one called runc:[2:INIT] is taken for an exec still starting (the stop waits
        // for it) only for as long as a real one could be, not for its whole life.
        var folder = Directory.CreateTempSubdirectory("tp-runc-name-");
        var named = Path.Combine(folder.FullName, "runc:[2:INIT]");
        File.Copy("/bin/sleep", named);
        using var process = System.Diagnostics.Process.Start(named, "60");
        try
        {
            await Poll.UntilAsync(() => ProcFs.ReadComm(process.Id) == "runc:[2:INIT]", Poll.Within(10));
            Assert.True(EngineRuntime.IsInRuntimeInit(process.Id));
            Assert.False(EngineRuntime.IsInRuntimeInit(Environment.ProcessId)); // another name: never

            await Poll.UntilAsync(() => !EngineRuntime.IsInRuntimeInit(process.Id), Poll.Within((int)EngineRuntime.ExecStartWait.TotalSeconds + 5));
            Assert.False(process.HasExited);
        }
        finally
        {
            process.Kill();
            await process.WaitForExitAsync(Ct);
            folder.Delete(recursive: true);
        }
    }

    // The real supervisor, whose first start returns only when the test says so (the ttyd it started runs meanwhile).
    private sealed class HeldFirstStart(LinuxProcessSupervisor inner) : IProcessSupervisor, IDisposable
    {
        private readonly TaskCompletionSource _release = new(TaskCreationOptions.RunContinuationsAsynchronously);
        private int _starts;

        public TaskCompletionSource<ProcessIdentity> Started { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public void Release() => _release.TrySetResult();

        public async Task<ProcessIdentity> StartAsync(ProcessLaunch launch, CancellationToken cancellationToken = default)
        {
            var process = await inner.StartAsync(launch, cancellationToken);
            if (Interlocked.Increment(ref _starts) == 1)
            {
                Started.TrySetResult(process);
                await _release.Task;
            }

            return process;
        }

        public bool IsAlive(ProcessIdentity process) => inner.IsAlive(process);

        public bool IsStopped(ProcessIdentity process) => inner.IsStopped(process);

        public Task<bool> StopAsync(ProcessIdentity process, TimeSpan gracePeriod, CancellationToken cancellationToken = default) => inner.StopAsync(process, gracePeriod, cancellationToken);

        public IReadOnlyList<MarkedProcess> FindMarkedProcesses(string markerPrefix, string markerName, string? markerValue = null) => inner.FindMarkedProcesses(markerPrefix, markerName, markerValue);

        public void Dispose() => inner.Dispose();
    }
}
