using System.Text;

namespace TtydPorts.IntegrationTests;

/// <summary>
/// A lab's tenant is root in its container and sizes its processes' environments: every scan for markers (each stop,
/// each repair pass) reads only the start of each environment, and the library's own processes carry their markers there.
/// </summary>
[Collection(RealPartsCollection.Name)]
public sealed class EnvironmentScanTests(ContainerLab lab)
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    // A tenant's processes with 360 KB of variables (three of 120 KB, the kernel allows 128 KiB each): a marker before
    // them is read, one after them is not, so no scan reads more than ProcFs.MaxEnvironmentBytes of any process.
    [Fact]
    public async Task A_marker_past_the_first_256_KiB_of_a_tenants_environment_is_not_read_while_one_before_it_is()
    {
        var (early, late) = (Guid.NewGuid().ToString("N"), Guid.NewGuid().ToString("N"));
        const string Big = "v=$(head -c 120000 /dev/zero | tr '\\000' x); ";
        lab.StartContainer(lab.NextName(), "sh", "-c", Big + $"exec env -i TTYDPORTS_EXEC={early} A=$v B=$v C=$v sleep 3600");
        lab.StartContainer(lab.NextName(), "sh", "-c", Big + $"exec env -i A=$v B=$v C=$v TTYDPORTS_EXEC={late} sleep 3600");
        using var supervisor = new LinuxProcessSupervisor();

        // Control: both run, each marker where it was put (read whole here, as the scan did before).
        int[] pids = [];
        await Poll.UntilAsync(() => (pids = [.. ProcessesWhoseWholeEnvironmentHas($"TTYDPORTS_EXEC={early}"), .. ProcessesWhoseWholeEnvironmentHas($"TTYDPORTS_EXEC={late}")]).Length == 2, Poll.Within(30));
        Assert.True(Encoding.ASCII.GetString(File.ReadAllBytes($"/proc/{pids[1]}/environ")).IndexOf("TTYDPORTS_EXEC", StringComparison.Ordinal) > ProcFs.MaxEnvironmentBytes);

        Assert.Equal(pids[0], Assert.Single(supervisor.FindMarkedProcesses("TTYDPORTS_", "TTYDPORTS_EXEC", early)).Process.ProcessId);
        Assert.Empty(supervisor.FindMarkedProcesses("TTYDPORTS_", "TTYDPORTS_EXEC", late));
        Assert.Null(ProcFs.ReadEnvironment(pids[1], "TTYDPORTS_"));
    }

    // The host sizes LaunchEnvironment (600 KB here, past the scan's reach): the markers of ttyd and its tmux server come
    // first (the shell's exec client gets tmux's sorted environment and is found through its server), so the stop still
    // finds and ends every one of them.
    [Fact]
    public async Task A_session_with_a_launch_environment_past_the_scans_reach_is_still_found_and_stopped_whole()
    {
        var container = lab.StartContainer();
        var big = new string('x', 100_000);
        await using var sut = new ManagerUnderTest(18520, 18524, o =>
        {
            foreach (var name in (string[])["BIG_A", "BIG_B", "BIG_C", "BIG_D", "BIG_E", "BIG_F"])
            {
                o.LaunchEnvironment[name] = big;
            }
        });
        var session = await sut.Manager.EnsureSessionAsync(container, "alice", null, Ct);
        Assert.NotNull(session);
        var marker = $"TTYDPORTS_INSTANCE={sut.Instance}";
        await Poll.UntilAsync(() => ProcessesWhoseWholeEnvironmentHas(marker).Length >= 3, Poll.Within(30)); // ttyd, tmux server, exec client

        // What adoption and the stop's look read: ttyd and the tmux server with the shell's client, by their markers.
        // (The shell's start runs a tmux client of its own for a moment: the one server is waited for.)
        Assert.Single(sut.TtydProcesses());
        await Poll.UntilAsync(() => sut.TmuxServers().Count == 1, Poll.Within(10));

        var result = await sut.Manager.DeleteNodeAsync(container, Ct);

        Assert.Single(result.Stopped);
        await Poll.UntilAsync(() => ProcessesWhoseWholeEnvironmentHas(marker).Length == 0, Poll.Within(10));
    }

    private static int[] ProcessesWhoseWholeEnvironmentHas(string entry)
    {
        var wanted = Encoding.ASCII.GetBytes(entry + "\0");
        return [.. ProcFs.EnumeratePids().Where(pid =>
        {
            try
            {
                var environment = File.ReadAllBytes($"/proc/{pid}/environ");
                return environment.AsSpan().IndexOf(wanted) is var at && at >= 0 && (at == 0 || environment[at - 1] == 0);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                return false;
            }
        })];
    }
}
