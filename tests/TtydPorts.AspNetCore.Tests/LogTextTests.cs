namespace TtydPorts.AspNetCore.Tests;

/// <summary>Which characters a log line gets escaped: more than <c>SessionIds.Quote</c>'s controls, since a log reader sees them too.</summary>
public sealed class LogTextTests
{
    [Theory]
    [InlineData("a\r\nb\u0085\u007f", "a\\u000d\\u000ab\\u0085\\u007f")] // C0, C1 and DEL
    [InlineData("a\u2028b\u2029", "a\\u2028b\\u2029")] // line and paragraph separators
    [InlineData("\u202a\u202e\u2066\u2069", "\\u202a\\u202e\\u2066\\u2069")] // bidi embeddings, overrides and isolates
    [InlineData("café \u00a0\u200f\u2065", "café \u00a0\u200f\u2065")] // neighbours left as they are
    [InlineData(null, "")]
    public void Each_unprintable_character_is_written_as_a_unicode_escape(string? text, string expected) =>
        Assert.Equal(expected, LogText.OneLine(text));
}
