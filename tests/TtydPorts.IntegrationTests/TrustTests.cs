using System.Diagnostics;
using System.Globalization;
using System.Security.Cryptography;

namespace TtydPorts.IntegrationTests;

/// <summary>
/// Identity nobody else can forge, attacked for real: a second OS user, forged markers, planted and writable folders,
/// a frozen ttyd, a host that changed its listen mode.
/// </summary>
[Collection(RealPartsCollection.Name)]
public sealed class TrustTests(ContainerLab lab)
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private static Dictionary<string, string> ForgedMarkers(string instance, string runtime, string container, string victimFile, string ttyd)
    {
        var markers = new Dictionary<string, string>
        {
            ["TTYDPORTS_INSTANCE"] = instance,
            ["TTYDPORTS_SESSION"] = Guid.NewGuid().ToString("N"),
            ["TTYDPORTS_CONTAINER"] = container,
            ["TTYDPORTS_USER"] = "alice",
            ["TTYDPORTS_PORT"] = "0",
            ["TTYDPORTS_STARTED"] = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds().ToString(CultureInfo.InvariantCulture),
            ["TTYDPORTS_SOCKET"] = victimFile,
            [SessionAdoption.RuntimeMarker] = runtime,
            [SessionAdoption.ExecutableMarker] = ttyd,
        };

        // Signed, but with a key of the forger's own: the instance key is not readable to them.
        markers[MarkerSignature.Marker] = MarkerSignature.Compute(RandomNumberGenerator.GetBytes(32), markers);
        return markers;
    }

    [Fact]
    public async Task Forged_processes_are_neither_adopted_nor_signalled_and_no_file_they_name_is_touched()
    {
        var real = lab.StartContainer();
        var target = lab.StartContainer();
        using var attacker = SecondUser.Create();
        var ttyd = Native.ResolveExecutable("ttyd")!;
        var victim = Path.Combine(Path.GetTempPath(), "tp-victim-" + Guid.NewGuid().ToString("N")[..8]);
        await File.WriteAllTextAsync(victim, "keep", Ct);
        try
        {
            var earlier = new ManagerUnderTest(18400, 18404);
            var kept = await earlier.Manager.EnsureSessionAsync(real, "alice", null, Ct);
            await earlier.AbandonAsync();

            // Another OS user's process with every marker; and one of the manager's own user, the real ttyd even, whose
            // markers carry no valid signature (a copy, or a forgery by a process that cannot read the key).
            var otherUser = attacker.Start(ForgedMarkers(earlier.Instance, earlier.RuntimeDirectory, target, victim, ttyd), "sleep", "3600");
            var sameUser = new ProcessStartInfo(ttyd, ["-p", "18449", "-i", "127.0.0.1", "sleep", "3600"]) { RedirectStandardOutput = true, RedirectStandardError = true };
            foreach (var (key, value) in ForgedMarkers(earlier.Instance, earlier.RuntimeDirectory, target, victim, ttyd))
            {
                sameUser.Environment[key] = value;
            }

            using var unsigned = Process.Start(sameUser)!;
            var forgedPids = new[] { otherUser.Id, unsigned.Id };
            await Poll.UntilAsync(() => forgedPids.All(pid => ProcFs.ReadEnvironment(pid, "TTYDPORTS_")?.ContainsKey("TTYDPORTS_MAC") == true), Poll.Within(10));

            await using var next = new ManagerUnderTest(18400, 18404, instance: earlier.Instance);
            var status = next.Manager.GetStatus();
            var repaired = await next.Manager.RepairAsync(Ct);
            var forgedContainer = await next.Manager.EnsureSessionAsync(target, "alice", null, Ct);
            var all = await next.Manager.CleanupAllAsync(Ct);

            Assert.Equal([real], status.Containers); // positive control: the manager's own session is adopted
            Assert.Equal(kept!.ProcessId, status.Sessions.Single().Session.ProcessId);
            Assert.Empty(repaired.Stopped);
            Assert.DoesNotContain(forgedPids, pid => pid == forgedContainer!.ProcessId);
            Assert.Equal([real, target], all.Stopped.Select(s => s.Container).Order());
            Assert.False(otherUser.HasExited, "the other user's process was signalled");
            Assert.False(unsigned.HasExited, "the unsigned process was signalled");

            // Once the forged processes end, nothing the forged markers named is deleted.
            otherUser.Kill();
            unsigned.Kill();
            await otherUser.WaitForExitAsync(Ct);
            await unsigned.WaitForExitAsync(Ct);
            await next.Manager.RepairAsync(Ct);
            await next.Manager.CleanupOrphansAsync(Ct);
            Assert.Equal("keep", await File.ReadAllTextAsync(victim, Ct));
        }
        finally
        {
            File.Delete(victim);
        }
    }

    [Fact]
    public async Task A_runtime_folder_another_user_planted_or_can_replace_is_refused_loudly_and_nothing_starts()
    {
        var container = lab.StartContainer();
        using var attacker = SecondUser.Create();
        var writable = Path.Combine(Path.GetTempPath(), "tp-writable-" + Guid.NewGuid().ToString("N")[..8]);
        var planted = Path.Combine(Path.GetTempPath(), "tp-planted-" + Guid.NewGuid().ToString("N")[..8]);
        Directory.CreateDirectory(writable);
        RealParts.Run("chown", attacker.Name, writable); // the parent belongs to the other user, who could rename what is in it
        Assert.Equal(0, attacker.Run("mkdir", "-m", "0777", planted).ExitCode);
        try
        {
            foreach (var (folder, expected) in new[] { (Path.Combine(writable, "rt"), writable), (planted, planted) })
            {
                await using var sut = new ManagerUnderTest(18405, 18409, o => o.RuntimeDirectory = folder);

                var refused = await Assert.ThrowsAsync<TtydStartException>(async () => await sut.Manager.EnsureSessionAsync(container, "alice", null, Ct));

                Assert.Contains(expected, refused.Message, StringComparison.Ordinal);
                Assert.Contains($"uid {attacker.Uid}", refused.Message, StringComparison.Ordinal);
                Assert.Equal(refused.Message, sut.Manager.GetStatus().LastError);
                Assert.Empty(sut.TtydProcesses());
                Assert.False(File.Exists(Path.Combine(folder, sut.Instance + ".key")));
            }

            // Positive control, and the way out the message names: a folder of this user works.
            RealParts.Run("rm", "-rf", planted);
            await using var fixedUp = new ManagerUnderTest(18405, 18409, o => o.RuntimeDirectory = planted);
            Assert.NotNull(await fixedUp.Manager.EnsureSessionAsync(container, "alice", null, Ct));
        }
        finally
        {
            RealParts.Run("rm", "-rf", writable, planted);
        }
    }

    [Fact]
    public async Task A_stopped_ttyd_is_not_handed_out_and_repair_replaces_it()
    {
        var frozen = lab.StartContainer();
        var fine = lab.StartContainer();
        await using var sut = new ManagerUnderTest(18410, 18414);
        var stopped = await sut.Manager.EnsureSessionAsync(frozen, "alice", null, Ct);
        var healthy = await sut.Manager.EnsureSessionAsync(fine, "alice", null, Ct);
        Assert.Equal(0, Native.kill(stopped!.ProcessId, 19)); // SIGSTOP: alive, listening, never answering
        await Poll.UntilAsync(() => ProcFs.ReadStat(stopped.ProcessId)?.State == 'T', Poll.Within(10)); // the kernel stops it asynchronously

        var status = sut.Manager.GetStatus();
        var repaired = await sut.Manager.RepairAsync(Ct);
        var replaced = await sut.Manager.EnsureSessionAsync(frozen, "alice", null, Ct);

        Assert.False(status.Sessions.Single(s => s.Session.Container == frozen).Healthy);
        Assert.True(status.Sessions.Single(s => s.Session.Container == fine).Healthy);
        Assert.Equal([frozen], repaired.Stopped.Select(s => s.Container));
        Assert.Null(ProcFs.ReadStat(stopped.ProcessId) is { HasExited: false } stat && stat.StartTime == stopped.Process.StartTime ? stat : null);
        Assert.NotEqual(stopped.ProcessId, replaced!.ProcessId);
        Assert.Same(healthy, sut.Manager.FindSession(fine));
    }

    [Fact]
    public async Task After_a_switch_from_direct_to_proxy_mode_no_old_port_stays_listening()
    {
        var container = lab.StartContainer();
        var instance = "itest-" + Guid.NewGuid().ToString("N")[..8];
        var earlier = new ManagerUnderTest(18415, 18419, instance: instance);
        var direct = await earlier.Manager.EnsureSessionAsync(container, "alice", null, Ct);
        await earlier.AbandonAsync();
        Assert.True(ManagerUnderTest.IsListening(direct!.Port)); // positive control: the old terminal outlived its host

        await using var proxy = new ManagerUnderTest(18415, 18419, o => (o.ListenMode, o.BasePath) = (TtydListenMode.UnixSocket, "/terminals"), instance: instance);
        Assert.False(proxy.Manager.GetStatus().Sessions.Single().Healthy); // adopted only to be replaced
        var session = await proxy.Manager.EnsureSessionAsync(container, "alice", null, Ct);

        Assert.NotNull(session!.SocketPath);
        Assert.NotEqual(direct.ProcessId, session.ProcessId);
        Assert.False(ManagerUnderTest.IsListening(direct.Port));
        Assert.Equal([session.ProcessId], proxy.TtydProcesses().Select(p => p.Process.ProcessId));
    }
}
