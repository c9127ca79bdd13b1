using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using System.Globalization;
using System.Net.Sockets;
using System.Text;
using System.Text.RegularExpressions;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Timeouts;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using TtydPorts.IntegrationTests;

namespace TtydPorts.AspNetCore.Tests;

/// <summary>
/// The proxy's own WebSocket relay (TerminalRelay) over real ttyd, tmux and Docker: where ttyd's output goes (straight to
/// the client's socket over plain HTTP, through Kestrel over HTTPS or with the option off), what it leaves to YARP, that a
/// request timeout of the host does not end a terminal, and that its thread lives exactly as long as the connection.
/// </summary>
[System.Runtime.Versioning.SupportedOSPlatform("linux")]
[Collection(RealHostsCollection.Name)]
public sealed class TerminalRelayTests(ProxyContainers containers) : IClassFixture<ProxyContainers>
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Over_plain_http_the_output_goes_straight_to_the_client_socket_and_the_terminal_works()
    {
        var (direct, kestrel) = await RelayedBytesAsync(proxy: null, https: null, "plain");

        Assert.True(direct > 0, $"{direct} bytes went straight to the socket");
        Assert.Equal(0, kestrel);
    }

    [Fact]
    public async Task Over_https_the_output_goes_through_kestrel_so_that_tls_is_kept_and_the_terminal_works()
    {
        // A plaintext write past TLS breaks the record layer: without the detection the client cannot read the echo.
        using var certificate = ProxyHost.SelfSignedCertificate();
        var (direct, kestrel) = await RelayedBytesAsync(proxy: null, https: certificate, "tls");

        Assert.Equal(0, direct);
        Assert.True(kestrel > 0, $"{kestrel} bytes went through Kestrel");
    }

    [Fact]
    public async Task Behind_a_connection_middleware_of_the_host_the_output_goes_through_kestrel_and_the_terminal_works()
    {
        // Connection logging replaces the connection's transport pipe, as a TLS layer of the host's own would.
        var (direct, kestrel) = await RelayedBytesAsync(proxy: null, https: null, "logged", listen: l => l.UseConnectionLogging());

        Assert.Equal(0, direct);
        Assert.True(kestrel > 0, $"{kestrel} bytes went through Kestrel");
    }

    [Fact]
    public async Task With_direct_socket_output_off_the_output_goes_through_kestrel_and_the_terminal_works()
    {
        var (direct, kestrel) = await RelayedBytesAsync(proxy: o => o.DirectSocketOutput = false, https: null, "off");

        Assert.Equal(0, direct);
        Assert.True(kestrel > 0, $"{kestrel} bytes went through Kestrel");
    }

    [Fact]
    public async Task With_the_relay_off_websockets_go_through_yarp_and_the_terminal_works()
    {
        var container = containers.Start();
        var logs = new CapturedLogs();
        await using var host = await ProxyHost.StartAsync(proxy: o => o.RelayWebSockets = false, services: s => Capture(s, logs));
        _ = await host.Manager.EnsureSessionAsync(container, "alice", null, Ct);
        using var alice = await host.ClientAsync("alice");
        await Poll.UntilAsync(() => RelayThreads() == 0, Poll.Within(30)); // earlier tests' relays have ended

        await using (var terminal = await alice.ConnectAsync(container, host.Origin, Ct))
        {
            await terminal.TypeAsync("echo yarp-$((6*7))\r", Ct);
            await terminal.WaitForAsync("yarp-42", Poll.Within(30));
            Assert.Equal(0, RelayThreads());
        }

        Assert.Matches($"Proxying to http://ttyd-[0-9a-f]+/terminals/{Regex.Escape(container)}/ws", logs.Text); // YARP's own line
        Assert.DoesNotContain("Relayed the terminal", logs.Text, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_request_timeout_of_the_host_ends_slow_requests_but_not_a_terminal()
    {
        var container = containers.Start();
        var timedOut = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var host = await ProxyHost.StartAsync(
            services: s => s.AddRequestTimeouts(o => o.DefaultPolicy = new RequestTimeoutPolicy { Timeout = TimeSpan.FromSeconds(2) }),
            pipeline: app =>
            {
                app.UseRequestTimeouts();
                app.MapGet("/slow", async (HttpContext http) =>
                {
                    try
                    {
                        await Task.Delay(Timeout.Infinite, http.RequestAborted);
                    }
                    catch (OperationCanceledException)
                    {
                        timedOut.TrySetResult();
                    }
                });
            });
        _ = await host.Manager.EnsureSessionAsync(container, "alice", null, Ct);
        using var alice = await host.ClientAsync("alice");
        await using var terminal = await alice.ConnectAsync(container, host.Origin, Ct);
        await terminal.TypeAsync("echo before-$((6*7))\r", Ct);
        await terminal.WaitForAsync("before-42", Poll.Within(30));

        // The client keeps reading meanwhile, as a browser does (ttyd's pings are answered). A request made after the
        // terminal opened is ended by the host's timeout: by then the terminal's would have been too.
        var after = terminal.WaitForAsync("after-42", Poll.Within(60));
        using var slow = await alice.Http.GetAsync("/slow", Ct);
        await timedOut.Task.WaitAsync(Poll.Within(30));

        await terminal.TypeAsync("echo after-$((6*7))\r", Ct);
        await after;
    }

    [Fact]
    public async Task An_upgrade_to_something_other_than_websocket_is_left_to_yarp_and_gets_the_page()
    {
        var container = containers.Start();
        var logs = new CapturedLogs();
        await using var host = await ProxyHost.StartAsync(services: s => Capture(s, logs));
        _ = await host.Manager.EnsureSessionAsync(container, "alice", null, Ct);
        using var alice = await host.ClientAsync("alice");

        // curl --http2 against http:// sends this: Kestrel calls it upgradable, but it is no WebSocket.
        var h2c = await RawAsync(host, alice, $"/terminals/{container}/", "Connection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n");
        Assert.StartsWith("HTTP/1.1 200", h2c, StringComparison.Ordinal);
        Assert.Contains("<html", h2c, StringComparison.OrdinalIgnoreCase);

        // Positive control: a WebSocket upgrade of the same client is the relay's.
        await using var terminal = await alice.ConnectAsync(container, host.Origin, Ct);
        await terminal.TypeAsync("echo ws-$((6*7))\r", Ct);
        await terminal.WaitForAsync("ws-42", Poll.Within(30));
        await terminal.DisposeAsync();
        await Poll.UntilAsync(() => Regex.Matches(logs.Text, "Relayed the terminal").Count == 1, Poll.Within(30));
    }

    [Fact]
    public async Task The_relay_thread_ends_when_the_browser_leaves_and_when_the_session_is_stopped()
    {
        var container = containers.Start();
        await using var host = await ProxyHost.StartAsync();
        _ = await host.Manager.EnsureSessionAsync(container, "alice", null, Ct);
        using var alice = await host.ClientAsync("alice");
        await Poll.UntilAsync(() => RelayThreads() == 0, Poll.Within(30)); // earlier tests' relays have ended

        // The browser leaves: its thread ends.
        await using (var first = await alice.ConnectAsync(container, host.Origin, Ct))
        {
            await first.TypeAsync("echo one\r", Ct);
            await first.WaitForAsync("one", Poll.Within(30));
            Assert.Equal(1, RelayThreads());
        }

        await Poll.UntilAsync(() => RelayThreads() == 0, Poll.Within(30));

        // The session is stopped while a browser is connected: the browser's connection ends, and the thread.
        await using var second = await alice.ConnectAsync(container, host.Origin, Ct);
        await second.TypeAsync("echo two\r", Ct);
        await second.WaitForAsync("two", Poll.Within(30));
        Assert.Equal(1, RelayThreads());
        Assert.Single((await host.Manager.DeleteNodeAsync(container, Ct)).Stopped);
        var ended = await Record.ExceptionAsync(() => second.WaitForAsync("never printed", Poll.Within(30)));
        Assert.NotNull(ended);
        Assert.IsNotAssignableFrom<OperationCanceledException>(ended); // closed, not timed out
        await Poll.UntilAsync(() => RelayThreads() == 0, Poll.Within(30));
    }

    [Fact]
    public async Task A_browser_that_stops_reading_is_cut_off_after_the_stall_timeout_while_an_idle_terminal_stays()
    {
        var busy = containers.Start();
        var idle = containers.Start();
        var logs = new CapturedLogs();
        // Without tmux, whose drawing of a flood is slower than the flood: the output must fill the socket buffers (megabytes).
        // ttyd's pings every 60 s instead of 5: it would otherwise hang up on the frozen client after about 10 s itself.
        await using var host = await ProxyHost.StartAsync(
            configure: o =>
            {
                o.PersistentShells = false;
                o.ExtraTtydArguments.Add("-P");
                o.ExtraTtydArguments.Add("60");
            },
            proxy: o => o.StalledClientTimeout = TimeSpan.FromSeconds(2),
            services: s => Capture(s, logs));
        _ = await host.Manager.EnsureSessionAsync(busy, "alice", null, Ct);
        _ = await host.Manager.EnsureSessionAsync(idle, "alice", null, Ct);
        using var alice = await host.ClientAsync("alice");
        await Poll.UntilAsync(() => RelayThreads() == 0, Poll.Within(30)); // earlier tests' relays have ended

        await using var quiet = await alice.ConnectAsync(idle, host.Origin, Ct);
        await quiet.TypeAsync("echo idle\r", Ct);
        await quiet.WaitForAsync("idle", Poll.Within(30));

        // The idle terminal's client keeps reading, as a live browser does (it answers ttyd's pings), and sends nothing.
        var stillThere = quiet.WaitForAsync("still-42", Poll.Within(120));

        // A client that asks for endless output and reads none of it, as a frozen browser would.
        using var frozen = await RawTerminalAsync(host, alice, busy);
        await SendFrameAsync(frozen.GetStream(), "0yes\r");
        await Poll.UntilAsync(() => RelayThreads() == 2, Poll.Within(30));

        // Its relay gives up on it: the proxy closes the connection, the thread ends.
        var stalled = $"The browser of container '{busy}''s terminal read none of its output for 2 s";
        try
        {
            await Poll.UntilAsync(() => logs.Text.Contains(stalled, StringComparison.Ordinal), Poll.Within(60));
        }
        catch (OperationCanceledException) when (!Ct.IsCancellationRequested)
        {
            Assert.Fail($"No stall seen; relay threads {RelayThreads()}; logs:\n" + string.Join("\n", logs.Text.Split('\n').Where(l => l.Contains(busy, StringComparison.Ordinal))));
        }
        Assert.True(await EndsAsync(frozen.GetStream()), "the proxy closed the frozen client's connection");
        await Poll.UntilAsync(() => RelayThreads() == 1, Poll.Within(30));

        // The idle terminal, quiet for longer than the timeout, is still there; it was never taken for a stalled one.
        await quiet.TypeAsync("echo still-$((6*7))\r", Ct);
        await stillThere;
        Assert.DoesNotContain($"container '{idle}''s terminal read none", logs.Text, StringComparison.Ordinal);
    }

    [Fact]
    public async Task The_relay_counts_connected_terminals_and_their_output_on_the_library_meter()
    {
        var container = containers.Start();
        await using var host = await ProxyHost.StartAsync();
        var meter = host.Services.GetRequiredService<IMeterFactory>().Create("TtydPorts"); // the host's own (cached) meter
        var measurements = new ConcurrentQueue<(string Name, long Value, string? Route)>();
        using var listener = new MeterListener
        {
            InstrumentPublished = (instrument, l) =>
            {
                if (instrument.Meter == meter && instrument.Name.StartsWith("ttydports.terminal.", StringComparison.Ordinal))
                {
                    l.EnableMeasurementEvents(instrument);
                }
            },
        };
        listener.SetMeasurementEventCallback<long>((instrument, value, tags, _) =>
        {
            string? route = null;
            foreach (var tag in tags)
            {
                route = tag.Key == "route" ? tag.Value as string : route;
            }

            measurements.Enqueue((instrument.Name, value, route));
        });
        listener.Start();
        long Sum(string name, string? route = null) => measurements.Where(m => m.Name == name && (route is null || m.Route == route)).Sum(m => m.Value);

        _ = await host.Manager.EnsureSessionAsync(container, "alice", null, Ct);
        using var alice = await host.ClientAsync("alice");
        await using (var terminal = await alice.ConnectAsync(container, host.Origin, Ct))
        {
            await terminal.TypeAsync("echo counted\r", Ct);
            await terminal.WaitForAsync("counted", Poll.Within(30));
            Assert.Equal(1, Sum("ttydports.terminal.connections"));
            Assert.Equal(0, Sum("ttydports.terminal.output")); // counted when the connection ends
        }

        await Poll.UntilAsync(() => Sum("ttydports.terminal.connections") == 0 && measurements.Any(m => m.Name == "ttydports.terminal.output"), Poll.Within(30));
        Assert.True(Sum("ttydports.terminal.output", "socket") > 0);
        Assert.Equal(0, Sum("ttydports.terminal.output", "kestrel"));
        Assert.Equal(0, Sum("ttydports.terminal.stalls"));
    }

    [Fact]
    public async Task Stopping_the_host_ends_its_terminal_connections_at_once_instead_of_waiting_out_the_shutdown_timeout()
    {
        var container = containers.Start();
        await using var host = await ProxyHost.StartAsync(services: s => s.Configure<HostOptions>(o => o.ShutdownTimeout = TimeSpan.FromMinutes(2)));
        var session = await host.Manager.EnsureSessionAsync(container, "alice", null, Ct);
        using var alice = await host.ClientAsync("alice");
        await using var terminal = await alice.ConnectAsync(container, host.Origin, Ct);
        await terminal.TypeAsync("echo up\r", Ct);
        await terminal.WaitForAsync("up", Poll.Within(30));

        // The client keeps reading, as a live browser does (so ttyd's pings are answered and ttyd keeps the connection):
        // with the connection held, the stop would last the whole 2-minute shutdown timeout.
        var reading = terminal.WaitForAsync("never printed", Poll.Within(90));
        var stop = host.StopAsync();
        await Poll.UntilAsync(() => stop.IsCompleted, Poll.Within(30));
        await stop;
        var ended = await Record.ExceptionAsync(() => reading);
        Assert.NotNull(ended);
        Assert.IsNotAssignableFrom<OperationCanceledException>(ended); // closed, not timed out
        await Poll.UntilAsync(() => RelayThreads() == 0, Poll.Within(30));

        // The session itself outlives the host's stop (the next run adopts it); disposing the host cleans it up.
        Assert.NotEqual("Z", File.ReadAllText($"/proc/{session!.ProcessId}/stat").Split(") ")[1][..1]);
    }

    [Fact]
    public async Task Bulk_output_is_read_in_larger_pieces_after_a_bulk_wait_and_arrives_whole_and_without_the_delay_it_never_waits()
    {
        // 512 KiB printed, then a marker the shell assembles: the marker arriving after all of it is the order check.
        const string Command = "head -c 524288 /dev/zero | tr '\\0' x; echo; echo bulk-$((6*7))\r";
        var delayed = await RelayedReadsAsync(o => o.BulkOutputDelay = TimeSpan.FromMilliseconds(50), Command, "bulk-42");
        var immediate = await RelayedReadsAsync(o => o.BulkOutputDelay = TimeSpan.Zero, Command, "bulk-42");

        Assert.True(delayed.Bytes > 524288 && immediate.Bytes > 524288, $"{delayed.Bytes} and {immediate.Bytes} bytes relayed");
        Assert.True(delayed.Waits > 0 && delayed.Bytes / delayed.Reads >= 16 * 1024, $"with the delay: {delayed.Reads} reads for {delayed.Bytes} bytes, {delayed.Waits} waits");
        Assert.Equal(0, immediate.Waits);
    }

    // Runs a command through a terminal until its output shows the marker, closes it, and reads the relay's count of bytes,
    // reads of ttyd's output and waits after bulk output.
    private async Task<(long Bytes, long Reads, long Waits)> RelayedReadsAsync(Action<TtydTerminalProxyOptions> proxy, string command, string marker)
    {
        var container = containers.Start();
        var logs = new CapturedLogs();
        // Without tmux, which would redraw a screen instead of passing every byte on.
        await using var host = await ProxyHost.StartAsync(proxy: proxy, services: s => Capture(s, logs), configure: o => o.PersistentShells = false);
        _ = await host.Manager.EnsureSessionAsync(container, "alice", null, Ct);
        using var alice = await host.ClientAsync("alice");
        await using (var terminal = await alice.ConnectAsync(container, host.Origin, Ct))
        {
            await terminal.WaitForAsync("#", Poll.Within(60)); // the shell's prompt: it reads what is typed from now on
            await terminal.TypeAsync(command, Ct);
            try
            {
                await terminal.WaitForAsync(marker, Poll.Within(120));
            }
            catch (OperationCanceledException) when (!Ct.IsCancellationRequested)
            {
                Assert.Fail($"'{marker}' did not come within 120 s. Screen ends: {terminal.Tail(300)}. Log: {logs.Text}");
            }
        }

        var pattern = new Regex($"Relayed the terminal of container '{Regex.Escape(container)}': (\\d+) bytes of output straight to the client's socket, (\\d+) through Kestrel, in (\\d+) reads of ttyd's output \\((\\d+) waits");
        Match? relayed = null;
        await Poll.UntilAsync(() => (relayed = pattern.Match(logs.Text)).Success, Poll.Within(30));
        long Group(int i) => long.Parse(relayed!.Groups[i].Value, CultureInfo.InvariantCulture);
        return (Group(1) + Group(2), Group(3), Group(4));
    }

    // Opens a terminal, runs a command through it, closes it, and reads the relay's account of where the output went.
    private async Task<(long Direct, long Kestrel)> RelayedBytesAsync(
        Action<TtydTerminalProxyOptions>? proxy, System.Security.Cryptography.X509Certificates.X509Certificate2? https, string word, Action<ListenOptions>? listen = null)
    {
        var container = containers.Start();
        var logs = new CapturedLogs();
        await using var host = await ProxyHost.StartAsync(proxy: proxy, services: s => Capture(s, logs), https: https, listen: listen);
        Assert.Equal(https is null ? "http" : "https", host.BaseAddress.Scheme);
        _ = await host.Manager.EnsureSessionAsync(container, "alice", null, Ct);
        using var alice = await host.ClientAsync("alice");

        await using (var terminal = await alice.ConnectAsync(container, host.Origin, Ct))
        {
            await terminal.TypeAsync($"echo {word}-$((6*7))\r", Ct);
            await terminal.WaitForAsync($"{word}-42", Poll.Within(30));
        }


        var pattern = new Regex($"Relayed the terminal of container '{Regex.Escape(container)}': (\\d+) bytes of output straight to the client's socket, (\\d+) through Kestrel");
        Match? relayed = null;
        await Poll.UntilAsync(() => (relayed = pattern.Match(logs.Text)).Success, Poll.Within(30));
        return (long.Parse(relayed!.Groups[1].Value, CultureInfo.InvariantCulture), long.Parse(relayed.Groups[2].Value, CultureInfo.InvariantCulture));
    }

    private static void Capture(IServiceCollection services, CapturedLogs logs)
    {
        services.AddSingleton<ILoggerProvider>(logs);
        services.Configure<LoggerFilterOptions>(o => o.Rules.Add(new LoggerFilterRule(typeof(CapturedLogs).FullName, null, LogLevel.Debug, null)));
    }

    // One request sent as given, with the client's cookies; returns the whole answer (the server closes after it).
    private static async Task<string> RawAsync(ProxyHost host, Browserless client, string target, string headers)
    {
        using var tcp = new TcpClient();
        await tcp.ConnectAsync(host.BaseAddress.Host, host.BaseAddress.Port, Ct);
        var stream = tcp.GetStream();
        var request = $"GET {target} HTTP/1.1\r\nHost: {host.BaseAddress.Authority}\r\nCookie: {client.Cookies.GetCookieHeader(host.BaseAddress)}\r\n{headers}\r\n";
        await stream.WriteAsync(Encoding.ASCII.GetBytes(request), Ct);
        var answer = new StringBuilder();
        var buffer = new byte[8192];
        using var within = CancellationTokenSource.CreateLinkedTokenSource(Ct);
        within.CancelAfter(TimeSpan.FromSeconds(30));
        while (!answer.ToString().Contains("</html>", StringComparison.OrdinalIgnoreCase) && await stream.ReadAsync(buffer, within.Token) is var read and > 0)
        {
            answer.Append(Encoding.Latin1.GetString(buffer, 0, read));
        }

        return answer.ToString();
    }

    // A terminal's WebSocket opened by hand (token, handshake, hello) on a client with a small receive buffer, which then
    // does only what the test tells it.
    private static async Task<TcpClient> RawTerminalAsync(ProxyHost host, Browserless client, string container)
    {
        using var tokenResponse = await client.Http.GetAsync($"/terminals/{container}/token", Ct);
        var token = System.Text.Json.JsonDocument.Parse(await tokenResponse.Content.ReadAsStringAsync(Ct)).RootElement.GetProperty("token").GetString();
        var tcp = new TcpClient { ReceiveBufferSize = 4096 };
        try
        {
            await tcp.ConnectAsync(host.BaseAddress.Host, host.BaseAddress.Port, Ct);
            var stream = tcp.GetStream();
            var request = $"GET /terminals/{container}/ws HTTP/1.1\r\nHost: {host.BaseAddress.Authority}\r\nCookie: {client.Cookies.GetCookieHeader(host.BaseAddress)}\r\n"
                + $"Origin: {host.Origin}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                + "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: tty\r\n\r\n";
            await stream.WriteAsync(Encoding.ASCII.GetBytes(request), Ct);
            var head = new List<byte>();
            var one = new byte[1];
            while (!Encoding.ASCII.GetString([.. head]).EndsWith("\r\n\r\n", StringComparison.Ordinal) && await stream.ReadAsync(one, Ct) == 1)
            {
                head.Add(one[0]);
            }

            Assert.StartsWith("HTTP/1.1 101", Encoding.ASCII.GetString([.. head]), StringComparison.Ordinal);
            await SendFrameAsync(stream, $"{{\"AuthToken\":\"{token}\",\"columns\":80,\"rows\":24}}");
            return tcp;
        }
        catch
        {
            tcp.Dispose();
            throw;
        }
    }

    // One binary frame from a client (masked, as RFC 6455 requires of clients).
    private static async Task SendFrameAsync(Stream stream, string text)
    {
        var payload = Encoding.UTF8.GetBytes(text);
        var mask = System.Security.Cryptography.RandomNumberGenerator.GetBytes(4);
        var frame = new List<byte> { 0x82 };
        if (payload.Length < 126)
        {
            frame.Add((byte)(0x80 | payload.Length));
        }
        else
        {
            frame.AddRange([0x80 | 126, (byte)(payload.Length >> 8), (byte)payload.Length]);
        }

        frame.AddRange(mask);
        frame.AddRange(payload.Select((b, i) => (byte)(b ^ mask[i % 4])));
        await stream.WriteAsync(frame.ToArray(), Ct);
    }

    // Reads what is left until the other side closes (true) or 30 s pass (false).
    private static async Task<bool> EndsAsync(Stream stream)
    {
        using var within = CancellationTokenSource.CreateLinkedTokenSource(Ct);
        within.CancelAfter(TimeSpan.FromSeconds(30));
        var buffer = new byte[65536];
        try
        {
            while (await stream.ReadAsync(buffer, within.Token) > 0)
            {
            }

            return true;
        }
        catch (IOException)
        {
            return true; // reset
        }
        catch (OperationCanceledException) when (!Ct.IsCancellationRequested)
        {
            return false;
        }
    }

    // Threads of this process named as the relay names its output threads (comm holds at most 15 characters).
    private static int RelayThreads() =>
        Directory.EnumerateDirectories("/proc/self/task").Count(task =>
        {
            try
            {
                return File.ReadAllText(Path.Combine(task, "comm")).Trim() == "ttydports-relay";
            }
            catch (IOException)
            {
                return false; // the thread ended between the listing and the read
            }
        });
}
