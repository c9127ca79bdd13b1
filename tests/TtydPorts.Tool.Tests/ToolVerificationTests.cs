using System.Diagnostics;
using System.Globalization;
using System.Runtime.Versioning;
using System.Security.Cryptography;
using TtydPorts.IntegrationTests;

namespace TtydPorts.Tool.Tests;

/// <summary>
/// The real tool, run as root (as the tests run), against real processes with forged markers: whatever a process's
/// markers name, the tool only reads before a signature is verified, refuses that one process with a reason on stderr,
/// and goes on with the others. Each case is scoped with --instance to markers of its own.
/// </summary>
[Collection(ToolCollection.Name)]
[SupportedOSPlatform("linux")]
public sealed class ToolVerificationTests : IDisposable
{
    private const UnixFileMode Open = (UnixFileMode)0x1ED; // 0755
    private readonly string _root = Directory.CreateTempSubdirectory("tp-tool-verify-").FullName;
    private readonly string _instance = "tv-" + Guid.NewGuid().ToString("N")[..8];
    private readonly string _sleep = Native.ResolveExecutable("sleep")!;
    private readonly List<Process> _processes = [];

    public void Dispose()
    {
        foreach (var process in _processes)
        {
            if (!process.HasExited)
            {
                process.Kill();
                process.WaitForExit();
            }

            process.Dispose();
        }

        Directory.Delete(_root, recursive: true);
    }

    private string Folder(string name, UnixFileMode mode)
    {
        var path = Path.Combine(_root, name);
        Directory.CreateDirectory(path);
        File.SetUnixFileMode(path, mode);
        return path;
    }

    private byte[] PlantKey(string folder)
    {
        var key = RandomNumberGenerator.GetBytes(32);
        var path = Path.Combine(folder, _instance + ".key");
        File.WriteAllBytes(path, key);
        File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        return key;
    }

    // The markers of a session of a container that does not exist, signed with key when given.
    private Dictionary<string, string> Markers(string runtime, string executable, byte[]? key, string container)
    {
        var markers = new Dictionary<string, string>
        {
            ["TTYDPORTS_INSTANCE"] = _instance,
            ["TTYDPORTS_SESSION"] = Guid.NewGuid().ToString("N"),
            ["TTYDPORTS_CONTAINER"] = container,
            ["TTYDPORTS_USER"] = "mallory",
            ["TTYDPORTS_PORT"] = "0",
            ["TTYDPORTS_STARTED"] = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds().ToString(CultureInfo.InvariantCulture),
            [SessionAdoption.RuntimeMarker] = runtime,
            [SessionAdoption.ExecutableMarker] = executable,
        };
        if (key is not null)
        {
            markers[MarkerSignature.Marker] = MarkerSignature.Compute(key, markers);
        }

        return markers;
    }

    // Runs command as this user with exactly the markers (and PATH) in its environment; ended when the test ends.
    private Process Start(IReadOnlyDictionary<string, string> markers, params string[] command)
    {
        var start = new ProcessStartInfo(command[0], command[1..]) { RedirectStandardOutput = true, RedirectStandardError = true };
        start.Environment.Clear();
        start.Environment["PATH"] = "/usr/local/bin:/usr/bin:/bin";
        foreach (var (name, value) in markers)
        {
            start.Environment[name] = value;
        }

        var process = Process.Start(start)!;
        _processes.Add(process);
        return process;
    }

    private static Task UntilMarkedAsync(Process process, string executable) =>
        Poll.UntilAsync(() => ProcFs.ReadExecutable(process.Id) == executable
            && ProcFs.ReadEnvironment(process.Id, TtydProcessDiscovery.MarkerPrefix)?.ContainsKey(TtydProcessDiscovery.InstanceMarker) == true, Poll.Within(10));

    [Fact]
    public async Task Processes_naming_an_open_folder_an_empty_path_or_a_link_loop_are_refused_the_folder_keeps_its_mode_and_status_and_cleanup_go_on()
    {
        // The forger's own folder, 0755, with a key of theirs: the markers verify, but the folder must be 0700 and is
        // never made so by a reader (it could be any folder of theirs, or `/` for a set-user-ID program's root).
        var open = Folder("open", Open);
        var loop = Folder("loop", UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        File.CreateSymbolicLink(Path.Combine(loop, "a"), Path.Combine(loop, "b"));
        File.CreateSymbolicLink(Path.Combine(loop, "b"), Path.Combine(loop, "a"));
        var good = Folder("good", UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        var goodKey = PlantKey(good);
        var openSession = Start(Markers(open, _sleep, PlantKey(open), "tpt-open"), _sleep, "3600");
        var empty = Start(Markers("", _sleep, null, "tpt-empty"), _sleep, "3600");
        var looping = Start(Markers(Path.Combine(loop, "a", "x"), _sleep, null, "tpt-loop"), _sleep, "3600");
        var session = Start(Markers(good, _sleep, goodKey, "tpt-good-" + _instance), _sleep, "3600");
        foreach (var process in _processes)
        {
            await UntilMarkedAsync(process, _sleep);
        }

        var status = await TtydPortsTool.RunAsync("status", "--instance", _instance);

        Assert.True(status.ExitCode == 0, status.ToString());
        Assert.Contains("tpt-good-" + _instance, status.Output, StringComparison.Ordinal);
        Assert.DoesNotContain("tpt-open", status.Output, StringComparison.Ordinal);
        Assert.Equal(Open, File.GetUnixFileMode(open));
        Assert.Contains($"pid {openSession.Id} (uid {Native.geteuid()})", status.Error, StringComparison.Ordinal);
        Assert.Contains("has mode 755, not 0700", status.Error, StringComparison.Ordinal);
        Assert.Contains($"pid {empty.Id} ", status.Error, StringComparison.Ordinal);
        Assert.Contains("runtime folder marker is empty", status.Error, StringComparison.Ordinal);
        Assert.Contains($"pid {looping.Id} ", status.Error, StringComparison.Ordinal);
        Assert.Contains("cannot be followed", status.Error, StringComparison.Ordinal);

        var cleanup = await TtydPortsTool.RunAsync("cleanup", "--all", "--instance", _instance);

        Assert.True(cleanup.ExitCode == 0, cleanup.ToString());
        Assert.True(session.WaitForExit(TimeSpan.FromSeconds(10)), cleanup.ToString()); // the one session was stopped
        Assert.False(openSession.HasExited || empty.HasExited || looping.HasExited, cleanup.ToString()); // the refused ones were not
        Assert.Equal(Open, File.GetUnixFileMode(open));
        Assert.Contains($"pid {empty.Id} ", cleanup.Error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_set_user_id_program_another_user_starts_with_forged_markers_is_refused_and_roots_folder_keeps_its_mode()
    {
        // su or passwd would do: a set-user-ID root program that waits, started by another user with markers naming a
        // root-owned folder (here a 0755 stand-in for `/`) and the program itself as ttyd. Its /proc entry is root's.
        using var attacker = SecondUser.Create();
        File.SetUnixFileMode(_root, Open);
        var program = Path.Combine(_root, "setuid-sleep");
        File.Copy(_sleep, program);
        File.SetUnixFileMode(program, (UnixFileMode)0x9ED); // 4755, owned by root
        var target = Folder("target", Open);
        PlantKey(target); // even a key there would not make it a session
        var process = attacker.Start(Markers(target, program, null, "tpt-setuid"), program, "3600"); // the user disposes it
        await UntilMarkedAsync(process, program);
        Assert.Equal(0u, Native.LStat($"/proc/{process.Id}")!.Value.Uid); // control: what the owner used to be read from

        var status = await TtydPortsTool.RunAsync("status", "--instance", _instance);

        Assert.True(status.ExitCode == 0, status.ToString());
        Assert.Equal(Open, File.GetUnixFileMode(target));
        Assert.Contains($"pid {process.Id} (unknown user)", status.Error, StringComparison.Ordinal);
        Assert.Contains("set-user-ID", status.Error, StringComparison.Ordinal);

        var cleanup = await TtydPortsTool.RunAsync("cleanup", "--all", "--instance", _instance);

        Assert.True(cleanup.ExitCode == 0, cleanup.ToString());
        Assert.False(process.HasExited, cleanup.ToString());
        Assert.Equal(Open, File.GetUnixFileMode(target));
    }

    [Fact]
    public async Task A_root_process_in_another_mount_namespace_is_not_believed_with_a_folder_and_key_of_its_own()
    {
        // What a container's root (uid 0 on the host with a rootful engine) can set up: a root-owned 0700 folder with a
        // key it wrote, and markers signed with it. Here root itself, in a mount namespace of its own (unshare -m).
        RealParts.Require();
        RealParts.RequireRoot("a root process in a mount namespace of its own needs root");

        var folder = Folder("elsewhere", UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        var key = PlantKey(folder);
        var elsewhere = Start(Markers(folder, _sleep, key, "tpt-elsewhere-" + _instance), "unshare", "--mount", "--", _sleep, "3600");
        var here = Start(Markers(folder, _sleep, key, "tpt-here-" + _instance), _sleep, "3600");
        await UntilMarkedAsync(elsewhere, _sleep);
        await UntilMarkedAsync(here, _sleep);
        Assert.NotEqual(ProcFs.ReadOwnMountNamespace(), ProcFs.ReadMountNamespace(elsewhere.Id));

        var status = await TtydPortsTool.RunAsync("status", "--instance", _instance);

        Assert.True(status.ExitCode == 0, status.ToString());
        Assert.DoesNotContain("tpt-elsewhere-", status.Output, StringComparison.Ordinal);
        Assert.Contains("tpt-here-" + _instance, status.Output, StringComparison.Ordinal); // control: the same markers in the tool's namespace
        Assert.Contains($"pid {elsewhere.Id} (uid 0)", status.Error, StringComparison.Ordinal);
        Assert.Contains("another mount namespace", status.Error, StringComparison.Ordinal);
    }
}
