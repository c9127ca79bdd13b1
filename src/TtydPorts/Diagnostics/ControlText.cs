using System.Buffers;
using System.Globalization;
using System.Text;

namespace TtydPorts;

/// <summary>
/// The one loop behind the escapers of outside text (<c>SessionIds.Quote</c>, the ASP.NET Core package's <c>LogText</c>,
/// the tool's <c>TerminalText</c>): each says which characters to escape and how to write them, since a message, a log
/// line and a terminal each have characters and a notation of their own.
/// </summary>
internal static class ControlText
{
    /// <summary>C0 controls (below 0x20), DEL (0x7F) and C1 controls (0x80-0x9F): exactly what <see cref="char.IsControl(char)"/> is.</summary>
    public static readonly SearchValues<char> C0C1 = SearchValues.Create(
        Enumerable.Range(0, 0x20).Concat(Enumerable.Range(0x7f, 0x21)).Select(c => (char)c).ToArray());

    /// <summary>A character written <c>\uXXXX</c> with lower-case hex digits.</summary>
    public static readonly CompositeFormat Unicode = CompositeFormat.Parse(@"\u{0:x4}");

    /// <summary>
    /// <paramref name="text"/> with each character of <paramref name="escaped"/> written as <paramref name="format"/>
    /// gives its code (an <see cref="int"/>); the same instance when there is none.
    /// </summary>
    public static string Escape(string text, SearchValues<char> escaped, CompositeFormat format)
    {
        var first = text.AsSpan().IndexOfAny(escaped);
        if (first < 0)
        {
            return text;
        }

        var builder = new StringBuilder(text.Length + 16).Append(text, 0, first);
        foreach (var c in text.AsSpan(first))
        {
            _ = escaped.Contains(c) ? builder.AppendFormat(CultureInfo.InvariantCulture, format, (int)c) : builder.Append(c);
        }

        return builder.ToString();
    }
}
