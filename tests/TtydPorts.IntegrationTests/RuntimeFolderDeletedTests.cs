namespace TtydPorts.IntegrationTests;

/// <summary>
/// The runtime folder deleted under a live manager (systemd clears /run/user/UID when that user's last login ends; an
/// operator's rm): ttyd still answers, but its tmux socket (and in proxy mode its own socket) and the instance key are gone.
/// </summary>
[Collection(RealPartsCollection.Name)]
public sealed class RuntimeFolderDeletedTests(ContainerLab lab)
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task A_repair_pass_writes_the_key_back_for_sessions_it_keeps_after_the_runtime_folder_was_deleted_so_a_later_run_adopts_them()
    {
        var container = lab.StartContainer();
        var instance = "itest-" + Guid.NewGuid().ToString("N")[..8];
        await using var first = new ManagerUnderTest(18930, 18934, o => o.PersistentShells = false, instance);
        var session = await first.Manager.EnsureSessionAsync(container, "alice", null, Ct);
        var keyFile = Path.Combine(first.RuntimeDirectory, instance + ".key");
        var key = await File.ReadAllBytesAsync(keyFile, Ct);

        // A TCP-mode ttyd without a tmux socket still answers after its folder went: repair keeps it, and writes the key back.
        Directory.Delete(first.RuntimeDirectory, recursive: true);
        Assert.Empty((await first.Manager.RepairAsync(Ct)).Stopped);
        Assert.Equal(key, await File.ReadAllBytesAsync(keyFile, Ct));
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(keyFile));

        // A later run of the instance adopts the session (it would start a new ttyd under a new key without the file).
        await first.AbandonAsync();
        await using var second = new ManagerUnderTest(18930, 18934, o => o.PersistentShells = false, instance);
        Assert.Equal(session!.ProcessId, (await second.Manager.EnsureSessionAsync(container, "alice", null, Ct))!.ProcessId);
    }

    [Fact]
    public async Task Repair_ends_a_persistent_session_whose_runtime_folder_was_deleted_and_the_next_session_works_with_the_key_written_back()
    {
        var container = lab.StartContainer();
        await using var sut = new ManagerUnderTest(18935, 18939);
        var (session, server, keyFile, key) = await StartWithShellAsync(sut, container);

        // Control: with the folder intact a repair pass leaves the session alone.
        Assert.Empty((await sut.Manager.RepairAsync(Ct)).Stopped);
        Assert.Equal(session.ProcessId, (await sut.Manager.EnsureSessionAsync(container, "alice", null, Ct))!.ProcessId);

        Directory.Delete(sut.RuntimeDirectory, recursive: true);
        var repaired = await sut.Manager.RepairAsync(Ct);

        // The whole session ended, the tmux server found by markers signed with the key the manager kept in memory.
        Assert.Equal(session.ProcessId, Assert.Single(repaired.Stopped).ProcessId);
        Assert.False(sut.Supervisor.IsAlive(session.Process));
        Assert.False(sut.Supervisor.IsAlive(server));
        Assert.Empty(sut.AllProcesses());
        await Poll.UntilAsync(() => Shells(container) == 0, Poll.Within(10)); // a signalled shell may take a moment to go

        var next = await sut.Manager.EnsureSessionAsync(container, "alice", null, Ct);
        Assert.NotEqual(session.ProcessId, next!.ProcessId);
        await using (var client = await TtydClient.ConnectAsync(next.GetUrl(), Ct))
        {
            await client.TypeAsync("echo ok-$((1+1))\r", Ct);
            await client.WaitForAsync("ok-2", Poll.Within(30));
        }

        // The folder is back, private, with the same key (a later run adopts the sessions signed with it).
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute, File.GetUnixFileMode(sut.RuntimeDirectory));
        Assert.Equal(key, await File.ReadAllBytesAsync(keyFile, Ct));
    }

    [Fact]
    public async Task In_proxy_mode_repair_ends_a_session_whose_runtime_folder_was_deleted_and_the_next_session_answers_with_the_key_written_back()
    {
        var container = lab.StartContainer();
        await using var sut = new ManagerUnderTest(18945, 18949, o => { o.ListenMode = TtydListenMode.UnixSocket; o.BasePath = "/terminals"; });
        var (session, server, keyFile, key) = await StartWithShellAsync(sut, container);

        Assert.Empty((await sut.Manager.RepairAsync(Ct)).Stopped);

        Directory.Delete(sut.RuntimeDirectory, recursive: true);
        var repaired = await sut.Manager.RepairAsync(Ct);

        Assert.Equal(session.ProcessId, Assert.Single(repaired.Stopped).ProcessId);
        Assert.False(sut.Supervisor.IsAlive(server));
        Assert.Empty(sut.AllProcesses());
        await Poll.UntilAsync(() => Shells(container) == 0, Poll.Within(10)); // a signalled shell may take a moment to go

        var next = await sut.Manager.EnsureSessionAsync(container, "alice", null, Ct);
        Assert.NotEqual(session.ProcessId, next!.ProcessId);
        await using var client = await TtydClient.ConnectAsync(new Uri($"ws://localhost/terminals/{container}/ws"), next.Credential, next.SocketPath, "http://localhost", Ct);
        await client.TypeAsync("echo ok-$((1+1))\r", Ct);
        await client.WaitForAsync("ok-2", Poll.Within(30));
        Assert.True(File.Exists(next.SocketPath));
        Assert.Equal(key, await File.ReadAllBytesAsync(keyFile, Ct));
    }

    // A session whose shell (started with it) and tmux server are up, and its instance key as its file holds it.
    private static async Task<(TtydSession Session, ProcessIdentity Server, string KeyFile, byte[] Key)> StartWithShellAsync(ManagerUnderTest sut, string container)
    {
        var session = await sut.Manager.EnsureSessionAsync(container, "alice", null, Ct);
        Assert.NotNull(session);
        await Poll.UntilAsync(() => Shells(container) == 1 && sut.TmuxServers().Count == 1, Poll.Within(30));
        var keyFile = Path.Combine(sut.RuntimeDirectory, sut.Instance + ".key");
        return (session, Assert.Single(sut.TmuxServers()).Process, keyFile, await File.ReadAllBytesAsync(keyFile, Ct));
    }

    // The interactive shells in the container (docker top's pid,args lines whose command is the shell, /bin/sh).
    private static int Shells(string container) =>
        RealParts.Docker("top", container, "-o", "pid,args").Split('\n').Skip(1).Count(l => Path.GetFileName(l.Trim().Split(' ', 2).Last()) == "sh");
}
