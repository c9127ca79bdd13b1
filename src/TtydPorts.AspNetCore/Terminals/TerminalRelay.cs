using System.Buffers;
using System.Net.Sockets;
using System.Text;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Connections.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.Logging;
using Microsoft.Net.Http.Headers;

namespace TtydPorts.AspNetCore;

/// <summary>
/// Carries an HTTP/1.1 WebSocket upgrade to a ttyd's Unix socket and then its bytes both ways, with the fewest thread
/// hand-offs a keystroke's echo can take: ttyd's output is read on a thread of its own that waits in <c>poll</c> (woken
/// by the kernel, not by .NET's socket engine and then the thread pool) and, once the browser has answered the handshake,
/// written straight to the client's socket when Kestrel gives one and nothing transforms the bytes (no TLS), instead of
/// through Kestrel's output pipe and its I/O queue.
/// </summary>
internal static class TerminalRelay
{
    private const int HeadLimit = 16 * 1024;
    private static readonly TimeSpan HandshakeTimeout = TimeSpan.FromSeconds(10);

    // The browser's handshake headers ttyd needs (its -O compares Origin with Host); nothing else of the browser's reaches ttyd.
    private static readonly string[] ForwardedRequestHeaders =
    [
        HeaderNames.Origin, HeaderNames.SecWebSocketKey, HeaderNames.SecWebSocketVersion, HeaderNames.SecWebSocketProtocol,
        HeaderNames.SecWebSocketExtensions,
    ];

    // ttyd's handshake answer headers the browser gets (Kestrel writes Connection: Upgrade itself).
    private static readonly string[] PassedUpgradeHeaders =
    [
        HeaderNames.Upgrade, HeaderNames.SecWebSocketAccept, HeaderNames.SecWebSocketProtocol, HeaderNames.SecWebSocketExtensions,
    ];

    /// <summary>Whether this request is one the relay carries: an HTTP/1.1 WebSocket upgrade (HTTP/2's extended CONNECT goes through YARP).</summary>
    public static bool Handles(HttpContext context) =>
        HttpMethods.IsGet(context.Request.Method) && context.Features.Get<IHttpUpgradeFeature>() is { IsUpgradableRequest: true };

    /// <summary>
    /// Sends the handshake to <paramref name="ttyd"/> (connected, its peer checked), answers the browser with ttyd's answer,
    /// and on a 101 relays until either side closes. Returns the status given to the browser.
    /// </summary>
    public static async Task<int> RelayAsync(HttpContext context, string container, Socket ttyd, string? authorization, bool directSocketOutput, ILogger logger)
    {
        var request = context.Request;
        var head = new StringBuilder(512)
            .Append("GET ").Append(request.Path.ToUriComponent()).Append(request.QueryString.ToUriComponent()).Append(" HTTP/1.1\r\n")
            .Append("Host: ").Append(request.Host.Value).Append("\r\n")
            .Append("Connection: Upgrade\r\nUpgrade: websocket\r\n");
        foreach (var name in ForwardedRequestHeaders)
        {
            foreach (var value in request.Headers[name])
            {
                if (value is null || value.AsSpan().IndexOfAny('\r', '\n', '\0') >= 0)
                {
                    return Answer(context, StatusCodes.Status400BadRequest);
                }

                head.Append(name).Append(": ").Append(value).Append("\r\n");
            }
        }

        if (authorization is not null)
        {
            head.Append("Authorization: ").Append(authorization).Append("\r\n");
        }

        head.Append("\r\n");

        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(context.RequestAborted);
        timeout.CancelAfter(HandshakeTimeout);
        var buffer = ArrayPool<byte>.Shared.Rent(HeadLimit);
        try
        {
            await ttyd.SendAsync(Encoding.ASCII.GetBytes(head.ToString()), SocketFlags.None, timeout.Token);

            // ttyd's answer head, up to the blank line; what follows it (if anything) is already WebSocket data.
            var filled = 0;
            int end;
            while ((end = buffer.AsSpan(0, filled).IndexOf("\r\n\r\n"u8)) < 0)
            {
                if (filled == HeadLimit)
                {
                    return Answer(context, StatusCodes.Status502BadGateway);
                }

                var read = await ttyd.ReceiveAsync(buffer.AsMemory(filled, HeadLimit - filled), SocketFlags.None, timeout.Token);
                if (read == 0)
                {
                    return Answer(context, StatusCodes.Status502BadGateway);
                }

                filled += read;
            }

            var lines = Encoding.ASCII.GetString(buffer, 0, end).Split("\r\n");
            var status = lines[0].Split(' ', 3) is [var version, var code, ..] && version.StartsWith("HTTP/1.", StringComparison.Ordinal)
                && int.TryParse(code, out var parsed) ? parsed : 0;
            if (status != StatusCodes.Status101SwitchingProtocols)
            {
                // ttyd's own challenge would make the browser ask for ttyd's secret: the proxy supplies it, so a 401 means
                // the session and ttyd disagree (a gateway error), as does an answer that is not HTTP.
                Log.HandshakeRefused(logger, container, status);
                return Answer(context, status is StatusCodes.Status401Unauthorized or < 200 or > 599 ? StatusCodes.Status502BadGateway : status);
            }

            foreach (var line in lines.AsSpan(1))
            {
                var colon = line.IndexOf(':');
                if (colon > 0 && Array.Exists(PassedUpgradeHeaders, h => string.Equals(h, line[..colon], StringComparison.OrdinalIgnoreCase)))
                {
                    context.Response.Headers.Append(line[..colon], line[(colon + 1)..].Trim());
                }
            }

            var client = await context.Features.GetRequiredFeature<IHttpUpgradeFeature>().UpgradeAsync();
            var early = filled - end - 4;
            if (early > 0)
            {
                await client.WriteAsync(buffer.AsMemory(end + 4, early), context.RequestAborted);
                await client.FlushAsync(context.RequestAborted);
            }

            await RunAsync(context, container, ttyd, client, directSocketOutput && early == 0, logger);
            return StatusCodes.Status101SwitchingProtocols;
        }
        catch (OperationCanceledException) when (!context.RequestAborted.IsCancellationRequested && !context.Response.HasStarted)
        {
            // ttyd took the connection and did not answer the handshake (frozen, for one).
            return Answer(context, StatusCodes.Status504GatewayTimeout);
        }
        catch (SocketException) when (!context.Response.HasStarted)
        {
            return Answer(context, StatusCodes.Status502BadGateway);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    private static int Answer(HttpContext context, int status)
    {
        context.Response.StatusCode = status;
        return status;
    }

    // Both directions until either side closes; then ttyd's socket is shut down, which ends the other direction too.
    private static async Task RunAsync(HttpContext context, string container, Socket ttyd, Stream client, bool directSocketOutput, ILogger logger)
    {
        // Straight to the client's socket only where the bytes on the wire are the bytes ttyd sends: Kestrel's socket
        // transport, no TLS (HTTP/1.1 upgrades only get here).
        var direct = directSocketOutput && context.Features.Get<ITlsConnectionFeature>() is null && context.Features.Get<ITlsHandshakeFeature>() is null
            ? context.Features.Get<IConnectionSocketFeature>()?.Socket : null;
        Log.Relaying(logger, container, direct is null ? "through Kestrel" : "straight to the client's socket");
        var relay = new Relay(container, ttyd, client, direct, logger);
        using var ended = CancellationTokenSource.CreateLinkedTokenSource(context.RequestAborted);
        var output = relay.StartOutput();
        var input = relay.PumpInputAsync(ended.Token);
        await Task.WhenAny(input, output);
        try
        {
            ttyd.Shutdown(SocketShutdown.Both);
        }
        catch (Exception e) when (e is SocketException or ObjectDisposedException)
        {
        }

        ended.Cancel();
        await output;
        try
        {
            await input;
        }
        catch (Exception e) when (e is IOException or SocketException or OperationCanceledException or ObjectDisposedException or ConnectionAbortedException)
        {
        }
    }

    /// <summary>One relayed connection: the browser's bytes to ttyd on the request's task, ttyd's to the browser on a thread of its own.</summary>
    private sealed class Relay(string container, Socket ttyd, Stream client, Socket? direct, ILogger logger)
    {
        private const int OutputStackSize = 256 * 1024;

        // Set once the browser sent bytes after the 101: it has received the 101 then, so Kestrel's pipe holds nothing
        // that a direct write could overtake.
        private volatile bool _answered;

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
                    // A thread's exception would end the process; any failure here only ends this relay.
                    if (e is not (IOException or SocketException or ObjectDisposedException or InvalidOperationException or ConnectionAbortedException))
                    {
                        Log.RelayFailed(logger, container, e);
                    }
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
            thread.UnsafeStart();
            return finished.Task;
        }

        public async Task PumpInputAsync(CancellationToken cancellationToken)
        {
            var buffer = ArrayPool<byte>.Shared.Rent(16 * 1024);
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

        // Waits in poll(2) on ttyd's socket, so that ttyd's write wakes this thread itself; .NET's asynchronous receive would
        // wake its socket engine's thread, which then wakes a pool thread.
        private void PumpOutput()
        {
            var buffer = ArrayPool<byte>.Shared.Rent(64 * 1024);
            var throughStream = false;
            try
            {
                while (ttyd.Poll(-1, SelectMode.SelectRead))
                {
                    var read = ttyd.Receive(buffer, SocketFlags.None, out var error);
                    if (read <= 0 || error != SocketError.Success)
                    {
                        return;
                    }

                    // Once anything went through Kestrel's pipe, everything does: a direct write could overtake it.
                    if (!throughStream && _answered && direct is not null)
                    {
                        direct.Send(buffer, 0, read, SocketFlags.None);
                    }
                    else
                    {
                        throughStream = true;
                        client.WriteAsync(buffer.AsMemory(0, read)).AsTask().GetAwaiter().GetResult();
                        client.FlushAsync().GetAwaiter().GetResult();
                    }
                }
            }
            finally
            {
                ArrayPool<byte>.Shared.Return(buffer);
            }
        }
    }
}
