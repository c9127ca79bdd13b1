using System.Buffers;
using System.Diagnostics;
using System.Net.Sockets;
using System.Text;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Connections.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.Server.Kestrel.Transport.Sockets;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Net.Http.Headers;

namespace TtydPorts.AspNetCore;

/// <summary>
/// Carries an HTTP/1.1 WebSocket upgrade to a ttyd's Unix socket and then its bytes both ways, with the fewest thread
/// hand-offs a keystroke's echo can take: ttyd's output is read on a thread of its own that waits in <c>poll</c> (woken
/// by the kernel, not by .NET's socket engine and then the thread pool) and, once the browser has answered the handshake,
/// written straight to the client's socket when Kestrel gives one and Kestrel's HTTPS is not in use, instead of through
/// Kestrel's output pipe and its I/O queue.
/// </summary>
internal static class TerminalRelay
{
    private const int HeadLimit = 16 * 1024;
    private const int InputBufferSize = 16 * 1024;
    private const int OutputBufferSize = 64 * 1024;

    // A read at least this large is taken for bulk output (a command printing; a keystroke's echo is a few bytes), after
    // which the relay waits TtydTerminalProxyOptions.BulkOutputDelay before reading again.
    private const int BulkRead = 2 * 1024;

    // The most one write hands the browser's connection before the stall clock restarts.
    private const int StallSlice = 16 * 1024;
    private static readonly TimeSpan HandshakeTimeout = TimeSpan.FromSeconds(10);

    // How long the output may take to end once the other direction has: it can be blocked writing to a client that does
    // not read; then the connection is aborted, which ends the write.
    private static readonly TimeSpan EndGrace = TimeSpan.FromSeconds(5);

    // How often a relay looks whether its output's write is stuck (at most; sooner when the timeout is shorter).
    private static readonly TimeSpan StallCheckInterval = TimeSpan.FromSeconds(5);

    // The browser's handshake headers ttyd needs (its -O compares Origin with Host); nothing else of the browser's reaches ttyd.
    private static readonly string[] ForwardedRequestHeaders =
    [
        HeaderNames.Origin, HeaderNames.SecWebSocketKey, HeaderNames.SecWebSocketVersion, HeaderNames.SecWebSocketProtocol,
        HeaderNames.SecWebSocketExtensions,
    ];

    // Headers a handshake carries exactly once.
    private static readonly string[] SingleRequestHeaders = [HeaderNames.Origin, HeaderNames.SecWebSocketKey, HeaderNames.SecWebSocketVersion];

    // ttyd's handshake answer headers the browser gets (Kestrel writes Connection: Upgrade itself).
    private static readonly string[] PassedUpgradeHeaders =
    [
        HeaderNames.Upgrade, HeaderNames.SecWebSocketAccept, HeaderNames.SecWebSocketProtocol, HeaderNames.SecWebSocketExtensions,
    ];

    /// <summary>
    /// Whether this request is one the relay carries: an HTTP/1.1 WebSocket upgrade (<c>Upgrade: websocket</c>, the same
    /// test as the proxy's Origin check). Other upgrades (h2c) and HTTP/2's extended CONNECT go through YARP.
    /// </summary>
    public static bool Handles(HttpContext context) =>
        HttpMethods.IsGet(context.Request.Method)
        && context.Features.Get<IHttpUpgradeFeature>() is { IsUpgradableRequest: true }
        && IsWebSocketUpgrade(context.Request);

    /// <summary>Whether the request asks for a WebSocket upgrade (<c>Upgrade: websocket</c>, any case).</summary>
    public static bool IsWebSocketUpgrade(HttpRequest request) =>
        request.Headers.Upgrade.Any(u => string.Equals(u?.Trim(), "websocket", StringComparison.OrdinalIgnoreCase));

    /// <summary>
    /// Sends the handshake to <paramref name="ttyd"/> (connected, its peer checked), answers the browser with ttyd's answer,
    /// and on a 101 relays until either side closes. ttyd's answer other than a 101 reaches the browser as its status alone
    /// (no headers, no body); a 401 or an answer that is not HTTP as a 502.
    /// </summary>
    public static async Task RelayAsync(HttpContext context, string container, Socket ttyd, string? authorization, TtydTerminalProxyOptions options, TerminalRelayMetrics metrics, ILogger logger)
    {
        if (authorization is not null && !IsSafe(authorization))
        {
            // The session's own credential: random, so this is a fault of the host's, never of the browser's.
            Log.HandshakeRefused(logger, container, "the session's credential cannot go in a request head");
            context.Response.StatusCode = StatusCodes.Status502BadGateway;
            return;
        }

        if (Handshake(context.Request, authorization) is not { } head)
        {
            // Kestrel refuses CR, LF and NUL in a request already; this guards against middleware that rewrote the request.
            context.Response.StatusCode = StatusCodes.Status400BadRequest;
            return;
        }

        Stream client;
        var early = Array.Empty<byte>();
        var buffer = ArrayPool<byte>.Shared.Rent(HeadLimit);
        try
        {
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(context.RequestAborted);
            timeout.CancelAfter(HandshakeTimeout);
            await ttyd.SendAsync(head, SocketFlags.None, timeout.Token);

            // ttyd's answer head, up to the blank line; what follows it (if anything) is already WebSocket data.
            var filled = 0;
            int end;
            while ((end = buffer.AsSpan(0, filled).IndexOf("\r\n\r\n"u8)) < 0)
            {
                var read = filled == HeadLimit ? 0 : await ttyd.ReceiveAsync(buffer.AsMemory(filled, HeadLimit - filled), SocketFlags.None, timeout.Token);
                if (read == 0)
                {
                    Log.HandshakeRefused(logger, container, "no complete answer");
                    context.Response.StatusCode = StatusCodes.Status502BadGateway;
                    return;
                }

                filled += read;
            }

            if (ParseAnswer(buffer.AsSpan(0, end)) is not { } answer)
            {
                Log.HandshakeRefused(logger, container, "an answer that is not HTTP");
                context.Response.StatusCode = StatusCodes.Status502BadGateway;
                return;
            }

            if (answer.Status != StatusCodes.Status101SwitchingProtocols)
            {
                // ttyd's own challenge would make the browser ask for ttyd's secret: the proxy supplies it, so a 401 means
                // the session and ttyd disagree, a gateway error; so is an interim (1xx) answer given as the final one.
                // A refusal the browser caused (a 4xx) is its own business: logged at Debug, or any user could fill the log.
                var gatewayError = answer.Status is StatusCodes.Status401Unauthorized or < 200 or >= 500;
                if (gatewayError)
                {
                    Log.HandshakeRefused(logger, container, $"status {answer.Status}");
                }
                else
                {
                    Log.HandshakeDeclined(logger, container, answer.Status);
                }

                context.Response.StatusCode = answer.Status is StatusCodes.Status401Unauthorized or < 200 ? StatusCodes.Status502BadGateway : answer.Status;
                return;
            }

            foreach (var (name, value) in answer.Headers)
            {
                context.Response.Headers.Append(name, value);
            }

            client = await context.Features.GetRequiredFeature<IHttpUpgradeFeature>().UpgradeAsync();
            early = buffer.AsSpan(end + 4, filled - end - 4).ToArray();
        }
        catch (OperationCanceledException) when (context.RequestAborted.IsCancellationRequested)
        {
            return; // the browser left during the handshake
        }
        catch (OperationCanceledException) when (!context.Response.HasStarted)
        {
            // ttyd took the connection and did not answer the handshake (frozen, for one).
            Log.HandshakeRefused(logger, container, $"no answer within {HandshakeTimeout.TotalSeconds:0} s");
            context.Response.StatusCode = StatusCodes.Status504GatewayTimeout;
            return;
        }
        catch (SocketException e) when (!context.Response.HasStarted)
        {
            Log.HandshakeRefused(logger, container, e.SocketErrorCode.ToString());
            context.Response.StatusCode = StatusCodes.Status502BadGateway;
            return;
        }
        catch (InvalidOperationException e) when (!context.Response.HasStarted)
        {
            // Kestrel refuses the upgrade (MaxConcurrentUpgradedConnections reached): none of ttyd's answer goes out.
            Log.HandshakeRefused(logger, container, e.Message);
            context.Response.Headers.Clear();
            context.Response.StatusCode = StatusCodes.Status503ServiceUnavailable;
            return;
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }

        metrics.Connections.Add(1);
        try
        {
            await RunAsync(context, container, ttyd, client, early, options, metrics, logger);
        }
        finally
        {
            metrics.Connections.Add(-1);
        }
    }

    // The handshake ttyd gets; null when a value could break the request head (CR, LF, NUL) or a header that a handshake
    // carries once comes twice.
    private static byte[]? Handshake(HttpRequest request, string? authorization)
    {
        var target = request.Path.ToUriComponent() + request.QueryString.ToUriComponent();
        var host = request.Host.Value ?? "";
        if (!IsSafe(target) || !IsSafe(host)
            || Array.Exists(SingleRequestHeaders, name => request.Headers[name].Count > 1))
        {
            return null;
        }

        var head = new StringBuilder(512)
            .Append("GET ").Append(target).Append(" HTTP/1.1\r\n")
            .Append("Host: ").Append(host).Append("\r\n")
            .Append("Connection: Upgrade\r\nUpgrade: websocket\r\n");
        foreach (var name in ForwardedRequestHeaders)
        {
            foreach (var value in request.Headers[name])
            {
                if (value is null || !IsSafe(value))
                {
                    return null;
                }

                head.Append(name).Append(": ").Append(value).Append("\r\n");
            }
        }

        if (authorization is not null)
        {
            head.Append("Authorization: ").Append(authorization).Append("\r\n");
        }

        return Encoding.UTF8.GetBytes(head.Append("\r\n").ToString());
    }

    private static bool IsSafe(string value) => value.AsSpan().IndexOfAny('\r', '\n', '\0') < 0;

    private sealed record Answer(int Status, List<(string Name, string Value)> Headers);

    // The status line and the headers the browser may get; null for anything that is not an HTTP/1.x answer or carries a
    // header value with a bare CR, LF or NUL (which Kestrel would refuse to write).
    private static Answer? ParseAnswer(ReadOnlySpan<byte> head)
    {
        var lines = Encoding.Latin1.GetString(head).Split("\r\n");
        if (lines[0].Split(' ', 3) is not [var version, var code, ..] || !version.StartsWith("HTTP/1.", StringComparison.Ordinal)
            || !int.TryParse(code, out var status) || status is < 100 or > 599)
        {
            return null;
        }

        var headers = new List<(string, string)>();
        foreach (var line in lines.AsSpan(1))
        {
            var colon = line.IndexOf(':');
            if (colon <= 0 || !IsSafe(line))
            {
                return null;
            }

            var name = line[..colon];
            if (Array.Exists(PassedUpgradeHeaders, h => string.Equals(h, name, StringComparison.OrdinalIgnoreCase)))
            {
                headers.Add((name, line[(colon + 1)..].Trim()));
            }
        }

        return new Answer(status, headers);
    }

    // Both directions until either side closes; then ttyd's socket is shut down, which ends the other direction too.
    private static async Task RunAsync(HttpContext context, string container, Socket ttyd, Stream client, byte[] early, TtydTerminalProxyOptions options, TerminalRelayMetrics metrics, ILogger logger)
    {
        // Straight to the client's socket only where the bytes on the wire are the bytes ttyd sends: HTTP/1.1 (only upgrades
        // get here) on Kestrel's socket transport with nothing between it and HTTP. Every connection middleware (Kestrel's
        // HTTPS, connection logging, one of the host's own) replaces the connection's transport pipe with its own, which
        // then is no longer the socket transport's; the TLS features are checked as well. Bytes ttyd sent with its answer
        // go through Kestrel first, and then everything does.
        var direct = options.DirectSocketOutput && early.Length == 0 && IsBareSocketTransport(context)
            ? context.Features.Get<IConnectionSocketFeature>()?.Socket : null;
        var relay = new Relay(container, ttyd, client, direct, options.BulkOutputDelay, logger);
        // The host stopping ends its terminals' connections at once (ttyd's page reconnects to the next run), rather than
        // Kestrel waiting its whole shutdown timeout for them and then aborting them.
        var stopping = context.RequestServices.GetService<IHostApplicationLifetime>()?.ApplicationStopping ?? CancellationToken.None;
        using var ended = CancellationTokenSource.CreateLinkedTokenSource(context.RequestAborted, stopping);
        if (early.Length > 0)
        {
            try
            {
                await relay.WriteThroughKestrelAsync(early, context.RequestAborted);
            }
            catch (Exception e) when (IsConnectionEnd(e))
            {
                return; // the browser left
            }
        }

        var output = relay.StartOutput();
        var input = relay.PumpInputAsync(ended.Token);

        // A browser that stops reading (frozen, its machine gone without a word) would hold the output's write, and with
        // it the thread, for good: a write that has not finished within StalledClientTimeout ends the connection. An idle
        // terminal writes nothing and is never cut.
        var check = options.StalledClientTimeout < StallCheckInterval ? options.StalledClientTimeout : StallCheckInterval;
        while (await Task.WhenAny(input, output, Task.Delay(check, ended.Token)) is var first && first != input && first != output)
        {
            if (ended.IsCancellationRequested)
            {
                break;
            }

            if (relay.WritingFor() >= options.StalledClientTimeout)
            {
                Log.ClientStalled(logger, container, options.StalledClientTimeout.TotalSeconds);
                metrics.Stalls.Add(1);
                context.Abort();
                break;
            }
        }
        ShutDown(ttyd);
        ended.Cancel();

        // An output stuck writing to a client that does not read is ended step by step: the connection closed (which ends
        // the write), then, for a transport whose abort leaves the socket open, the socket shut down under the write.
        // Should even that not end it, the request ends anyway; the thread then meets a disposed socket and ends on its own.
        if (!await EndsWithinGraceAsync(output))
        {
            context.Abort();
        }

        if (!await EndsWithinGraceAsync(output))
        {
            ShutDown(direct);
        }

        if (!await EndsWithinGraceAsync(output))
        {
            Log.RelayFailed(logger, container, new TimeoutException("The terminal output did not end after its connection was aborted."));
        }

        try
        {
            await input;
        }
        catch (Exception e) when (IsConnectionEnd(e))
        {
        }

        Log.Relayed(logger, container, relay.DirectBytes, relay.KestrelBytes, relay.Reads, relay.BulkWaits);
        metrics.Relayed(relay.DirectBytes, relay.KestrelBytes);
    }

    private static async Task<bool> EndsWithinGraceAsync(Task output) => output.IsCompleted || await Task.WhenAny(output, Task.Delay(EndGrace)) == output;

    private static void ShutDown(Socket? socket)
    {
        try
        {
            socket?.Shutdown(SocketShutdown.Both);
        }
        catch (Exception e) when (e is SocketException or ObjectDisposedException)
        {
        }
    }

    // How either side closing shows in a read or a write, as opposed to a fault.
    private static bool IsConnectionEnd(Exception e) =>
        e is IOException or SocketException or ObjectDisposedException or ConnectionAbortedException or OperationCanceledException;

    private static bool IsBareSocketTransport(HttpContext context) =>
        context.Features.Get<ITlsConnectionFeature>() is null && context.Features.Get<ITlsHandshakeFeature>() is null
        && context.Features.Get<IConnectionTransportFeature>()?.Transport is { } transport
        && transport.GetType().Assembly == typeof(SocketTransportOptions).Assembly;

    /// <summary>One relayed connection: the browser's bytes to ttyd on the request's task, ttyd's to the browser on a thread of its own.</summary>
    private sealed class Relay(string container, Socket ttyd, Stream client, Socket? direct, TimeSpan bulkDelay, ILogger logger)
    {
        private const int OutputStackSize = 256 * 1024;

        // Set once the browser sent bytes after the 101: it has received the 101 then, so Kestrel's pipe holds nothing
        // that a direct write could overtake. (A client that sends before it reads the 101 can only garble its own stream.)
        private volatile bool _answered;
        private bool _throughKestrel;

        // Stopwatch timestamp at which the write under way began; 0 while none is.
        private long _writing;

        /// <summary>How long the write under way has been waiting for the browser; zero when none is under way.</summary>
        public TimeSpan WritingFor() => Volatile.Read(ref _writing) is var started and not 0 ? Stopwatch.GetElapsedTime(started) : TimeSpan.Zero;

        public long DirectBytes { get; private set; }

        public long KestrelBytes { get; private set; }

        /// <summary>How many reads of ttyd's output the relay made (so, how many writes to the browser at most).</summary>
        public long Reads { get; private set; }

        /// <summary>How many times the relay waited <see cref="TtydTerminalProxyOptions.BulkOutputDelay"/> after a large read.</summary>
        public long BulkWaits { get; private set; }

        /// <summary>Starts the output on its own thread, or as a task when no thread can be had (a process or cgroup limit).</summary>
        public Task StartOutput()
        {
            var finished = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            var thread = new Thread(() =>
            {
                try
                {
                    PumpOutput();
                }
                catch (Exception e)
                {
                    Ended(e);
                }
                finally
                {
                    finished.TrySetResult();
                }
            }, OutputStackSize)
            {
                IsBackground = true,
                Name = "ttydports-relay",
            };
            try
            {
                thread.UnsafeStart();
                return finished.Task;
            }
            catch (OutOfMemoryException)
            {
                return PumpOutputAsync();
            }
        }

        public async Task PumpInputAsync(CancellationToken cancellationToken)
        {
            var buffer = ArrayPool<byte>.Shared.Rent(InputBufferSize);
            try
            {
                int read;
                while ((read = await client.ReadAsync(buffer, cancellationToken)) > 0)
                {
                    _answered = true;
                    await ttyd.SendAsync(buffer.AsMemory(0, read), SocketFlags.None, cancellationToken);
                }
            }
            finally
            {
                ArrayPool<byte>.Shared.Return(buffer);
            }
        }

        public async Task WriteThroughKestrelAsync(ReadOnlyMemory<byte> bytes, CancellationToken cancellationToken)
        {
            _throughKestrel = true;
            KestrelBytes += bytes.Length;
            await client.WriteAsync(bytes, cancellationToken);
            await client.FlushAsync(cancellationToken);
        }

        // Waits in poll(2) on ttyd's socket, so that ttyd's write wakes this thread itself; .NET's asynchronous receive would
        // wake its socket engine's thread, which then wakes a pool thread.
        private void PumpOutput()
        {
            var buffer = ArrayPool<byte>.Shared.Rent(OutputBufferSize);
            try
            {
                while (ttyd.Poll(-1, SelectMode.SelectRead))
                {
                    var read = ttyd.Receive(buffer, SocketFlags.None, out var error);
                    if (error is SocketError.WouldBlock or SocketError.Interrupted)
                    {
                        continue; // woken without data after all
                    }

                    Reads++;

                    if (read <= 0 || error != SocketError.Success)
                    {
                        Log.RelayOutputEnded(logger, container, read == 0 && error == SocketError.Success ? "ttyd closed the connection" : error.ToString());
                        return;
                    }

                    // Once anything went through Kestrel's pipe, everything does: a direct write could overtake it.
                    // In slices, the clock restarted after each: the stall timeout measures a browser that stopped taking the
                    // output, not a slow one.
                    for (var done = 0; done < read;)
                    {
                        var slice = Math.Min(read - done, StallSlice);
                        Volatile.Write(ref _writing, Stopwatch.GetTimestamp());
                        if (!_throughKestrel && _answered && direct is not null)
                        {
                            for (var sent = 0; sent < slice;)
                            {
                                sent += direct.Send(buffer, done + sent, slice - sent, SocketFlags.None);
                            }

                            DirectBytes += slice;
                        }
                        else
                        {
                            WriteThroughKestrelAsync(buffer.AsMemory(done, slice), CancellationToken.None).GetAwaiter().GetResult();
                        }

                        done += slice;
                    }

                    Volatile.Write(ref _writing, 0);

                    // Bulk output: ttyd sends it in frames of one pty read (about 4 KiB), and waking for each costs this
                    // process a wake, a read and a write per frame, and the browser a delivery per frame, on the cores ttyd
                    // and the shell need. Waiting a moment lets ttyd's next frames gather in the socket, so that they go out
                    // in one write. Not after a full buffer (more is waiting already), never after an echo-sized read.
                    if (read >= BulkRead && read < buffer.Length && bulkDelay > TimeSpan.Zero)
                    {
                        BulkWaits++;
                        Thread.Sleep(bulkDelay);
                    }
                }
            }
            finally
            {
                ArrayPool<byte>.Shared.Return(buffer);
            }
        }

        // The fallback without a thread of its own: Kestrel's pipe, as YARP would.
        private async Task PumpOutputAsync()
        {
            var buffer = ArrayPool<byte>.Shared.Rent(OutputBufferSize);
            try
            {
                int read;
                while ((read = await ttyd.ReceiveAsync(buffer, SocketFlags.None)) > 0)
                {
                    Reads++;
                    Volatile.Write(ref _writing, Stopwatch.GetTimestamp());
                    await WriteThroughKestrelAsync(buffer.AsMemory(0, read), CancellationToken.None);
                    Volatile.Write(ref _writing, 0);
                }
            }
            catch (Exception e)
            {
                Ended(e);
            }
            finally
            {
                ArrayPool<byte>.Shared.Return(buffer);
            }
        }

        // Either side closing ends the output with one of these; anything else is a fault worth a log line, never a crash
        // (an exception leaving the thread would end the process).
        private void Ended(Exception e)
        {
            if (IsConnectionEnd(e))
            {
                Log.RelayOutputEnded(logger, container, e.Message);
                return;
            }

            try
            {
                Log.RelayFailed(logger, container, e);
            }
            catch
            {
                // A failing logger must not take the process down with this thread.
            }
        }
    }
}
