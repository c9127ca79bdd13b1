using System.Buffers;

namespace TtydPorts.AspNetCore;

/// <summary>Request text (a path, a header, a message quoting either) made safe to put in a log line.</summary>
internal static class LogText
{
    // C0 and C1 controls (CR and LF would start a forged line), DEL, the Unicode line and paragraph separators and the
    // bidirectional overrides and isolates (which reorder what a reader sees).
    private static readonly SearchValues<char> Unprintable = SearchValues.Create(
        Enumerable.Range(0, 0x20).Concat(Enumerable.Range(0x7f, 0x21)).Concat([0x2028, 0x2029])
            .Concat(Enumerable.Range(0x202a, 5)).Concat(Enumerable.Range(0x2066, 4))
            .Select(c => (char)c).ToArray());

    /// <summary>The text with each such character written <c>\uXXXX</c>, as <c>SessionIds.Quote</c> writes them.</summary>
    public static string OneLine(string? text) => text is null ? "" : ControlText.Escape(text, Unprintable, ControlText.Unicode);
}
