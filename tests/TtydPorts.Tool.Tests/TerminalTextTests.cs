using System.Text.Json;
using TtydPorts.Tool.Cleanup;
using TtydPorts.Tool.Output;

namespace TtydPorts.Tool.Tests;

/// <summary>What the tool prints from the machine never reaches the terminal as a control sequence.</summary>
public sealed class TerminalTextTests
{
    [Theory]
    [InlineData("\u001b]0;owned\u0007", "\\x1b]0;owned\\x07")] // OSC: retitles the window
    [InlineData("\u001b[2J\u001b[H", "\\x1b[2J\\x1b[H")] // CSI: clears the screen
    [InlineData("a\rb\nc\td\0", "a\\x0db\\x0ac\\x09d\\x00")]
    [InlineData("del\u007f", "del\\x7f")]
    [InlineData("\u009b31m\u0085\u009f", "\\x9b31m\\x85\\x9f")] // C1: CSI as one character, NEL, APC's neighbour
    public void Control_characters_are_written_as_hex_escapes(string text, string expected)
    {
        Assert.Equal(expected, TerminalText.Escape(text));
    }

    [Theory]
    [InlineData("ttyd -p 8000 -W bash -c 'echo \\x1b'")]
    [InlineData("café ünïcode 日本 \u00a0\u00ff")]
    [InlineData("")]
    public void Printable_text_is_left_as_it_is(string text)
    {
        Assert.Same(text, TerminalText.Escape(text));
    }

    [Fact]
    public void Table_cells_and_target_lines_are_escaped()
    {
        using var output = new StringWriter();
        var foreign = new CleanupTarget(new ProcessIdentity(900, 9000), null, "ttyd -p 8001 \u001b[8mhidden", "foreign ttyd");

        Table.Write(output, ["PORT", "COMMAND"], [["8001", "sleep \u001b]0;x\u0007"]]);

        Assert.DoesNotContain(output.ToString(), c => char.IsControl(c) && c is not '\n' and not '\r');
        Assert.Contains("sleep \\x1b]0;x\\x07", output.ToString(), StringComparison.Ordinal);
        Assert.Equal("pid 900  foreign ttyd: ttyd -p 8001 \\x1b[8mhidden", foreign.Describe());
    }

    [Fact]
    public void Json_output_escapes_control_characters_itself()
    {
        var document = new PortsJson(8000, 8001, "127.0.0.1", 1, 0, 1, [new PortUseJson(8001, "0.0.0.0", "foreign", 900, "x\u001b[2J\u007f\u009b", null, null, null)]);

        var json = JsonSerializer.Serialize(document, ToolJson.Default.PortsJson);

        Assert.DoesNotContain(json, c => char.IsControl(c) && c is not '\n' and not '\r');
        using var parsed = JsonDocument.Parse(json);
        Assert.Equal("x\u001b[2J\u007f\u009b", parsed.RootElement.GetProperty("used")[0].GetProperty("command").GetString()); // the value is kept
    }
}
