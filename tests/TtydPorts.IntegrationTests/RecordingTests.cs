using System.Text;
using System.Text.Json;

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
