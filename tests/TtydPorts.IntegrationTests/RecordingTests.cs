using System.Net.Sockets;
using System.Text;
using System.Text.Json;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace TtydPorts.IntegrationTests;

/// <summary>Recording over real ttyd, real tmux and a real container: asciicast v2 content, cleanups, the cap, restarts.</summary>
[Collection(RealPartsCollection.Name)]
public sealed class RecordingTests(ContainerLab lab)
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task A_recording_holds_the_typed_commands_output_with_increasing_times_and_outlives_the_cleanup()
    {
        var recordings = NewRecordingFolder();
        try
        {
            var container = lab.StartContainer();
            await using var sut = new ManagerUnderTest(18420, 18424, o => o.RecordingDirectory = recordings);
            var session = await sut.Manager.EnsureSessionAsync(container, "alice", null, Ct);
            await using (var client = await TtydClient.ConnectAsync(session!.GetUrl(), Ct))
            {
                // Typed once the recorder is attached (the file exists), so the output comes as live events, not in the snapshot.
                await Poll.UntilAsync(() => Recording(recordings, container).Length > 0, Poll.Within(30));
                await client.TypeAsync("echo rec-$((6*7))\r", Ct);
                await client.WaitForAsync("rec-42", Poll.Within(30));
                await Poll.UntilAsync(() => Output(Recording(recordings, container)).Contains("rec-42", StringComparison.Ordinal), Poll.Within(30));
            }

            var file = Recording(recordings, container);
            var (header, events) = Parse(file);
            Assert.Equal(2, header.GetProperty("version").GetInt32());
            Assert.True(header.GetProperty("width").GetInt32() > 0 && header.GetProperty("height").GetInt32() > 0);
            Assert.InRange(header.GetProperty("timestamp").GetInt64(), DateTimeOffset.UtcNow.AddMinutes(-5).ToUnixTimeSeconds(), DateTimeOffset.UtcNow.ToUnixTimeSeconds());
            Assert.Equal("screen-256color", header.GetProperty("env").GetProperty("TERM").GetString());
            Assert.Equal("/bin/sh", header.GetProperty("env").GetProperty("SHELL").GetString());
            Assert.Equal(container, header.GetProperty("title").GetString());
            Assert.True(events.Count >= 2, $"{events.Count} events");
            Assert.All(events, e => Assert.Contains(e.Code, (string[])["o", "r"]));
            Assert.All(events.Zip(events.Skip(1)), pair => Assert.True(pair.Second.Time >= pair.First.Time, $"{pair.Second.Time} < {pair.First.Time}"));
            Assert.True(events[^1].Time > events[0].Time);
            Assert.StartsWith(container + "-", Path.GetFileName(file), StringComparison.Ordinal);
            Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(file));
            Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute, File.GetUnixFileMode(recordings));

            // Control: the recorder runs as part of the session; the stop ends it and leaves the recording.
            Assert.Single(sut.Recorders());
            var length = new FileInfo(file).Length;
            var result = await sut.Manager.DeleteNodeAsync(container, Ct);
            Assert.Single(result.Stopped);
            Assert.Empty(sut.Recorders());
            Assert.Empty(sut.AllProcesses());
            Assert.True(File.Exists(file));
            Assert.True(new FileInfo(file).Length >= length);

            // Negative: a manager without RecordingDirectory records nothing, with the same typed command.
            var other = lab.StartContainer();
            await using var plain = new ManagerUnderTest(18425, 18429);
            var plainSession = await plain.Manager.EnsureSessionAsync(other, "alice", null, Ct);
            await using (var client = await TtydClient.ConnectAsync(plainSession!.GetUrl(), Ct))
            {
                await client.TypeAsync("echo rec-$((6*7))\r", Ct);
                await client.WaitForAsync("rec-42", Poll.Within(30));
            }

            Assert.Empty(plain.Recorders());
            Assert.Equal([file], Directory.GetFiles(recordings));
        }
        finally
        {
            Directory.Delete(recordings, recursive: true);
        }
    }

    [Fact]
    public async Task The_cap_ends_the_recording_with_a_last_marker_within_RecordingMaxBytes()
    {
        var recordings = NewRecordingFolder();
        try
        {
            var container = lab.StartContainer();
            await using var sut = new ManagerUnderTest(18430, 18434, o => { o.RecordingDirectory = recordings; o.RecordingMaxBytes = 4096; });
            var session = await sut.Manager.EnsureSessionAsync(container, "alice", null, Ct);
            await using var client = await TtydClient.ConnectAsync(session!.GetUrl(), Ct);
            await client.TypeAsync("echo small-$((1+1))\r", Ct);
            await client.WaitForAsync("small-2", Poll.Within(30));
            await Poll.UntilAsync(() => Output(Recording(recordings, container)).Contains("small-2", StringComparison.Ordinal), Poll.Within(30));
            Assert.Single(sut.Recorders()); // control: below the cap it records on

            await client.TypeAsync("seq 1 3000; echo big-$((2+3))\r", Ct);
            await client.WaitForAsync("big-5", Poll.Within(30));
            await Poll.UntilAsync(() => sut.Recorders().Count == 0, Poll.Within(30));

            var file = Recording(recordings, container);
            var (_, events) = Parse(file);
            Assert.True(new FileInfo(file).Length <= 4096, $"{new FileInfo(file).Length} bytes");
            Assert.Equal("m", events[^1].Code);
            Assert.Contains("RecordingMaxBytes", events[^1].Text, StringComparison.Ordinal);
            Assert.DoesNotContain("big-5", Output(file), StringComparison.Ordinal);
        }
        finally
        {
            Directory.Delete(recordings, recursive: true);
        }
    }

    [Fact]
    public async Task After_a_host_restart_the_adopted_session_is_recorded_in_a_new_file()
    {
        var recordings = NewRecordingFolder();
        try
        {
            var container = lab.StartContainer();
            var instance = "itest-" + Guid.NewGuid().ToString("N")[..8];
            var first = new ManagerUnderTest(18435, 18439, o => o.RecordingDirectory = recordings, instance);
            var session = await first.Manager.EnsureSessionAsync(container, "alice", null, Ct);
            await using (var client = await TtydClient.ConnectAsync(session!.GetUrl(), Ct))
            {
                await client.TypeAsync("echo before-$((20+1))\r", Ct);
                await Poll.UntilAsync(() => Output(Recording(recordings, container)).Contains("before-21", StringComparison.Ordinal), Poll.Within(30));
            }

            var before = Recording(recordings, container);
            await first.AbandonAsync();
            // The recorder ends with its host (its pipe closes), a moment after the host is gone; the session does not.
            await Poll.UntilAsync(() => first.Recorders().Count == 0, Poll.Within(10));

            await using var second = new ManagerUnderTest(18435, 18439, o => o.RecordingDirectory = recordings, instance);
            var adopted = await second.Manager.EnsureSessionAsync(container, "alice", null, Ct);
            Assert.Equal(session.ProcessId, adopted!.ProcessId);
            await using (var client = await TtydClient.ConnectAsync(adopted.GetUrl(), Ct))
            {
                await client.TypeAsync("echo after-$((40+2))\r", Ct);
                await client.WaitForAsync("after-42", Poll.Within(30));
                await Poll.UntilAsync(() => Directory.GetFiles(recordings).Length == 2 && Output(Directory.GetFiles(recordings).Single(f => f != before)).Contains("after-42", StringComparison.Ordinal), Poll.Within(30));
            }

            Assert.DoesNotContain("after-42", Output(before), StringComparison.Ordinal);
            Assert.Single(second.Recorders());
        }
        finally
        {
            Directory.Delete(recordings, recursive: true);
        }
    }

    // The shell writes every byte of the screen, and a recorder that attaches (here: after a host restart) reads the
    // screen as capture-pane's raw lines: rows that read like tmux's control protocol must neither end the recorder's
    // attach (a row "%exit" after a forged "%end" made it leave and come back every poll, so what the shell printed
    // meanwhile was never recorded as it came) nor add events (a forged resize).
    [Fact]
    public async Task Screen_rows_that_read_like_tmux_control_lines_neither_end_nor_forge_the_recording()
    {
        var recordings = NewRecordingFolder();
        var container = lab.StartContainer();
        var instance = "itest-" + Guid.NewGuid().ToString("N")[..8];
        try
        {
            await using var first = new ManagerUnderTest(18515, 18519, o => o.RecordingDirectory = recordings, instance); // abandoned below; a failure before that still cleans up
            var session = await first.Manager.EnsureSessionAsync(container, "mallory", null, Ct);
            await using (var client = await TtydClient.ConnectAsync(session!.GetUrl(), Ct))
            {
                await client.TypeAsync("clear; printf '%%end 1 2 1\\n%%layout-change @0 b25d,7x3,0,0,0\\n%%exit\\n'; echo forged-$((1+1))\r", Ct);
                await Poll.UntilAsync(() => Output(Recording(recordings, container)).Contains("forged-2", StringComparison.Ordinal), Poll.Within(30));
            }

            var before = Recording(recordings, container);
            await first.AbandonAsync();
            await Poll.UntilAsync(() => first.Recorders().Count == 0, Poll.Within(10));

            await using var second = new ManagerUnderTest(18515, 18519, o => o.RecordingDirectory = recordings, instance);
            Assert.NotNull(await second.Manager.EnsureSessionAsync(container, "mallory", null, Ct));
            string Adopted() => Directory.GetFiles(recordings).SingleOrDefault(f => f != before) ?? "";

            // Typed once the new recorder is attached (its file exists), so the output comes as live events.
            await Poll.UntilAsync(() => Adopted().Length > 0, Poll.Within(30));
            await using (var client = await TtydClient.ConnectAsync(session.GetUrl(), Ct))
            {
                await client.TypeAsync("echo after-$((40+2))\r", Ct);
                await Poll.UntilAsync(() => Output(Adopted()).Contains("after-42", StringComparison.Ordinal), Poll.Within(30));
            }

            var (_, events) = Parse(Adopted());
            var snapshot = Assert.Single(events, e => e.Code == "o" && e.Text.StartsWith("\u001b[H\u001b[2J", StringComparison.Ordinal)); // attached once
            Assert.Contains("%exit", snapshot.Text, StringComparison.Ordinal); // the whole screen, forged rows included
            Assert.Contains(events, e => e.Code == "o" && e.Text.Contains("after-42", StringComparison.Ordinal) && !e.Text.StartsWith("\u001b[H", StringComparison.Ordinal));
            Assert.DoesNotContain(events, e => e.Code == "r" && e.Text == "7x3");
            Assert.Single(second.Recorders());
        }
        finally
        {
            Directory.Delete(recordings, recursive: true);
        }
    }

    [Fact]
    public async Task A_screen_row_that_repeats_the_screen_dumps_own_guard_is_a_row_and_the_recording_goes_on()
    {
        // tmux's guard for a block (time, command number, flags) can be guessed, and a shell can fill its screen with
        // guesses followed by "%exit". This is how tmux 3.3a answers the recorder's two commands (display-message, then
        // capture-pane of a 3-row pane) when the first two rows are such a guess and "%exit", then a live output line.
        var recordings = NewRecordingFolder();
        try
        {
            var folder = RuntimeFolder.ForRecordings(recordings, Native.geteuid());
            Assert.Null(folder.Check(create: true));
            await using var recorder = SessionRecorder.Start(new RecorderPlan
            {
                Container = "forged",
                Token = new string('a', 32),
                Tmux = "tmux",
                TmuxSocket = Path.Combine(recordings, "no-server.tmux"), // its own loop finds no server: only the transcript is read
                Shell = "/bin/sh",
                Folder = folder,
                MaxBytes = 1 << 20,
                Environment = System.Collections.Immutable.ImmutableDictionary<string, string>.Empty,
                StopGracePeriod = TimeSpan.FromSeconds(1),
            }, Microsoft.Extensions.Logging.Abstractions.NullLogger.Instance, TimeProvider.System);
            const string Transcript = "%begin 1795777888 270 1\nttydports-size 80 3 3\n%end 1795777888 270 1\n"
                + "%begin 1795777888 271 1\n%end 1795777888 271 1\n%exit\nlast row\n%end 1795777888 271 1\n"
                + "%output %0 after-42\\015\\012\n";

            await recorder.ReadAsync(new StreamReader(new MemoryStream(Encoding.UTF8.GetBytes(Transcript))), Ct);

            var (_, events) = Parse(Recording(recordings, "forged"));
            var snapshot = Assert.Single(events, e => e.Code == "o" && e.Text.StartsWith("\u001b[H\u001b[2J", StringComparison.Ordinal));
            Assert.Equal("\u001b[H\u001b[2J%end 1795777888 271 1\r\n%exit\r\nlast row", snapshot.Text); // all three rows
            Assert.Contains(events, e => e.Code == "o" && e.Text == "after-42\r\n"); // and it went on recording
        }
        finally
        {
            Directory.Delete(recordings, recursive: true);
        }
    }

    [Fact]
    public async Task A_recording_folder_others_can_replace_is_refused_naming_it_and_no_terminal_starts()
    {
        var open = Path.Combine(Path.GetTempPath(), "ttydports-open-" + Guid.NewGuid().ToString("N")[..8]);
        Directory.CreateDirectory(open);
        File.SetUnixFileMode(open, (UnixFileMode)0x1FF); // 0777 without the sticky bit
        try
        {
            var container = lab.StartContainer();
            var recordings = Path.Combine(open, "recordings");
            await using var sut = new ManagerUnderTest(18440, 18444, o => o.RecordingDirectory = recordings);

            var error = await Assert.ThrowsAsync<TtydStartException>(async () => await sut.Manager.EnsureSessionAsync(container, "alice", null, Ct));

            Assert.Contains($"RecordingDirectory '{recordings}'", error.Message, StringComparison.Ordinal);
            Assert.Contains($"'{open}'", error.Message, StringComparison.Ordinal);
            Assert.Empty(sut.TtydProcesses());
            Assert.False(Directory.Exists(recordings));

            // Control: the same folder made safe (sticky, as /tmp) is accepted and created 0700.
            File.SetUnixFileMode(open, (UnixFileMode)0x3FF);
            Assert.NotNull(await sut.Manager.EnsureSessionAsync(container, "alice", null, Ct));
            Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute, File.GetUnixFileMode(recordings));
        }
        finally
        {
            Directory.Delete(open, recursive: true);
        }
    }

    // A tmux server frozen (SIGSTOP: a buggy or hostile process, a frozen part of the machine) under a recorded session
    // whose recorder is attached: its control client waits on the server for good, the stop ends it and then thaws and
    // ends the server. Control: not frozen, the recording holds everything up to the cleanup.
    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task A_cleanup_finishes_while_the_recorded_tmux_server_is_frozen_and_the_recording_keeps_what_was_written(bool frozen)
    {
        var recordings = NewRecordingFolder();
        var container = lab.StartContainer();
        try
        {
            var logs = new CapturedLogs();
            await using (var sut = new ManagerUnderTest(18450, 18454, o => o.RecordingDirectory = recordings, services: s => s.AddSingleton<ILoggerProvider>(logs)))
            {
                var session = await sut.Manager.EnsureSessionAsync(container, "alice", null, Ct);
                await using var client = await TtydClient.ConnectAsync(session!.GetUrl(), Ct);
                await Poll.UntilAsync(() => Recording(recordings, container).Length > 0, Poll.Within(30));
                await client.TypeAsync("echo before-$((6*7))\r", Ct);
                await Poll.UntilAsync(() => Output(Recording(recordings, container)).Contains("before-42", StringComparison.Ordinal), Poll.Within(30));
                var file = Recording(recordings, container);
                var server = Assert.Single(sut.TmuxServers()).Process;
                if (frozen)
                {
                    await FreezeAsync(sut, server);
                    await client.TypeAsync("echo during-$((6*7))\r", Ct); // reaches nothing while the server is frozen
                }
                else
                {
                    await client.TypeAsync("echo after-$((6*7))\r", Ct);
                    await Poll.UntilAsync(() => Output(file).Contains("after-42", StringComparison.Ordinal), Poll.Within(30));
                }

                var written = File.ReadAllBytes(file);
                await CleanupWithinBoundAsync(sut, server);

                Assert.Empty(sut.AllProcesses()); // ttyd, the tmux server with its exec client, the recorder's client
                var now = File.ReadAllBytes(file);
                Assert.Equal(written, now.Take(written.Length)); // nothing written was lost or rewritten
                AssertValidAsciicast(file);
                Assert.Contains("before-42", Output(file), StringComparison.Ordinal);
                Assert.True(frozen || Output(file).Contains("after-42", StringComparison.Ordinal), "the recording of the running shell is complete");
                Assert.Equal(frozen, logs.Text.Contains("its tmux server not answering (frozen?); it was killed", StringComparison.Ordinal));
            }

            AssertRemoved(container);
        }
        finally
        {
            Directory.Delete(recordings, recursive: true);
        }
    }

    // A host restarted while the session's tmux server is frozen with its listen backlog full (every connection to a
    // frozen server stays queued there, also one whose client gave up: browsers reconnecting to a frozen shell fill it):
    // the new host's recorder looks at the server before it attaches. A blocking connect would wait until the server
    // thaws, which the stop does only after the recorder ended: the cleanup would wait for good. Control: not frozen,
    // the adopted session is recorded into a new file, complete.
    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task After_a_host_restart_a_cleanup_finishes_while_the_tmux_server_is_frozen_with_a_full_backlog(bool frozen)
    {
        var recordings = NewRecordingFolder();
        var container = lab.StartContainer();
        var instance = "itest-" + Guid.NewGuid().ToString("N")[..8];
        try
        {
            var first = new ManagerUnderTest(18455, 18459, o => o.RecordingDirectory = recordings, instance);
            var session = await first.Manager.EnsureSessionAsync(container, "alice", null, Ct);
            await using (var client = await TtydClient.ConnectAsync(session!.GetUrl(), Ct))
            {
                await client.TypeAsync("echo before-$((20+1))\r", Ct);
                await Poll.UntilAsync(() => Output(Recording(recordings, container)).Contains("before-21", StringComparison.Ordinal), Poll.Within(30));
            }

            var before = Recording(recordings, container);
            var server = Assert.Single(first.TmuxServers()).Process;
            var socket = Assert.Single(Directory.GetFiles(first.RuntimeDirectory, "*.tmux"));
            await first.AbandonAsync();
            await Poll.UntilAsync(() => first.Recorders().Count == 0, Poll.Within(10));
            var written = File.ReadAllBytes(before);
            if (frozen)
            {
                await FreezeAsync(first, server);
                Assert.True(FillBacklog(socket) > 0);
            }

            var logs = new CapturedLogs();
            await using (var second = new ManagerUnderTest(18455, 18459, o => o.RecordingDirectory = recordings, instance, s => s.AddSingleton<ILoggerProvider>(logs)))
            {
                Assert.True(second.Supervisor.IsAlive(server)); // adopted, with its session
                if (frozen)
                {
                    // The cleanup comes after the recorder's look at the server: it logged that the server takes no
                    // connection or, with a blocking connect (the code before this test), a thread of ours waits in it.
                    await Poll.UntilAsync(() => logs.Text.Contains("accepts no connection", StringComparison.Ordinal) || AThreadWaitsInUnixConnect(), Poll.Within(30));
                }
                else
                {
                    await using var client = await TtydClient.ConnectAsync(session.GetUrl(), Ct);
                    await client.TypeAsync("echo after-$((40+2))\r", Ct);
                    await Poll.UntilAsync(() => Directory.GetFiles(recordings).Length == 2 && Output(Directory.GetFiles(recordings).Single(f => f != before)).Contains("after-42", StringComparison.Ordinal), Poll.Within(30));
                }

                await CleanupWithinBoundAsync(second, server);

                Assert.Empty(second.AllProcesses());
                Assert.Equal(written, File.ReadAllBytes(before)); // the earlier run's recording, untouched
                Assert.All(Directory.GetFiles(recordings), AssertValidAsciicast);
                Assert.Equal(frozen ? 1 : 2, Directory.GetFiles(recordings).Length); // a frozen server was never attached to
                Assert.True(frozen || Output(Directory.GetFiles(recordings).Single(f => f != before)).Contains("after-42", StringComparison.Ordinal));
                Assert.Equal(frozen, logs.Text.Contains($"accepts no connection on {socket}", StringComparison.Ordinal));
            }

            AssertRemoved(container);
        }
        finally
        {
            Directory.Delete(recordings, recursive: true);
        }
    }

    private static async Task FreezeAsync(ManagerUnderTest sut, ProcessIdentity server)
    {
        Assert.Equal(0, Native.kill(server.ProcessId, 19)); // SIGSTOP
        await Poll.UntilAsync(() => sut.Supervisor.IsStopped(server), Poll.Within(30));
    }

    // The cleanup of the one session (alice's), bounded: 30 s is a failure bound, not a timing. Whatever the outcome, a
    // server still frozen is thawed in the end (by its identity, so no other process is signalled): a cleanup that waits
    // on it can then finish, and the manager's disposal with it, instead of the test hanging.
    private static async Task CleanupWithinBoundAsync(ManagerUnderTest sut, ProcessIdentity server)
    {
        var cleanup = sut.Manager.CleanupUserAsync("alice", CancellationToken.None);
        try
        {
            try
            {
                await Poll.UntilAsync(() => cleanup.IsCompleted, Poll.Within(30));
            }
            catch (OperationCanceledException) when (!Ct.IsCancellationRequested)
            {
                Assert.Fail("The cleanup did not finish within 30 s while the session's tmux server was frozen.");
            }

            var result = await cleanup;
            Assert.True(result.Succeeded, string.Join("; ", result.Failed.Select(f => f.Error.Message)));
            Assert.Single(result.Stopped);
            Assert.False(sut.Supervisor.IsAlive(server)); // thawed and ended with its session
        }
        finally
        {
            if (sut.Supervisor.IsStopped(server))
            {
                Native.kill(server.ProcessId, 18); // SIGCONT
                await Poll.UntilAsync(() => cleanup.IsCompleted, Poll.Within(30)); // before the manager's disposal looks
            }
        }
    }

    // Connections into the frozen server's backlog until the kernel refuses the next one (EAGAIN); each is closed at
    // once and stays queued all the same, as the connections of clients that gave up do.
    private static int FillBacklog(string socketPath)
    {
        for (var queued = 0; queued < 100_000; queued++)
        {
            using var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified) { Blocking = false };
            try
            {
                socket.Connect(new UnixDomainSocketEndPoint(socketPath));
            }
            catch (SocketException e) when (e.SocketErrorCode == SocketError.WouldBlock)
            {
                return queued;
            }
        }

        throw new InvalidOperationException($"{socketPath} took every connection: its server is not frozen.");
    }

    // Whether a thread of this process waits in a Unix socket connect on a full backlog (/proc's wait channel).
    private static bool AThreadWaitsInUnixConnect() =>
        Directory.GetDirectories("/proc/self/task").Any(task =>
        {
            try
            {
                return File.ReadAllText(Path.Combine(task, "wchan")) == "unix_wait_for_peer";
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                return false;
            }
        });

    // Every line whole: the header object, then [time, code, text] events with times that never go back.
    private static void AssertValidAsciicast(string file)
    {
        Assert.EndsWith("\n", File.ReadAllText(file), StringComparison.Ordinal);
        var (header, events) = Parse(file);
        Assert.Equal(2, header.GetProperty("version").GetInt32());
        Assert.All(events.Zip(events.Skip(1)), pair => Assert.True(pair.Second.Time >= pair.First.Time, $"{pair.Second.Time} < {pair.First.Time}"));
    }

    // The test's container, removed by the test itself: nothing of it is left for the lab's end.
    private void AssertRemoved(string container)
    {
        lab.Remove(container);
        Assert.NotEqual(0, RealParts.Run(RealParts.DockerClient, "container", "inspect", container).ExitCode);
    }

    private static string NewRecordingFolder() => Path.Combine(Path.GetTempPath(), "ttydports-rec-" + Guid.NewGuid().ToString("N")[..8]);

    // The one recording of the container; empty until the recorder created it.
    private static string Recording(string folder, string container) =>
        Directory.Exists(folder) ? Directory.GetFiles(folder, container + "-*.cast").SingleOrDefault() ?? "" : "";

    private static string Output(string file)
    {
        if (file.Length == 0 || !File.Exists(file))
        {
            return "";
        }

        var text = new StringBuilder();
        foreach (var line in File.ReadAllLines(file).Skip(1).Where(l => l.Length > 0))
        {
            using var json = JsonDocument.Parse(line);
            if (json.RootElement[1].GetString() == "o")
            {
                text.Append(json.RootElement[2].GetString());
            }
        }

        return text.ToString();
    }

    private static (JsonElement Header, List<(double Time, string Code, string Text)> Events) Parse(string file)
    {
        var lines = File.ReadAllLines(file);
        var header = JsonDocument.Parse(lines[0]).RootElement.Clone();
        var events = new List<(double, string, string)>();
        foreach (var line in lines.Skip(1))
        {
            var e = JsonDocument.Parse(line).RootElement;
            Assert.Equal(JsonValueKind.Array, e.ValueKind);
            Assert.Equal(3, e.GetArrayLength());
            events.Add((e[0].GetDouble(), e[1].GetString()!, e[2].GetString()!));
        }

        return (header, events);
    }
}
