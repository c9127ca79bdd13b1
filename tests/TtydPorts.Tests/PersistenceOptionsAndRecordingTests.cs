using System.Text;
using System.Text.Json;
using Microsoft.Extensions.Options;

namespace TtydPorts.Tests;

public sealed class PersistenceOptionsTests
{
    private static ValidateOptionsResult Validate(Action<TtydSessionOptions> configure)
    {
        var options = new TtydSessionOptions();
        configure(options);
        return new TtydSessionOptionsRules(_ => null).Validate(null, options);
    }

    [Fact]
    public void A_shell_ending_in_a_semicolon_is_refused_with_persistence_and_accepted_without()
    {
        var error = Validate(o => o.Shell = "/bin/sh;").FailureMessage;
        Assert.Contains("Shell '/bin/sh;'", error, StringComparison.Ordinal);
        Assert.Contains("';'", error, StringComparison.Ordinal);

        Assert.True(Validate(o => o.Shell = "/bin/sh").Succeeded); // control: the same shell without ';'
        Assert.True(Validate(o => (o.Shell, o.PersistentShells) = ("/bin/sh;", false)).Succeeded); // no tmux, no rule
    }

    [Theory]
    [InlineData("")]
    [InlineData("   ")]
    public void An_empty_tmux_path_is_refused_with_persistence_and_ignored_without(string tmux)
    {
        Assert.Contains("TmuxPath must be set while PersistentShells is on", Validate(o => o.TmuxPath = tmux).FailureMessage, StringComparison.Ordinal);
        Assert.True(Validate(o => (o.TmuxPath, o.PersistentShells) = (tmux, false)).Succeeded);
        Assert.True(Validate(o => o.TmuxPath = "/usr/bin/tmux").Succeeded);
    }

    [Fact]
    public void Recording_without_persistent_shells_is_refused_naming_both_options()
    {
        var error = Validate(o => (o.RecordingDirectory, o.PersistentShells) = ("/var/lib/rec", false)).FailureMessage;
        Assert.Contains("RecordingDirectory '/var/lib/rec'", error, StringComparison.Ordinal);
        Assert.Contains("PersistentShells", error, StringComparison.Ordinal);

        Assert.True(Validate(o => o.RecordingDirectory = "/var/lib/rec").Succeeded); // control: persistence on (default)
    }

    [Fact]
    public void A_relative_recording_folder_is_refused_naming_it() =>
        Assert.Contains("RecordingDirectory 'rec' must be an absolute path", Validate(o => o.RecordingDirectory = "rec").FailureMessage, StringComparison.Ordinal);
}

public sealed class AsciicastTests
{
    [Fact]
    public void The_writer_writes_a_v2_header_and_events_whose_times_never_go_back()
    {
        using var stream = new MemoryStream();
        var writer = new AsciicastWriter(stream, 1 << 20);
        writer.WriteHeader(80, 24, DateTimeOffset.FromUnixTimeSeconds(1_700_000_000), "screen-256color", "/bin/sh", "r1");
        Assert.True(writer.Output(0.5, "héllo \u001b[1m\"x\"\r\n"));
        Assert.True(writer.Output(0.25, "late")); // an earlier time is written as the last one
        Assert.True(writer.Resize(1.0, 100, 30));

        var lines = Encoding.UTF8.GetString(stream.ToArray()).Split('\n', StringSplitOptions.RemoveEmptyEntries);
        using var header = JsonDocument.Parse(lines[0]);
        Assert.Equal("""{"version":2,"width":80,"height":24,"timestamp":1700000000,"env":{"TERM":"screen-256color","SHELL":"/bin/sh"},"title":"r1"}""", lines[0]);
        using var first = JsonDocument.Parse(lines[1]);
        Assert.Equal((0.5, "o", "héllo \u001b[1m\"x\"\r\n"), (first.RootElement[0].GetDouble(), first.RootElement[1].GetString(), first.RootElement[2].GetString()));
        Assert.Equal("[0.5,\"o\",\"late\"]", lines[2]);
        Assert.Equal("[1.0,\"r\",\"100x30\"]", lines[3]);
        Assert.Equal(stream.Length, writer.Length);
    }

    [Fact]
    public void At_the_cap_a_marker_ends_the_recording_and_later_events_are_dropped()
    {
        using var stream = new MemoryStream();
        var writer = new AsciicastWriter(stream, 4096);
        writer.WriteHeader(80, 24, DateTimeOffset.UnixEpoch, "screen-256color", "/bin/sh", "r1");
        var written = 0;
        while (writer.Output(written, new string('x', 100)))
        {
            written++;
        }

        Assert.InRange(written, 30, 40); // control: it did record until the cap
        Assert.True(writer.Capped);
        Assert.False(writer.Output(99, "after"));
        var lines = Encoding.UTF8.GetString(stream.ToArray()).Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.True(stream.Length <= 4096, $"{stream.Length} bytes");
        Assert.StartsWith($"[{written}.0,\"m\",\"recording stopped: RecordingMaxBytes (4096 bytes) reached\"]", lines[^1], StringComparison.Ordinal);
        Assert.DoesNotContain(lines, l => l.Contains("after", StringComparison.Ordinal));
    }

    [Theory]
    [InlineData(@"%output %0 echo ""a\134\134b""\015\012", "echo \"a\\\\b\"\r\n")]
    [InlineData(@"%output %12 \033[1mbold\033[0m", "\u001b[1mbold\u001b[0m")]
    [InlineData(@"%output %0 ends-with-\13", "ends-with-\\13")] // not a full escape: kept as it is
    public void Control_mode_output_is_decoded_from_octal_escapes(string line, string expected) =>
        Assert.Equal(expected, Encoding.Latin1.GetString(TmuxControl.OutputBytes(line)!));

    [Fact]
    public void Other_control_mode_lines_are_not_output_and_layout_changes_give_the_size()
    {
        Assert.Null(TmuxControl.OutputBytes("%begin 1 2 1"));
        Assert.Null(TmuxControl.OutputBytes("%window-renamed @0 sh"));
        Assert.Equal((120, 40), TmuxControl.LayoutSize("%layout-change @0 b25d,120x40,0,0,0 b25d,120x40,0,0,0 *"));
        Assert.Null(TmuxControl.LayoutSize("%output %0 b25d,120x40,0,0,0"));
    }
}
