using System.Collections.Immutable;
using System.Diagnostics;
using System.Net.Sockets;
using System.Text;
using Microsoft.Extensions.Logging;

namespace TtydPorts;

/// <summary>What a recorder needs: the session's tmux server, where to write, and the signed markers its client carries.</summary>
internal sealed record RecorderPlan
{
    public required string Container { get; init; }
    public required string Token { get; init; }
    public required string Tmux { get; init; }
    public required string TmuxSocket { get; init; }
    public required string Shell { get; init; }
    public required RuntimeFolder Folder { get; init; }
    public required long MaxBytes { get; init; }
    public required ImmutableDictionary<string, string> Environment { get; init; }
}

/// <summary>
/// Records a persistent session's terminal as asciicast v2, from a read-only tmux control-mode client
/// (<c>tmux -C attach-session -f read-only,ignore-size</c>) whose output this process reads and timestamps: tmux gives
/// the exact bytes of the pane and needs no second program, while <c>pipe-pane</c> would give no timing. The client
/// carries the session's signed markers (role <c>recorder</c>), so every stop, the <c>ttyd-ports</c> tool and the leak
/// checks find and end it with the session; adoption never takes it for a session. It reads commands from a pipe of
/// this process, so it ends when this process does (a restarted host records into a new file).
/// </summary>
internal sealed class SessionRecorder : IAsyncDisposable
{
    // The tmux server appears with the first connection and goes when the shell exits; polled at this pace, and what
    // was on the screen before the client attached is written as a snapshot (capture-pane).
    private static readonly TimeSpan PollInterval = TimeSpan.FromMilliseconds(250);
    private const string SizeTag = "ttydports-size";

    private readonly RecorderPlan _plan;
    private readonly ILogger _logger;
    private readonly TimeProvider _time;
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _run;
    private Process? _client;
    private FileStream? _file;
    private AsciicastWriter? _writer;
    private long _started;
    private readonly Decoder _utf8 = Encoding.UTF8.GetDecoder();

    private SessionRecorder(RecorderPlan plan, ILogger logger, TimeProvider time)
    {
        _plan = plan;
        _logger = logger;
        _time = time;
        _run = Task.Run(RunAsync);
    }

    /// <summary>Starts recording in the background; the file is created when the client first attaches.</summary>
    public static SessionRecorder Start(RecorderPlan plan, ILogger logger, TimeProvider time) => new(plan, logger, time);

    /// <summary>The recording file, once created.</summary>
    public string? FilePath => _file?.Name;

    private async Task RunAsync()
    {
        var ct = _stop.Token;
        try
        {
            while (!ct.IsCancellationRequested)
            {
                if (ServerAnswers())
                {
                    await RecordOneClientAsync(ct).ConfigureAwait(false);
                    if (_writer?.Capped == true)
                    {
                        Log.RecordingCapped(_logger, _plan.Container, FilePath!, _plan.MaxBytes);
                        return;
                    }
                }

                await Task.Delay(PollInterval, _time, ct).ConfigureAwait(false);
            }
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or InvalidOperationException or System.ComponentModel.Win32Exception)
        {
            Log.RecordingFailed(_logger, e, _plan.Container);
        }
        finally
        {
            if (_file is not null)
            {
                await _file.DisposeAsync().ConfigureAwait(false);
            }
        }
    }

    // A connect, not only a look at the file: tmux leaves its socket behind when the server ends.
    private bool ServerAnswers()
    {
        if (!RuntimeFolder.IsSocket(_plan.TmuxSocket))
        {
            return false;
        }

        try
        {
            using var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
            socket.Connect(new UnixDomainSocketEndPoint(_plan.TmuxSocket));
            return true;
        }
        catch (SocketException)
        {
            return false;
        }
    }

    private async Task RecordOneClientAsync(CancellationToken ct)
    {
        var start = new ProcessStartInfo(_plan.Tmux)
        {
            UseShellExecute = false,
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            StandardOutputEncoding = TmuxControl.LineEncoding,
        };
        foreach (var argument in (string[])["-u", "-f", "/dev/null", "-S", _plan.TmuxSocket, "-C", "attach-session", "-f", "read-only,ignore-size", "-t", TmuxCommand.SessionName])
        {
            start.ArgumentList.Add(argument);
        }

        // Only the allow-listed variables and the signed markers, as ttyd gets: nothing of the host's own environment.
        start.Environment.Clear();
        foreach (var (name, value) in _plan.Environment)
        {
            start.Environment[name] = value;
        }

        using var client = Process.Start(start) ?? throw new InvalidOperationException($"tmux '{_plan.Tmux}' did not start.");
        _client = client;
        try
        {
            _ = client.StandardError.ReadToEndAsync(); // "no server running" and the like: the loop retries
            await client.StandardInput.WriteAsync(
                $"display-message -p -t {TmuxCommand.SessionName} '{SizeTag} #{{window_width}} #{{window_height}}'\ncapture-pane -p -e -t {TmuxCommand.SessionName}\n").ConfigureAwait(false);
            await client.StandardInput.FlushAsync(ct).ConfigureAwait(false);
            await ReadAsync(client.StandardOutput, ct).ConfigureAwait(false);
        }
        finally
        {
            await EndClientAsync(client).ConfigureAwait(false);
            _client = null;
        }
    }

    private async Task ReadAsync(StreamReader output, CancellationToken ct)
    {
        List<string>? block = null;
        var ours = false;
        (int Width, int Height)? size = null;
        var snapshotWritten = false;
        while (await output.ReadLineAsync(ct).ConfigureAwait(false) is { } line)
        {
            if (block is not null)
            {
                if (!line.StartsWith("%end ", StringComparison.Ordinal) && !line.StartsWith("%error ", StringComparison.Ordinal))
                {
                    block.Add(line);
                    continue;
                }

                var lines = block;
                block = null;
                if (!ours || line.StartsWith("%error ", StringComparison.Ordinal))
                {
                    continue;
                }

                if (size is null)
                {
                    size = ParseSize(lines);
                    if (size is null)
                    {
                        return;
                    }
                }
                else if (!snapshotWritten)
                {
                    // What the screen showed before this client attached: a clear, then its lines.
                    snapshotWritten = true;
                    var screen = lines.Select(l => Decode(TmuxControl.LineEncoding.GetBytes(l))).ToList();
                    while (screen.Count > 0 && screen[^1].Length == 0)
                    {
                        screen.RemoveAt(screen.Count - 1);
                    }

                    if (!Write(w => w.Output(Elapsed(), "\u001b[H\u001b[2J" + string.Join("\r\n", screen)), size.Value))
                    {
                        return;
                    }
                }

                continue;
            }

            if (line.StartsWith("%begin ", StringComparison.Ordinal))
            {
                // Flags 1: the answer to a command of this client; 0: the attach itself.
                block = [];
                ours = line.EndsWith(" 1", StringComparison.Ordinal);
            }
            else if (line.StartsWith("%exit", StringComparison.Ordinal))
            {
                return;
            }
            else if (!snapshotWritten)
            {
                // Before the snapshot, output is in the snapshot already.
            }
            else if (TmuxControl.OutputBytes(line) is { } bytes)
            {
                var text = Decode(bytes);
                if (text.Length > 0 && !Write(w => w.Output(Elapsed(), text), size!.Value))
                {
                    return;
                }
            }
            else if (TmuxControl.LayoutSize(line) is { } resized && resized != size)
            {
                size = resized;
                if (!Write(w => w.Resize(Elapsed(), resized.Width, resized.Height), resized))
                {
                    return;
                }
            }
        }
    }

    private static (int, int)? ParseSize(List<string> lines) =>
        lines is [var only] && only.Split(' ') is [SizeTag, var w, var h] && int.TryParse(w, out var width) && int.TryParse(h, out var height)
            ? (width, height) : null;

    // The file is created on the first attach, so a session nobody opened leaves none.
    private bool Write(Func<AsciicastWriter, bool> write, (int Width, int Height) size)
    {
        if (_writer is null)
        {
            var now = _time.GetUtcNow();
            _file = _plan.Folder.CreateRecording(_plan.Container, now, _plan.Token);
            _started = _time.GetTimestamp();
            _writer = new AsciicastWriter(_file, _plan.MaxBytes);
            _writer.WriteHeader(size.Width, size.Height, now, TmuxCommand.InnerTerm, _plan.Shell, _plan.Container);
            Log.RecordingStarted(_logger, _plan.Container, _file.Name);
        }

        return write(_writer);
    }

    private double Elapsed() => _writer is null ? 0 : _time.GetElapsedTime(_started).TotalSeconds;

    // UTF-8 across %output lines: a character split between two lines is joined, never replaced.
    private string Decode(byte[] bytes)
    {
        var chars = new char[_utf8.GetCharCount(bytes, flush: false)];
        var count = _utf8.GetChars(bytes, chars, flush: false);
        return new string(chars, 0, count);
    }

    // The client ends when its commands end (stdin closed); one that does not is our own child, not yet reaped, so
    // killing it by its Process cannot hit another process.
    private static async Task EndClientAsync(Process client)
    {
        try
        {
            client.StandardInput.Close();
        }
        catch (IOException)
        {
        }

        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(2));
        try
        {
            await client.WaitForExitAsync(timeout.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            client.Kill();
            await client.WaitForExitAsync(CancellationToken.None).ConfigureAwait(false);
        }
    }

    /// <summary>Stops recording: the client ends, the file is closed. Never deletes the recording.</summary>
    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync().ConfigureAwait(false);
        if (_client is { } client)
        {
            try
            {
                client.StandardInput.Close();
            }
            catch (Exception e) when (e is IOException or InvalidOperationException)
            {
            }
        }

        await _run.ConfigureAwait(false);
        _stop.Dispose();
    }
}
