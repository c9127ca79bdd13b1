using System.Buffers;
using System.Globalization;
using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;

namespace TtydPorts;

/// <summary>
/// Pure code: writes an asciicast v2 recording (a JSON header line, then one <c>[seconds, "o"|"r"|"m", text]</c> line per
/// event) to a stream, never past <c>maxBytes</c>: the event that would pass the cap is replaced by a last marker event
/// (room for it is kept), after which nothing more is written.
/// </summary>
internal sealed class AsciicastWriter
{
    // Room kept below the cap for the last marker event.
    private const int MarkerReserve = 256;

    private static readonly JsonWriterOptions JsonOptions = new() { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    private readonly Stream _stream;
    private readonly long _maxBytes;
    private readonly ArrayBufferWriter<byte> _buffer = new();
    private double _lastSeconds;

    public AsciicastWriter(Stream stream, long maxBytes)
    {
        _stream = stream;
        _maxBytes = maxBytes;
    }

    /// <summary>Bytes written so far.</summary>
    public long Length { get; private set; }

    /// <summary>Whether the cap was reached: the marker is written and every later event is dropped.</summary>
    public bool Capped { get; private set; }

    /// <summary>The header line: terminal size, start (unix seconds), the environment the shell sees, the title.</summary>
    public void WriteHeader(int width, int height, DateTimeOffset startedAt, string term, string shell, string title)
    {
        _buffer.Clear();
        using (var json = new Utf8JsonWriter(_buffer, JsonOptions))
        {
            json.WriteStartObject();
            json.WriteNumber("version", 2);
            json.WriteNumber("width", width);
            json.WriteNumber("height", height);
            json.WriteNumber("timestamp", startedAt.ToUnixTimeSeconds());
            json.WriteStartObject("env");
            json.WriteString("TERM", term);
            json.WriteString("SHELL", shell);
            json.WriteEndObject();
            json.WriteString("title", title);
            json.WriteEndObject();
        }

        Append();
    }

    /// <summary>Terminal output at <paramref name="seconds"/> after the start.</summary>
    public bool Output(double seconds, string text) => Event(seconds, "o", text);

    /// <summary>A resize of the terminal.</summary>
    public bool Resize(double seconds, int width, int height) =>
        Event(seconds, "r", string.Create(CultureInfo.InvariantCulture, $"{width}x{height}"));

    // Returns false once capped: the caller stops recording.
    private bool Event(double seconds, string code, string text)
    {
        if (Capped)
        {
            return false;
        }

        // Times never go backwards, whatever the clock did.
        seconds = Math.Max(seconds, _lastSeconds);
        Format(seconds, code, text);
        if (Length + _buffer.WrittenCount > _maxBytes - MarkerReserve)
        {
            Capped = true;
            Format(seconds, "m", string.Create(CultureInfo.InvariantCulture, $"recording stopped: RecordingMaxBytes ({_maxBytes} bytes) reached"));
            Append();
            return false;
        }

        _lastSeconds = seconds;
        Append();
        return true;
    }

    private void Format(double seconds, string code, string text)
    {
        _buffer.Clear();
        using var json = new Utf8JsonWriter(_buffer, JsonOptions);
        json.WriteStartArray();
        json.WriteRawValue(Math.Round(seconds, 6).ToString("0.0#####", CultureInfo.InvariantCulture));
        json.WriteStringValue(code);
        json.WriteStringValue(text);
        json.WriteEndArray();
    }

    private void Append()
    {
        _buffer.Write("\n"u8);
        _stream.Write(_buffer.WrittenSpan);
        _stream.Flush();
        Length += _buffer.WrittenCount;
    }
}

/// <summary>Pure code: the parts of tmux's control-mode protocol (<c>tmux -C</c>) a recorder reads.</summary>
internal static class TmuxControl
{
    /// <summary>
    /// The bytes of a <c>%output %PANE text</c> line (read as Latin-1, one char per byte), or null for another line. tmux
    /// writes bytes below 0x20 and the backslash as <c>\ooo</c> octal escapes, every other byte as it is.
    /// </summary>
    public static byte[]? OutputBytes(string line)
    {
        if (!line.StartsWith("%output %", StringComparison.Ordinal))
        {
            return null;
        }

        var space = line.IndexOf(' ', "%output %".Length);
        if (space < 0)
        {
            return null;
        }

        var bytes = new byte[line.Length - space - 1];
        var count = 0;
        for (var i = space + 1; i < line.Length; i++)
        {
            if (line[i] == '\\' && i + 3 < line.Length && IsOctal(line[i + 1]) && IsOctal(line[i + 2]) && IsOctal(line[i + 3]))
            {
                bytes[count++] = (byte)(((line[i + 1] - '0') << 6) | ((line[i + 2] - '0') << 3) | (line[i + 3] - '0'));
                i += 3;
            }
            else
            {
                bytes[count++] = (byte)line[i];
            }
        }

        return bytes[..count];
    }

    /// <summary>The window size in a <c>%layout-change @WIN LAYOUT ...</c> line (<c>b25d,80x24,0,0,0</c>), or null.</summary>
    public static (int Width, int Height)? LayoutSize(string line)
    {
        var parts = line.Split(' ');
        if (parts.Length < 3 || parts[0] != "%layout-change")
        {
            return null;
        }

        var fields = parts[2].Split(',');
        return fields.Length > 1 && fields[1].Split('x') is [var w, var h]
            && int.TryParse(w, NumberStyles.None, CultureInfo.InvariantCulture, out var width)
            && int.TryParse(h, NumberStyles.None, CultureInfo.InvariantCulture, out var height)
            ? (width, height) : null;
    }

    private static bool IsOctal(char c) => c is >= '0' and <= '7';

    /// <summary>Latin-1: control-mode lines are bytes; one char per byte keeps them exact until they are decoded as UTF-8.</summary>
    public static Encoding LineEncoding => Encoding.Latin1;
}
