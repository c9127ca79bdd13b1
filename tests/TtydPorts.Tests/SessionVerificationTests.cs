using System.Globalization;
using System.Security.Cryptography;
using Moq;

namespace TtydPorts.Tests;

/// <summary>
/// Verifying a marked process (as the <c>ttyd-ports</c> tool does, run as root, for every user's processes) only reads
/// until the signature is verified, and whatever a process's markers name, one process can only be refused: a folder
/// named by a marker is never changed, a set-user-ID program is never a session, a marker that breaks a check refuses
/// that process alone, and the key is never opened as anything but a private regular file.
/// </summary>
public sealed class SessionVerificationTests : IDisposable
{
    private const string Instance = "lab";
    private const UnixFileMode Open = (UnixFileMode)0x1ED; // 0755
    private const UnixFileMode Private = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute;
    private readonly string _root = Directory.CreateTempSubdirectory("tp-verify-").FullName;
    private int _nextPid = 700;

    public void Dispose() => Directory.Delete(_root, recursive: true);

    private string Folder(string name, UnixFileMode mode)
    {
        var path = Path.Combine(_root, name);
        Directory.CreateDirectory(path);
        File.SetUnixFileMode(path, mode);
        return path;
    }

    // A key as the library writes it (32 random bytes, 0600), put in place by the folder's owner.
    private static byte[] PlantKey(string folder, int length = 32)
    {
        var key = RandomNumberGenerator.GetBytes(length);
        var path = Path.Combine(folder, Instance + ".key");
        File.WriteAllBytes(path, key);
        File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        return key;
    }

    // A process whose markers are signed with key: as ttyd started by a manager, or as a forgery by the key's owner.
    private MarkedProcess Signed(string runtime, byte[]? key, ulong? mountNamespace = null)
    {
        var pid = Interlocked.Increment(ref _nextPid);
        var markers = new Dictionary<string, string>
        {
            ["TTYDPORTS_INSTANCE"] = Instance,
            ["TTYDPORTS_SESSION"] = pid.ToString("x32", CultureInfo.InvariantCulture),
            ["TTYDPORTS_CONTAINER"] = "node" + pid.ToString(CultureInfo.InvariantCulture),
            ["TTYDPORTS_USER"] = "alice",
            ["TTYDPORTS_PORT"] = "8000",
            ["TTYDPORTS_STARTED"] = "1767225600000",
            [SessionAdoption.RuntimeMarker] = runtime,
            [SessionAdoption.ExecutableMarker] = "/usr/bin/ttyd",
        };
        if (key is not null)
        {
            markers[MarkerSignature.Marker] = MarkerSignature.Compute(key, markers);
        }

        return new MarkedProcess
        {
            Process = new ProcessIdentity(pid, (ulong)pid * 10),
            ParentProcessId = 1,
            Markers = markers,
            OwnerUid = Native.geteuid(),
            ExecutablePath = "/usr/bin/ttyd",
            MountNamespace = mountNamespace ?? ProcFs.ReadOwnMountNamespace(),
        };
    }

    private static SessionAdoption Tool() => SessionAdoption.ForMachine(Native.geteuid(), ProcFs.ReadOwnMountNamespace());

    [Fact]
    public void A_folder_a_process_names_is_only_read_even_under_a_valid_signature_and_its_mode_never_changes()
    {
        // The owner's own folder with mode 0755 and a key of theirs: what root's tool met when the attacker named `/`.
        var folder = Folder("open", Open);
        var process = Signed(folder, PlantKey(folder));

        Assert.Equal(AdoptionRefusal.UntrustedFolder, Tool().Check(process, out var reason));

        Assert.Equal(Open, File.GetUnixFileMode(folder));
        Assert.Contains("has mode 755, not 0700", reason, StringComparison.Ordinal);

        // Checking and reading the folder directly change nothing either.
        var own = new RuntimeFolder(folder, Native.geteuid());
        Assert.NotNull(own.Check(create: false));
        Assert.Null(own.ReadKey(Instance, byName: true));
        Assert.Equal(Open, File.GetUnixFileMode(folder));

        // A folder built from a marker cannot even be asked to change.
        var named = RuntimeFolder.FromMarker(folder, Native.geteuid());
        Assert.Throws<InvalidOperationException>(named.EnsureTrusted);
        Assert.Throws<InvalidOperationException>(() => named.GetOrCreateKey(Instance));
        Assert.Equal(Open, File.GetUnixFileMode(folder));

        // Control: a manager preparing a start in its own configured folder makes it 0700, and then the process is believed.
        Assert.Null(own.Check(create: true));
        Assert.Equal(Private, File.GetUnixFileMode(folder));
        Assert.Equal(AdoptionRefusal.None, Tool().Check(process));
    }

    [Fact]
    public void A_marker_that_breaks_a_check_refuses_its_process_alone_and_the_others_are_still_found()
    {
        var good = Folder("good", Private);
        var key = PlantKey(good);
        var loop = Folder("loop", Private);
        File.CreateSymbolicLink(Path.Combine(loop, "a"), Path.Combine(loop, "b"));
        File.CreateSymbolicLink(Path.Combine(loop, "b"), Path.Combine(loop, "a"));
        var session = Signed(good, key);
        var marked = new List<MarkedProcess>
        {
            Signed("", key),
            Signed(Path.Combine(loop, "a", "x"), key),
            Signed("relative/folder", key),
            Signed(good + "/../good", key),
            session,
        };
        var supervisor = new Mock<IProcessSupervisor>(MockBehavior.Strict);
        supervisor.Setup(s => s.FindMarkedProcesses(TtydProcessDiscovery.MarkerPrefix, "TTYDPORTS_INSTANCE", null)).Returns(marked);
        var refused = new List<RefusedProcess>();

        var found = Tool().Find(supervisor.Object, null, refused);

        Assert.Equal(session.Process, Assert.Single(found).Session.Process);
        Assert.Equal(marked.Take(4).Select(m => m.Process), refused.Select(r => r.Process.Process));
        Assert.Equal([AdoptionRefusal.InvalidMarker, AdoptionRefusal.UntrustedFolder, AdoptionRefusal.InvalidMarker, AdoptionRefusal.InvalidMarker], refused.Select(r => r.Refusal));
        Assert.Contains("empty", refused[0].Reason, StringComparison.Ordinal);
        Assert.Contains("cannot be followed", refused[1].Reason, StringComparison.Ordinal);
        Assert.Contains("not an absolute path", refused[2].Reason, StringComparison.Ordinal);
        Assert.Contains("not a canonical path", refused[3].Reason, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("Uid:\t1000\t1000\t1000\t1000\nGid:\t1000\t1000\t1000\t1000\n", 1000u)]
    [InlineData("Name:\tttyd\nUid:\t0\t0\t0\t0\nGid:\t0\t0\t0\t0\nGroups:\t0 \n", 0u)]
    [InlineData("Uid:\t1000\t0\t0\t0\nGid:\t1000\t1000\t1000\t1000\n", null)] // su, run by uid 1000
    [InlineData("Uid:\t1000\t1000\t0\t1000\nGid:\t1000\t1000\t1000\t1000\n", null)] // root kept as the saved uid
    [InlineData("Uid:\t1000\t1000\t1000\t1000\nGid:\t1000\t42\t42\t42\n", null)] // a set-group-ID program
    [InlineData("Uid:\t1000\t1000\t1000\t1000\n", null)]
    [InlineData("Uid:\t1000\t1000\t1000\nGid:\t1000\t1000\t1000\n", null)]
    [InlineData("Uid:\tx\tx\tx\tx\nGid:\t1000\t1000\t1000\t1000\n", null)]
    public void The_owner_of_a_process_is_its_one_uid_and_a_set_id_program_has_none(string status, uint? owner) =>
        Assert.Equal(owner, ProcFs.ParseOwner(status));

    [Fact]
    public void A_root_process_in_another_mount_namespace_is_believed_only_in_roots_default_folder()
    {
        // A container's root is uid 0 on the host (rootful engine) and can reach a root-owned 0700 folder of its own
        // through /proc/PID/root: the path in its marker means another folder to it than to the tool.
        var folder = Folder("root-elsewhere", Private);
        var elsewhere = Signed(folder, PlantKey(folder), mountNamespace: 1) with { OwnerUid = 0 };
        var tool = SessionAdoption.ForMachine(0, ProcFs.ReadOwnMountNamespace());

        Assert.Equal(AdoptionRefusal.RootElsewhere, tool.Check(elsewhere, out var reason));
        Assert.Contains(RuntimeFolder.RootDefaultPath, reason, StringComparison.Ordinal);
        Assert.Equal(AdoptionRefusal.RootElsewhere, tool.Check(elsewhere with { MountNamespace = null }));

        // In root's default folder the path means root's own folder: checked as any other (here: no such key).
        Assert.NotEqual(AdoptionRefusal.RootElsewhere, tool.Check(Signed(RuntimeFolder.RootDefaultPath, null, mountNamespace: 1) with { OwnerUid = 0 }));

        // In the tool's own mount namespace a root session is believed (the folder is root's only when the tests run as root).
        var here = elsewhere with { MountNamespace = ProcFs.ReadOwnMountNamespace() };
        Assert.Equal(Native.geteuid() == 0 ? AdoptionRefusal.None : AdoptionRefusal.UntrustedFolder, tool.Check(here));
    }

    [Fact]
    public void A_key_of_another_length_is_refused_not_cut()
    {
        var folder = Folder("long-key", Private);
        PlantKey(folder, length: 33);

        Assert.Null(new RuntimeFolder(folder, Native.geteuid()).TryReadKey(Instance, out var problem));
        Assert.Contains("33 bytes", problem, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_key_swapped_for_a_link_to_a_fifo_again_and_again_is_never_opened_and_no_read_blocks()
    {
        // The folder's owner (another user, when root runs the tool) swaps the key for a link to a FIFO, and back, as
        // fast as they can: a read that looked at the name and then opened it by name again would block on the FIFO
        // for good. The reads are bounded by the test's timeout, never by a sleep.
        var folder = Folder("fifo", Private);
        var key = PlantKey(folder);
        var keyPath = Path.Combine(folder, Instance + ".key");
        var fifo = Path.Combine(_root, "fifo.pipe");
        Assert.Equal(0, Mkfifo(fifo));
        var runtime = new RuntimeFolder(folder, Native.geteuid());
        using var stop = new CancellationTokenSource();
        var swaps = 0;
        var swapper = Task.Run(() =>
        {
            for (var i = 0; !stop.IsCancellationRequested; i = Interlocked.Increment(ref swaps))
            {
                var aside = Path.Combine(folder, $"k{i}");
                File.WriteAllBytes(aside, key);
                File.SetUnixFileMode(aside, UnixFileMode.UserRead | UnixFileMode.UserWrite);
                File.Move(aside, keyPath, overwrite: true);
                File.CreateSymbolicLink(aside, fifo);
                File.Move(aside, keyPath, overwrite: true);
            }
        }, TestContext.Current.CancellationToken);
        var seen = new List<byte[]?>();
        var reader = Task.Run(() =>
        {
            for (var i = 0; (i < 20_000 || Volatile.Read(ref swaps) < 1_000) && !swapper.IsCompleted; i++)
            {
                seen.Add(runtime.ReadKey(Instance, byName: true));
            }
        }, TestContext.Current.CancellationToken);
        try
        {
            await reader.WaitAsync(TimeSpan.FromSeconds(30), TestContext.Current.CancellationToken);
        }
        finally
        {
            stop.Cancel();
            await swapper;
            if (!reader.IsCompleted)
            {
                // A read blocked on the FIFO: a writer releases it, so that nothing of this test is left behind.
                await Task.Run(() => new FileStream(fifo, FileMode.Open, FileAccess.Write).Dispose(), TestContext.Current.CancellationToken)
                    .WaitAsync(TimeSpan.FromSeconds(10), TestContext.Current.CancellationToken);
                await reader.WaitAsync(TimeSpan.FromSeconds(10), TestContext.Current.CancellationToken);
            }
        }

        Assert.All(seen, read => Assert.True(read is null || read.SequenceEqual(key)));
        Assert.Contains(seen, read => read is null); // the link was met
        Assert.Contains(seen, read => read is not null); // and the key

        // With the FIFO itself as the key, the read is refused at once.
        File.Delete(keyPath);
        Assert.Equal(0, Mkfifo(keyPath));
        Assert.Null(runtime.TryReadKey(Instance, out var problem));
        Assert.Contains("not a regular file", problem, StringComparison.Ordinal);
    }

    private static int Mkfifo(string path)
    {
        using var mkfifo = System.Diagnostics.Process.Start("mkfifo", ["-m", "600", path]);
        mkfifo.WaitForExit();
        return mkfifo.ExitCode;
    }
}
