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
            Assert.DoesNotContain("sh", RealParts.Docker("top", container, "-o", "pid,args").Split('\n').Skip(1).Select(l => Path.GetFileName(l.Trim().Split(' ', 2).Last())));
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
