using System.Globalization;
using System.Runtime.Versioning;
using System.Security.Cryptography;
using TtydPorts.IntegrationTests;

namespace TtydPorts.Tool.Tests;

/// <summary>
/// The tool run as root believes every user's sessions, each signed with its owner's key. Another OS user (not allowed
/// to use Docker) signs a decoy with a key of their own, carrying a victim session's token (visible on the victim ttyd's
/// command line) and container id: the decoy is stopped as an orphan, but the victim's shell in its container is not
/// ended with it. Scoped with --instance to the test's own manager.
/// </summary>
[Collection(ToolCollection.Name)]
[SupportedOSPlatform("linux")]
public sealed class ToolTrustTests(ToolLab lab)
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task A_decoy_another_user_signs_with_a_victims_token_is_stopped_without_the_victims_shell_and_roots_own_cleanup_still_ends_it()
    {
        var node = lab.StartContainer();
        using var attacker = SecondUser.Create();
        await using var sut = new ManagerUnderTest(20140, 20144);
        var session = await sut.StartAsync(node, "alice");
        var victim = Assert.Single(sut.TtydProcesses()).Markers;
        var token = victim["TTYDPORTS_SESSION"];
        int Shells() => sut.Supervisor.FindMarkedProcesses("TTYDPORTS_", "TTYDPORTS_EXEC", token).Count;
        await Poll.UntilAsync(() => Shells() > 0, Poll.Within(30)); // control: the victim's shell runs

        // The attacker's own runtime folder and key, and a decoy signed with it: /usr/bin/sleep, a container that does
        // not exist, the victim's token and container id.
        var folder = Path.Combine("/tmp", "tp-decoy-" + Guid.NewGuid().ToString("N")[..8]);
        Directory.CreateDirectory(folder, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        System.Diagnostics.Process? decoy = null;
        try
        {
            var key = RandomNumberGenerator.GetBytes(32);
            var keyPath = Path.Combine(folder, sut.Instance + ".key");
            await File.WriteAllBytesAsync(keyPath, key, Ct);
            File.SetUnixFileMode(keyPath, UnixFileMode.UserRead | UnixFileMode.UserWrite);
            Assert.Equal(0, RealParts.Run("chown", "-R", $"{attacker.Uid}:{attacker.Gid}", folder).ExitCode);
            var sleep = Native.ResolveExecutable("sleep")!;
            var markers = new Dictionary<string, string>
            {
                ["TTYDPORTS_INSTANCE"] = sut.Instance,
                ["TTYDPORTS_SESSION"] = token,
                ["TTYDPORTS_CONTAINER"] = "tpt-gone-" + Guid.NewGuid().ToString("N")[..8],
                ["TTYDPORTS_CONTAINER_ID"] = victim["TTYDPORTS_CONTAINER_ID"],
                ["TTYDPORTS_USER"] = "mallory",
                ["TTYDPORTS_PORT"] = "0",
                ["TTYDPORTS_STARTED"] = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds().ToString(CultureInfo.InvariantCulture),
                [SessionAdoption.RuntimeMarker] = folder,
                [SessionAdoption.ExecutableMarker] = sleep,
            };
            markers[MarkerSignature.Marker] = MarkerSignature.Compute(key, markers);
            decoy = attacker.Start(markers, sleep, "3600"); // the user disposes it
            await Poll.UntilAsync(() => ProcFs.ReadExecutable(decoy.Id) == sleep && ProcFs.ReadEnvironment(decoy.Id, "TTYDPORTS_")?.ContainsKey(MarkerSignature.Marker) == true, Poll.Within(10));

            var run = await TtydPortsTool.RunAsync("cleanup", "--instance", sut.Instance, "--range", sut.Range);

            Assert.True(run.ExitCode == 1, run.ToString());
            Assert.True(decoy.WaitForExit(TimeSpan.FromSeconds(10)), run.ToString()); // the decoy was believed: an orphan, stopped
            Assert.True(Shells() > 0, "the victim's shell was ended: " + run);
            Assert.True(sut.IsAlive(session), run.ToString());
            Assert.Contains($"uid {attacker.Uid}", run.Error, StringComparison.Ordinal);
            Assert.Contains("was not ended", run.Error, StringComparison.Ordinal);

            // Positive control: root's own session is stopped with its shell.
            var own = await TtydPortsTool.RunAsync("cleanup", "--all", "--instance", sut.Instance, "--range", sut.Range);
            Assert.True(own.ExitCode == 0, own.ToString());
            Assert.False(sut.IsAlive(session), own.ToString());
            await Poll.UntilAsync(() => Shells() == 0, Poll.Within(10));
        }
        finally
        {
            // Before the manager's own check that nothing of its instance is left: a failed run may not have stopped the decoy.
            if (decoy is { HasExited: false })
            {
                decoy.Kill();
                await decoy.WaitForExitAsync(Ct);
            }

            Directory.Delete(folder, recursive: true);
        }
    }
}
