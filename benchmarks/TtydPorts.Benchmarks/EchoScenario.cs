using System.Diagnostics;
using System.Globalization;
using System.Net.WebSockets;
using System.Security.Claims;
using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;
using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace TtydPorts.Benchmarks;

/// <summary>
/// Keystroke echo and output throughput of one terminal, direct against through the proxy, side by side in one run over
/// real ttyd, Docker (a busybox container per mode) and, with persistent shells, tmux:
/// <list type="bullet">
/// <item>direct: a TCP-mode session, its WebSocket opened on ttyd's port with the session's credential;</item>
/// <item>proxy: a Kestrel host on 127.0.0.1 (<c>AddTtydTerminalProxy("/terminals")</c> + <c>MapTtydTerminals()</c>, Unix
/// sockets, a header authentication that makes the benchmark user the session's owner), opened as ttyd's page does it
/// (<c>token</c>, then <c>/terminals/{container}/ws</c> with the host's own Origin).</item>
/// </list>
/// Echo: <c>cat</c> runs in each terminal; every key is one frame, timed from the send to the frame carrying its echo; the
/// line is killed (Ctrl-U) every 40 keys, untimed. Blocks of 100 keys alternate between the modes (A/B/A/B) after a
/// warm-up. Throughput: <c>head -c N /dev/zero | tr '\0' x</c> then an end marker the shell assembles (so the command's
/// own echo does not contain it), timed from the Enter to the marker; modes alternate round by round after a warm-up.
/// Prints figures only.
/// </summary>
internal static class EchoScenario
{
    private const string User = "bench";
    private const string UserHeader = "X-Bench-User";
    private const int BlockKeys = 100;
    private const int LineKeys = 40;
    private static readonly CultureInfo Inv = CultureInfo.InvariantCulture;

    public static async Task<int> RunAsync(int keys, int megabytes, int rounds, string persistentModes, int start, int end, string docker, bool kestrelInline)
    {
        var containers = new[] { "d", "p" }.Select(m => $"tp-bench-echo-{Environment.ProcessId}-{m}").ToArray();
        foreach (var name in containers)
        {
            PersistenceScenario.Run(docker, "run", "-d", "--name", name, "--label", "ttydports.test=1", "--network", "none", "ttydports/busybox:test", "sleep", "3600");
        }

        try
        {
            var modes = persistentModes switch { "true" => [true], "false" => [false], _ => new[] { true, false } };
            foreach (var persistent in modes)
            {
                await RunModeAsync(persistent, keys, megabytes, rounds, start, end, docker, containers[0], containers[1], kestrelInline);
            }

            return 0;
        }
        finally
        {
            PersistenceScenario.Run(docker, ["rm", "-f", .. containers]);
        }
    }

    private static async Task RunModeAsync(bool persistent, int keys, int megabytes, int rounds, int start, int end, string docker, string directContainer, string proxyContainer, bool kestrelInline)
    {
        var directInstance = $"bench-echo-d-{Guid.NewGuid().ToString("N")[..8]}";
        await using var direct = new ServiceCollection().AddTtydSessions(o =>
        {
            o.PortRangeStart = start;
            o.PortRangeEnd = end;
            o.InstanceName = directInstance;
            o.RuntimeDirectory = Path.Combine(Path.GetTempPath(), directInstance);
            o.PersistentShells = persistent;
            o.DockerPath = docker;
            o.PortCooldown = TimeSpan.Zero;
        }).Services.BuildServiceProvider();
        var directManager = direct.GetRequiredService<ITtydSessionManager>();
        await using var host = await ProxyHostAsync(persistent, docker, kestrelInline);
        var proxyManager = host.Services.GetRequiredService<ITtydSessionManager>();
        var baseAddress = host.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.Select(a => new Uri(a)).First();
        Terminal? a = null, b = null;
        try
        {
            var directSession = (await directManager.EnsureSessionAsync(directContainer, User))!;
            _ = (await proxyManager.EnsureSessionAsync(proxyContainer, User))!;
            a = await Terminal.DirectAsync(directSession);
            b = await Terminal.ProxyAsync(baseAddress, proxyContainer);
            var pair = new[] { ("direct", a), ("proxy", b) };
            foreach (var (_, t) in pair)
            {
                await t.WaitForAsync("# ");
                await t.SendAsync("0cat\r");
                await t.WaitForAsync("cat");
                await t.DrainAsync();
            }

            Console.WriteLine($"persistent shells {(persistent ? "on (tmux)" : "off")}; Kestrel {(kestrelInline ? "UnsafePreferInlineScheduling" : "defaults")}; machine load {File.ReadAllText("/proc/loadavg").Trim()}");

            // Echo: warm-up, then blocks of BlockKeys alternating direct, proxy, direct, proxy...
            foreach (var (_, t) in pair)
            {
                _ = await t.EchoAsync(2 * BlockKeys);
            }

            var echo = new Dictionary<string, List<double>> { ["direct"] = [], ["proxy"] = [] };
            for (var done = 0; done < keys; done += BlockKeys)
            {
                foreach (var (name, t) in done / BlockKeys % 2 == 0 ? pair : pair.Reverse())
                {
                    echo[name].AddRange(await t.EchoAsync(Math.Min(BlockKeys, keys - done)));
                }
            }

            foreach (var (_, t) in pair)
            {
                await t.SendAsync("0\u0003");
                await t.WaitForAsync("# ");
                await t.DrainAsync();
            }

            // Throughput: warm-up with a tenth, then rounds alternating which mode goes first.
            var bytes = (long)megabytes * 1024 * 1024;
            foreach (var (name, t) in pair)
            {
                _ = await t.OutputAsync(bytes / 10, $"W{name}");
            }

            var throughput = new Dictionary<string, List<(double Seconds, long Received)>> { ["direct"] = [], ["proxy"] = [] };
            for (var round = 0; round < rounds; round++)
            {
                foreach (var (name, t) in round % 2 == 0 ? pair : pair.Reverse())
                {
                    throughput[name].Add(await t.OutputAsync(bytes, $"R{round}{name}"));
                }
            }

            Report(keys, megabytes, echo, throughput);
        }
        finally
        {
            if (a is not null)
            {
                await a.DisposeAsync();
            }

            if (b is not null)
            {
                await b.DisposeAsync();
            }

            await directManager.CleanupAllAsync();
            await proxyManager.CleanupAllAsync();
            await host.StopAsync();
            Directory.Delete(Path.Combine(Path.GetTempPath(), directInstance), recursive: true);
        }
    }

    private static void Report(int keys, int megabytes, Dictionary<string, List<double>> echo, Dictionary<string, List<(double Seconds, long Received)>> throughput)
    {
        double P(List<double> v, double q)
        {
            var sorted = v.Order().ToArray();
            return sorted[Math.Min(sorted.Length - 1, (int)Math.Ceiling(q * sorted.Length) - 1)];
        }

        Console.WriteLine($"  keystroke echo, {keys} keys per mode (ms)");
        foreach (var (name, v) in echo)
        {
            Console.WriteLine(string.Create(Inv, $"    {name,-7} p50 {P(v, 0.50),7:F3}  p90 {P(v, 0.90),7:F3}  p99 {P(v, 0.99),7:F3}  min {v.Min(),7:F3}  max {v.Max(),8:F3}"));
        }

        Console.WriteLine(string.Create(Inv, $"    proxy/direct p50 {P(echo["proxy"], 0.5) / P(echo["direct"], 0.5):F3}  p99 {P(echo["proxy"], 0.99) / P(echo["direct"], 0.99):F3}  (p50 +{P(echo["proxy"], 0.5) - P(echo["direct"], 0.5):F3} ms)"));
        Console.WriteLine($"  output throughput, {megabytes} MB per round (MB/s = MiB per second to the end marker; received = bytes that reached the client)");
        var medians = new Dictionary<string, double>();
        foreach (var (name, v) in throughput)
        {
            var rates = v.Select(r => megabytes / r.Seconds).ToList();
            medians[name] = Scenarios.Median(rates);
            Console.WriteLine(string.Create(Inv,
                $"    {name,-7} median {medians[name],6:F2} MB/s  rounds {string.Join(", ", rates.Select(r => r.ToString("F2", Inv)))}  received {string.Join(", ", v.Select(r => (r.Received / 1048576.0).ToString("F1", Inv)))} MiB"));
        }

        Console.WriteLine(string.Create(Inv, $"    proxy/direct {medians["proxy"] / medians["direct"]:F3}"));
    }

    private static async Task<WebApplication> ProxyHostAsync(bool persistent, string docker, bool kestrelInline)
    {
        var instance = $"bench-echo-p-{Guid.NewGuid().ToString("N")[..8]}";
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        if (kestrelInline)
        {
            // A host's choice, not the library's: socket completions run the application inline, without a thread-pool hop.
            builder.WebHost.UseSockets(o => o.UnsafePreferInlineScheduling = true);
        }

        builder.Logging.SetMinimumLevel(LogLevel.Warning);
        builder.Services.AddTtydSessions(o =>
        {
            o.InstanceName = instance;
            o.RuntimeDirectory = Path.Combine(Path.GetTempPath(), instance);
            o.PersistentShells = persistent;
            o.DockerPath = docker;
        }).AddTtydTerminalProxy("/terminals");
        builder.Services.AddAuthentication(UserHeader).AddScheme<AuthenticationSchemeOptions, HeaderUser>(UserHeader, null);
        builder.Services.AddAuthorization();
        var app = builder.Build();
        app.UseAuthentication();
        app.UseAuthorization();
        app.MapTtydTerminals();
        app.Lifetime.ApplicationStopped.Register(() =>
        {
            var folder = Path.Combine(Path.GetTempPath(), instance);
            if (Directory.Exists(folder))
            {
                Directory.Delete(folder, recursive: true);
            }
        });
        await app.StartAsync();
        return app;
    }

    /// <summary>Benchmark-only authentication: the user named by the <c>X-Bench-User</c> header (the benchmark's client sends it).</summary>
    private sealed class HeaderUser(IOptionsMonitor<AuthenticationSchemeOptions> options, ILoggerFactory logger, UrlEncoder encoder)
        : AuthenticationHandler<AuthenticationSchemeOptions>(options, logger, encoder)
    {
        protected override Task<AuthenticateResult> HandleAuthenticateAsync() =>
            Task.FromResult(Request.Headers[UserHeader] is [{ Length: > 0 } user]
                ? AuthenticateResult.Success(new AuthenticationTicket(new ClaimsPrincipal(new ClaimsIdentity([new Claim(ClaimTypes.NameIdentifier, user)], Scheme.Name)), Scheme.Name))
                : AuthenticateResult.NoResult());
    }

    /// <summary>One terminal's WebSocket (ttyd's protocol: subprotocol <c>tty</c>, a JSON hello, '0'-prefixed input and output).</summary>
    private sealed class Terminal(ClientWebSocket socket) : IAsyncDisposable
    {
        private const string Keys = "abcdefghijklmnopqrstuvwxyz";
        private readonly byte[] _buffer = new byte[65536];
        private readonly StringBuilder _screen = new();
        private bool _midMessage;
        private int _key;

        public static async Task<Terminal> DirectAsync(TtydSession session)
        {
            var credential = session.Credential!;
            var socket = new ClientWebSocket();
            socket.Options.AddSubProtocol("tty");
            socket.Options.SetRequestHeader("Authorization", credential.AuthorizationHeaderValue);
            socket.Options.SetRequestHeader("Origin", $"http://127.0.0.1:{session.Port}");
            await socket.ConnectAsync(new Uri($"ws://127.0.0.1:{session.Port}/ws"), CancellationToken.None);
            var terminal = new Terminal(socket);
            await terminal.SendAsync($"{{\"AuthToken\":\"{Convert.ToBase64String(Encoding.UTF8.GetBytes($"{credential.UserName}:{credential.Password}"))}\",\"columns\":80,\"rows\":24}}");
            return terminal;
        }

        // As ttyd's page through the proxy: its token (the proxy adds the session's credential), then the WebSocket with the page's origin.
        public static async Task<Terminal> ProxyAsync(Uri host, string container)
        {
            using var http = new HttpClient { BaseAddress = host };
            http.DefaultRequestHeaders.Add(UserHeader, User);
            var token = JsonDocument.Parse(await http.GetStringAsync($"/terminals/{container}/token")).RootElement.GetProperty("token").GetString();
            var socket = new ClientWebSocket();
            socket.Options.AddSubProtocol("tty");
            socket.Options.SetRequestHeader(UserHeader, User);
            socket.Options.SetRequestHeader("Origin", host.GetLeftPart(UriPartial.Authority));
            await socket.ConnectAsync(new Uri($"ws://{host.Authority}/terminals/{container}/ws"), CancellationToken.None);
            var terminal = new Terminal(socket);
            await terminal.SendAsync($"{{\"AuthToken\":\"{token}\",\"columns\":80,\"rows\":24}}");
            return terminal;
        }

        public Task SendAsync(string text) =>
            socket.SendAsync(Encoding.UTF8.GetBytes(text), WebSocketMessageType.Binary, true, CancellationToken.None);

        public async Task WaitForAsync(string expected)
        {
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
            while (!_screen.ToString().Contains(expected, StringComparison.Ordinal))
            {
                var output = await ReceiveAsync(timeout.Token);
                _screen.Append(Encoding.UTF8.GetString(output.Span));
            }

            _screen.Clear();
        }

        /// <summary>Reads until nothing has come for 150 ms.</summary>
        public async Task DrainAsync()
        {
            while (true)
            {
                using var quiet = new CancellationTokenSource(TimeSpan.FromMilliseconds(150));
                var receive = ReceiveAsync(CancellationToken.None);
                if (await Task.WhenAny(receive, Task.Delay(Timeout.Infinite, quiet.Token)) != receive)
                {
                    // Nothing came: the pending receive stays for the next caller.
                    _pending = receive;
                    return;
                }

                _ = await receive;
            }
        }

        private Task<ReadOnlyMemory<byte>>? _pending;

        /// <summary>Types <paramref name="count"/> keys into <c>cat</c>, one frame each; returns each key's send-to-echo time in ms.</summary>
        public async Task<List<double>> EchoAsync(int count)
        {
            var times = new List<double>(count);
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
            for (var i = 0; i < count; i++)
            {
                if (_key > 0 && _key % LineKeys == 0)
                {
                    await SendAsync("0\u0015"); // Ctrl-U: cat's line is killed (the tty erases it on screen), untimed
                    await DrainAsync();
                }

                var key = (byte)Keys[_key++ % Keys.Length];
                var frame = new byte[] { (byte)'0', key };
                var started = Stopwatch.GetTimestamp();
                await socket.SendAsync(frame, WebSocketMessageType.Binary, true, timeout.Token);
                while ((await ReceiveAsync(timeout.Token)).Span.IndexOf(key) < 0)
                {
                }

                times.Add(Stopwatch.GetElapsedTime(started).TotalMilliseconds);
            }

            return times;
        }

        /// <summary>Runs a command printing <paramref name="bytes"/> bytes, then a marker; returns seconds from Enter to the marker and the bytes received.</summary>
        public async Task<(double Seconds, long Received)> OutputAsync(long bytes, string tag)
        {
            var marker = Encoding.ASCII.GetBytes($"END{tag}Z");
            var command = $"0head -c {bytes.ToString(Inv)} /dev/zero | tr '\\0' x; echo END\"\"{tag}Z\r";
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(120));
            var tail = new byte[2 * marker.Length];
            var tailLength = 0;
            long received = 0;
            var started = Stopwatch.GetTimestamp();
            await SendAsync(command);
            while (true)
            {
                var output = await ReceiveAsync(timeout.Token);
                received += output.Length;
                if (output.Span.IndexOf(marker) >= 0)
                {
                    break;
                }

                // A marker split between two frames: look at the end of the last frame joined to the start of this one.
                var head = output.Span[..Math.Min(output.Length, marker.Length)];
                head.CopyTo(tail.AsSpan(tailLength));
                if (tail.AsSpan(0, tailLength + head.Length).IndexOf(marker) >= 0)
                {
                    break;
                }

                var end = output.Span[Math.Max(0, output.Length - marker.Length)..];
                end.CopyTo(tail);
                tailLength = end.Length;
            }

            var seconds = Stopwatch.GetElapsedTime(started).TotalSeconds;
            await WaitForAsync("# ");
            await DrainAsync();
            return (seconds, received);
        }

        // The next output bytes (without the '0' of a frame's first part); other frame types give nothing.
        private async Task<ReadOnlyMemory<byte>> ReceiveAsync(CancellationToken cancellationToken)
        {
            if (_pending is { } pending)
            {
                _pending = null;
                return await pending.WaitAsync(cancellationToken);
            }

            var result = await socket.ReceiveAsync(_buffer, cancellationToken);
            if (result.MessageType == WebSocketMessageType.Close)
            {
                throw new InvalidOperationException("the terminal closed its WebSocket");
            }

            var continuation = _midMessage;
            _midMessage = !result.EndOfMessage;
            return continuation ? _buffer.AsMemory(0, result.Count)
                : result.Count > 0 && _buffer[0] == (byte)'0' ? _buffer.AsMemory(1, result.Count - 1)
                : ReadOnlyMemory<byte>.Empty;
        }

        public async ValueTask DisposeAsync()
        {
            socket.Abort();
            socket.Dispose();
            if (_pending is { } pending)
            {
                try
                {
                    await pending;
                }
                catch (Exception e) when (e is WebSocketException or ObjectDisposedException or OperationCanceledException or InvalidOperationException)
                {
                }
            }
        }
    }
}
