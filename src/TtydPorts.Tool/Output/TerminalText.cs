using System.Diagnostics.CodeAnalysis;
using System.Text;

namespace TtydPorts.Tool.Output;

/// <summary>
/// Text read from the machine (command lines, process names, markers, container names, paths, engine errors), made safe
/// to print on a terminal. Any local user chooses some of it (a process's arguments, a forged session's markers), and a
/// control character in it would be a command to the terminal of whoever runs the tool, often root: ESC, CSI and OSC
/// sequences move the cursor, rewrite or hide lines (a <c>--foreign</c> list right before its [y/N] question), retitle
/// the window, and on some terminals answer back as if typed. JSON needs none of this: its serializer escapes them.
/// </summary>
internal static class TerminalText
{
    // Two digits are enough: every character escaped here is below 0xA0.
    private static readonly CompositeFormat Hex = CompositeFormat.Parse(@"\x{0:x2}");

    /// <summary>
    /// <paramref name="text"/> with every C0 control (below 0x20, newline and tab included), DEL (0x7F) and C1 control
    /// (0x80-0x9F) written as <c>\xNN</c>; everything else unchanged.
    /// </summary>
    [return: NotNullIfNotNull(nameof(text))]
    public static string? Escape(string? text) => text is null ? null : ControlText.Escape(text, ControlText.C0C1, Hex);
}
