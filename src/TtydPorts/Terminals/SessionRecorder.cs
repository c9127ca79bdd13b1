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

    /// <summary>How long the recorder's client gets to end at a stop, and again after its kill (the options' <c>StopGracePeriod</c>).</summary>
    public required TimeSpan StopGracePeriod { get; init; }
}

/// <summary>
/// Records a persistent session's terminal as asciicast v2, from a read-only tmux control-mode client
/// (<c>tmux -C attach-session -f read-only,ignore-size</c>) whose output this process reads and timestamps: tmux gives
/// the exact bytes of the pane and needs no second program, while <c>pipe-pane</c> would give no timing. The client
/// carries the session's signed markers (role <c>recorder</c>), so every stop, the <c>ttyd-ports</c> tool and the leak
/// checks find and end it with the session; adoption never takes it for a session. It reads commands from a pipe of
/// this process, so it ends when this process does (a restarted host records into a new file).
/// </summary>
/// <remarks>
/// Nothing it waits on may hold a session's stop: a tmux server can be frozen (SIGSTOP), and the stop thaws and ends it
/// only after the recorder ended. Its connect never blocks (a frozen server whose listen backlog is full would make a
/// blocking one wait until it thaws), its reads end with the stop, its client is killed when it does not end within
/// <see cref="RecorderPlan.StopGracePeriod"/>, and <see cref="DisposeAsync"/> waits for the rest a bounded time.
/// Every event is flushed as it is written, so a stop loses nothing that was recorded.
/// </remarks>
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
    private bool _serverBusy;
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
                if (await ServerAnswersAsync(ct).ConfigureAwait(false))
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

    // A connect, not only a look at the file: tmux leaves its socket behind when the server ends. Never a blocking one:
    // the kernel queues connections to a server that accepts none (frozen by SIGSTOP) until its backlog is full, and
    // then a blocking connect waits until the server accepts again, with no timeout and deaf to the stop. Without
    // blocking, a full backlog is EAGAIN at once: the server does not answer now, and the next poll asks again.
    private async Task<bool> ServerAnswersAsync(CancellationToken ct)
    {
        if (!RuntimeFolder.IsSocket(_plan.TmuxSocket))
        {
            return false;
        }

        try
        {
            using var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
            await socket.ConnectAsync(new UnixDomainSocketEndPoint(_plan.TmuxSocket), ct).ConfigureAwait(false);
            _serverBusy = false;
            return true;
        }
        catch (SocketException e)
        {
            if (e.SocketErrorCode == SocketError.WouldBlock && !_serverBusy)
            {
                _serverBusy = true; // once until it answers again, not at every poll
                Log.RecordingServerBusy(_logger, _plan.Container, _plan.TmuxSocket);
            }

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

        // Only the allow-listed variables and the signed markers (first), as ttyd gets: nothing of the host's own environment.
        start.Environment.Clear();
        foreach (var (name, value) in TtydProcessDiscovery.MarkersFirst(_plan.Environment))
        {
            start.Environment[name] = value;
        }

        // Never a client after the stop: a tmux client starts a server when it finds none, after the stop's look for them.
        ct.ThrowIfCancellationRequested();
        using var client = Process.Start(start) ?? throw new InvalidOperationException($"tmux '{_plan.Tmux}' did not start.");
        _client = client;
        try
        {
            _ = client.StandardError.ReadToEndAsync(); // "no server running" and the like: the loop retries
            await client.StandardInput.WriteAsync(
                $"display-message -p -t {TmuxCommand.SessionName} '{SizeTag} #{{window_width}} #{{window_height}} #{{pane_height}}'\ncapture-pane -p -e -t {TmuxCommand.SessionName}\n".AsMemory(), ct).ConfigureAwait(false);
            await client.StandardInput.FlushAsync(ct).ConfigureAwait(false);
            await ReadAsync(client.StandardOutput, ct).ConfigureAwait(false);
        }
        finally
        {
            _client = null;
            await EndClientAsync(client).ConfigureAwait(false);
        }
    }

    internal async Task ReadAsync(StreamReader output, CancellationToken ct)
    {
        List<string>? block = null;
        string? blockEnd = null, blockError = null;
        var ours = false;
        (int Width, int Height)? size = null;
        var snapshotWritten = false;

        // The screen dump has exactly one line per row of the pane: its own guard cannot come before, so a row the shell
        // printed that reads like the guard (its time and command number can be guessed) is a row, not the end.
        var captureRows = 0;
        while (await output.ReadLineAsync(ct).ConfigureAwait(false) is { } line)
        {
            if (block is not null)
            {
                // A block's lines are the command's output as it is (capture-pane: the screen), so a row the shell
                // printed can read "%end ..." or "%exit": only the guard tmux pairs with the %begin (its time, command
                // number and flags) ends the block, else the shell could end or forge the recording.
                var rowsToCome = ours && size is not null && !snapshotWritten && block.Count < captureRows;
                if ((line != blockEnd && line != blockError) || rowsToCome)
                {
                    block.Add(line);
                    continue;
                }

                var lines = block;
                block = null;
                if (!ours || line == blockError)
                {
                    continue;
                }

                if (size is null)
                {
                    if (ParseSize(lines) is not { } tag)
                    {
                        return;
                    }

                    size = (tag.Width, tag.Height);
                    captureRows = tag.Rows;
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
                var guard = line["%begin ".Length..];
                (blockEnd, blockError) = ("%end " + guard, "%error " + guard);
                ours = line.EndsWith(" 1", StringComparison.Ordinal);
            }
            else if (line.StartsWith("%exit", StringComparison.Ordinal))
            {
                return;
            }
            else if (!snapshotWritten)
            {
                // Before the snapshot, output is in the snapshot already; a resize between the two commands changes the
                // rows the dump will have.
                if (size is not null && TmuxControl.LayoutSize(line) is { } resized)
                {
                    captureRows = resized.Height;
                }
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

    private static (int Width, int Height, int Rows)? ParseSize(List<string> lines) =>
        lines is [var only] && only.Split(' ') is [SizeTag, var w, var h, var r] && int.TryParse(w, out var width) && int.TryParse(h, out var height)
        && int.TryParse(r, out var rows) ? (width, height, rows) : null;

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

    // The client ends when its commands end (stdin closed: its server reads them and sends it away). One whose server
    // does not answer (frozen) never would: after the grace period it is killed, our own child, not yet reaped, so
    // killing it by its Process cannot hit another process. A kill that does not take is logged, never waited on for good.
    private async Task EndClientAsync(Process client)
    {
        try
        {
            client.StandardInput.Close();
        }
        catch (IOException)
        {
        }

        if (await ExitsWithinAsync(client, _plan.StopGracePeriod).ConfigureAwait(false))
        {
            return;
        }

        Log.RecordingClientKilled(_logger, _plan.Container, client.Id, _plan.StopGracePeriod, FilePath ?? "(no file yet)");
        client.Kill();
        if (!await ExitsWithinAsync(client, _plan.StopGracePeriod).ConfigureAwait(false))
        {
            throw new InvalidOperationException($"The recorder's tmux client (pid {client.Id}) survived SIGKILL for {_plan.StopGracePeriod}.");
        }
    }

    private async Task<bool> ExitsWithinAsync(Process client, TimeSpan timeout)
    {
        using var deadline = new CancellationTokenSource(timeout, _time);
        try
        {
            await client.WaitForExitAsync(deadline.Token).ConfigureAwait(false);
            return true;
        }
        catch (OperationCanceledException) when (deadline.IsCancellationRequested)
        {
            return false;
        }
    }

    /// <summary>
    /// Stops recording: the client ends, the file is closed. Never deletes the recording. Bounded: what the recorder
    /// still waits on after three grace periods (its client's end, its kill, its file) is left to it, logged, and the
    /// stop goes on; the recorder then closes its file whenever that wait ends.
    /// </summary>
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

        var bound = 3 * _plan.StopGracePeriod;
        try
        {
            await _run.WaitAsync(bound, _time).ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
            Log.RecordingStopAbandoned(_logger, _plan.Container, bound, FilePath ?? "(no file yet)");
            return; // the run still holds _stop's token
        }

        _stop.Dispose();
    }
}
