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
/// (<c>token</c>, then <c>/terminals/{container}/ws</c> with the host's own Origin);</item>
/// <item>proxy-process: the same host as proxy, run in a process of its own (<c>--scenario echo-proxy-host</c>), so that the
/// client does not share its thread pool, as a browser would not.</item>
/// <item>proxy-yarp: proxy-process with the WebSocket carried by YARP's forwarder instead of the library's relay
/// (<c>--relay yarp</c>), as before the relay: what the relay bought, in the same run.</item>
/// <item>with <c>--kestrel-inline true</c>, proxy-inline: proxy-process with Kestrel running the application inline on
/// socket completions (<c>SocketTransportOptions.UnsafePreferInlineScheduling</c>, a host's choice), so that a keystroke
/// reaches the relay without a thread-pool hop.</item>
/// </list>
/// The client runs in the same process as the direct terminal and the in-process proxy hosts.
/// Echo: <c>cat</c> runs in each terminal; every key is one frame, timed from the send to the frame carrying its echo; the
/// line is killed (Ctrl-U) every 40 keys, untimed. Blocks of 20 keys take turns between the modes (A/B/A/B, the order
/// rotating block by block) after a warm-up of 200 keys each. Throughput: <c>head -c N /dev/zero | tr '\0' x</c> then an end marker the shell assembles (so the command's
/// own echo does not contain it), timed from the Enter to the marker; the order rotates round by round after a warm-up of a tenth.
/// Prints figures only.
/// </summary>
internal static class EchoScenario
{
    private const string User = "bench";
    private const string UserHeader = "X-Bench-User";
    private const int BlockKeys = 20;
    private const int LineKeys = 40;
    private static readonly CultureInfo Inv = CultureInfo.InvariantCulture;

    public static async Task<int> RunAsync(int keys, int megabytes, int rounds, int connections, string persistentModes, int start, int end, string docker, bool kestrelInline)
    {
        var containers = new[] { "d", "p", "i", "s", "y", "b" }.Select(m => $"tp-bench-echo-{Environment.ProcessId}-{m}").ToArray();
        foreach (var name in containers)
        {
            PersistenceScenario.Run(docker, "run", "-d", "--name", name, "--label", "ttydports.test=1", "--network", "none", "ttydports/busybox:test", "sleep", "3600");
        }

        try
        {
            var modes = persistentModes switch { "true" => [true], "false" => [false], _ => new[] { true, false } };
            foreach (var persistent in modes)
            {
                var echo = new Dictionary<string, List<double>>();
                var throughput = new Dictionary<string, List<(double Seconds, long Received, int Connection)>>();
                var cpu = new Dictionary<string, double>();
                for (var connection = 0; connection < connections; connection++)
                {
                    // Each connection's share of the keys and rounds, on sessions, processes and WebSockets of its own.
                    await RunModeAsync(persistent, keys / connections, megabytes, Math.Max(1, rounds / connections), connection, start, end, docker, containers[0], containers[5], containers[1..5], kestrelInline, echo, throughput, cpu);
                }

                Report(persistent, keys, megabytes, echo, throughput, cpu);
            }

            return 0;
        }
        finally
        {
            PersistenceScenario.Run(docker, ["rm", "-f", .. containers]);
        }
    }

    // One connection per terminal: fresh sessions (so fresh ttyd and exec processes), proxy processes and WebSockets; its
    // figures are added to echo and throughput.
    private static async Task RunModeAsync(bool persistent, int keys, int megabytes, int rounds, int connection, int start, int end, string docker, string directContainer, string controlContainer, string[] proxyContainers, bool kestrelInline,
        Dictionary<string, List<double>> echo, Dictionary<string, List<(double Seconds, long Received, int Connection)>> throughput, Dictionary<string, double> cpu)
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
        await using var host = await ProxyHostAsync(persistent, docker, inline: false);
        var managers = new List<ITtydSessionManager> { directManager, host.Services.GetRequiredService<ITtydSessionManager>() };
        var terminals = new List<(string Name, Terminal Terminal)>();
        using var separate = ProxyProcess.Start(persistent, docker, proxyContainers[2], relay: true);
        using var yarp = ProxyProcess.Start(persistent, docker, proxyContainers[3], relay: false);
        using var inline = kestrelInline ? ProxyProcess.Start(persistent, docker, proxyContainers[1], relay: true, inline: true) : null;
        try
        {
            var directSession = (await directManager.EnsureSessionAsync(directContainer, User))!;
            terminals.Add(("direct", await Terminal.DirectAsync(directSession)));

            // The control: a second direct terminal set up exactly as the first (its own container, ttyd and shell). How far
            // its figures stray from direct's is how far two identical terminals differ in this run.
            terminals.Add(("direct-b", await Terminal.DirectAsync((await directManager.EnsureSessionAsync(controlContainer, User))!)));
            var manager = host.Services.GetRequiredService<ITtydSessionManager>();
            _ = (await manager.EnsureSessionAsync(proxyContainers[0], User))!;
            terminals.Add(("proxy", await Terminal.ProxyAsync(Address(host), proxyContainers[0])));
            terminals.Add(("proxy-process", await Terminal.ProxyAsync(await separate.AddressAsync(), proxyContainers[2])));
            if (!persistent)
            {
                // The same ttyd as proxy-process, its Unix socket opened by the client itself: the pair differs only in the
                // proxy (with persistent shells both would show one tmux pane, so the pair is measured without).
                terminals.Add(("same-ttyd", await Terminal.UnixAsync(separate.Sessions[proxyContainers[2]])));
            }
            terminals.Add(("proxy-yarp", await Terminal.ProxyAsync(await yarp.AddressAsync(), proxyContainers[3])));
            if (inline is not null)
            {
                terminals.Add(("proxy-inline", await Terminal.ProxyAsync(await inline.AddressAsync(), proxyContainers[1])));
            }
            foreach (var (_, t) in terminals)
            {
                await t.WaitForAsync("# ");
                await t.SendAsync("0cat\r");
                await t.WaitForAsync("cat");
                await t.DrainAsync();
            }

            Console.WriteLine($"persistent shells {(persistent ? "on (tmux)" : "off")}, connection {connection + 1}; machine load {File.ReadAllText("/proc/loadavg").Trim()}");

            // Echo: warm-up, then blocks of BlockKeys, the modes taking turns and the order rotating block by block.
            foreach (var (_, t) in terminals)
            {
                _ = await t.EchoAsync(2 * BlockKeys);
            }

            foreach (var (name, _) in terminals)
            {
                echo.TryAdd(name, []);
                throughput.TryAdd(name, []);
            }

            for (var done = 0; done < keys; done += BlockKeys)
            {
                foreach (var (name, t) in Rotate(terminals, done / BlockKeys))
                {
                    echo[name].AddRange(await t.EchoAsync(Math.Min(BlockKeys, keys - done)));
                }
            }

            foreach (var (_, t) in terminals)
            {
                await t.SendAsync("0\u0003");
                await t.WaitForAsync("# ");
                await t.DrainAsync();
            }

            // Throughput: warm-up with a tenth, then rounds, the order rotating round by round.
            var bytes = (long)megabytes * 1024 * 1024;
            foreach (var (name, t) in terminals)
            {
                _ = await t.OutputAsync(bytes / 10, $"W{name}");
            }

            // The CPU the proxy hosts in processes of their own spend on the rounds (their own threads; ttyd is a child,
            // counted apart): what carrying the output costs, the relay against YARP.
            var hosts = new[] { ("proxy-process", separate), ("proxy-yarp", yarp), ("proxy-inline", inline) }
                .Where(h => h.Item2 is not null).Select(h => (h.Item1, h.Item2!.ProcessId)).ToArray();
            var cpuBefore = hosts.Select(h => CpuSeconds(h.ProcessId)).ToArray();
            for (var round = 0; round < rounds; round++)
            {
                foreach (var (name, t) in Rotate(terminals, round + connection))
                {
                    var (seconds, received) = await t.OutputAsync(bytes, $"R{round}{name}");
                    throughput[name].Add((seconds, received, connection));
                }
            }

            for (var i = 0; i < hosts.Length; i++)
            {
                cpu[hosts[i].Item1] = cpu.GetValueOrDefault(hosts[i].Item1) + CpuSeconds(hosts[i].ProcessId) - cpuBefore[i];
            }
        }
        finally
        {
            foreach (var (_, t) in terminals)
            {
                await t.DisposeAsync();
            }

            foreach (var manager in managers)
            {
                await manager.CleanupAllAsync();
            }

            await separate.StopAsync();
            await yarp.StopAsync();
            if (inline is not null)
            {
                await inline.StopAsync();
            }

            await host.StopAsync();

            Directory.Delete(Path.Combine(Path.GetTempPath(), directInstance), recursive: true);
        }
    }

    /// <summary>
    /// <c>--scenario echo-proxy-host</c>: the proxy host of the proxy terminals in a process of its own. Ensures the
    /// container's session, prints the host's address on a line of its own, serves until its standard input closes, then
    /// stops the session.
    /// </summary>
    public static async Task<int> ServeProxyAsync(bool persistent, string docker, string containers, bool relay, bool inline)
    {
        await using var host = await ProxyHostAsync(persistent, docker, inline, relay);
        var manager = host.Services.GetRequiredService<ITtydSessionManager>();
        try
        {
            foreach (var container in containers.Split(','))
            {
                var session = (await manager.EnsureSessionAsync(container, User))!;

                // For the client's own connection to this ttyd (same-ttyd): where it listens and its credential.
                Console.WriteLine($"session\t{container}\t{session.SocketPath}\t{session.BasePath}\t{session.Credential!.UserName}\t{session.Credential.Password}");
            }

            Console.WriteLine(Address(host));
            await Console.In.ReadToEndAsync();
        }
        finally
        {
            await manager.CleanupAllAsync();
            await host.StopAsync();
        }

        return 0;
    }

    /// <summary>The proxy-process terminal's host: this benchmark run as <c>echo-proxy-host</c>.</summary>
    internal sealed class ProxyProcess(Process process) : IDisposable
    {
        public static ProxyProcess Start(bool persistent, string docker, string container, bool relay, bool inline = false)
        {
            var start = new ProcessStartInfo(Environment.ProcessPath!)
            {
                RedirectStandardInput = true,
                RedirectStandardOutput = true,
                UseShellExecute = false,
            };
            foreach (var argument in new[] { typeof(EchoScenario).Assembly.Location, "--scenario", "echo-proxy-host", "--persistent", persistent ? "true" : "false", "--docker", docker, "--container", container, "--relay", relay ? "relay" : "yarp", "--kestrel-inline", inline ? "true" : "false" })
            {
                start.ArgumentList.Add(argument);
            }

            return new ProxyProcess(Process.Start(start)!);
        }

        public int ProcessId => process.Id;

        /// <summary>The host's sessions by container, as it printed them before its address.</summary>
        public Dictionary<string, UnixTtyd> Sessions { get; } = [];

        public async Task<Uri> AddressAsync()
        {
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
            // Log lines the host's configuration asks for may come before its address.
            string line;
            while (!(line = await process.StandardOutput.ReadLineAsync(timeout.Token) ?? throw new InvalidOperationException("The proxy host process ended before it served.")).StartsWith("http://", StringComparison.Ordinal))
            {
                if (line.Split('\t') is ["session", var container, var socketPath, var basePath, var userName, var password])
                {
                    Sessions[container] = new UnixTtyd(socketPath, basePath, new TtydCredential(userName, password));
                    continue;
                }

                Console.WriteLine($"[proxy host {process.Id}] {line}");
            }

            // What the host prints after its address (its log lines: errors, or what Logging__LogLevel__* asks for).
            _ = Task.Run(async () =>
            {
                while (await process.StandardOutput.ReadLineAsync() is { } more)
                {
                    Console.WriteLine($"[proxy host {process.Id}] {more}");
                }
            });
            return new Uri(line.Trim());
        }

        public async Task StopAsync()
        {
            process.StandardInput.Close();
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
            await process.WaitForExitAsync(timeout.Token);
        }

        public void Dispose()
        {
            if (!process.HasExited)
            {
                process.Kill(entireProcessTree: true);
            }

            process.Dispose();
        }
    }

    /// <summary>A proxy-mode ttyd as the client reaches it without the proxy: its socket, base path and credential.</summary>
    internal sealed record UnixTtyd(string SocketPath, string BasePath, TtydCredential Credential);

    private static IEnumerable<T> Rotate<T>(List<T> items, int by) => items.Skip(by % items.Count).Concat(items.Take(by % items.Count));

    private static Uri Address(WebApplication app) =>
        app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.Select(a => new Uri(a)).First();

    // A process's user and system CPU in seconds (its own threads; /proc/PID/stat fields 14 and 15, in ticks of 1/100 s).
    private static double CpuSeconds(int pid)
    {
        var stat = File.ReadAllText($"/proc/{pid}/stat");
        var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
        return (long.Parse(fields[11], Inv) + long.Parse(fields[12], Inv)) / 100.0;
    }

    private static void Report(bool persistent, int keys, int megabytes, Dictionary<string, List<double>> echo, Dictionary<string, List<(double Seconds, long Received, int Connection)>> throughput, Dictionary<string, double> cpu)
    {
        static double P(List<double> v, double q)
        {
            var sorted = v.Order().ToArray();
            return sorted[Math.Min(sorted.Length - 1, (int)Math.Ceiling(q * sorted.Length) - 1)];
        }

        Console.WriteLine($"persistent shells {(persistent ? "on (tmux)" : "off")}: all connections");
        Console.WriteLine($"  keystroke echo, {keys} keys per mode (ms)");
        var direct = echo["direct"];
        foreach (var (name, v) in echo)
        {
            var ratio = name == "direct" ? "" : string.Create(Inv, $"   /direct: p50 {P(v, 0.5) / P(direct, 0.5):F3} (+{P(v, 0.5) - P(direct, 0.5):F3} ms), p99 {P(v, 0.99) / P(direct, 0.99):F3}");
            Console.WriteLine(string.Create(Inv, $"    {name,-13} p50 {P(v, 0.50),7:F3}  p90 {P(v, 0.90),7:F3}  p99 {P(v, 0.99),7:F3}  min {v.Min(),7:F3}  max {v.Max(),8:F3}{ratio}"));
        }

        // The pairs that share the most: the A/A control (two terminals set up alike) and the proxy against its own ttyd opened
        // directly (same ttyd, container and kind of shell; only the proxy differs).
        Console.WriteLine("  pairs (echo p50 ratio)");
        Console.WriteLine(string.Create(Inv, $"    control       direct-b / direct {P(echo["direct-b"], 0.5) / P(direct, 0.5):F3}: how far two alike terminals differ in this run"));
        if (echo.TryGetValue("same-ttyd", out var same))
        {
            var proxied = echo["proxy-process"];
            Console.WriteLine(string.Create(Inv, $"    proxy         proxy-process / same-ttyd {P(proxied, 0.5) / P(same, 0.5):F3} (+{P(proxied, 0.5) - P(same, 0.5):F3} ms), p99 {P(proxied, 0.99) / P(same, 0.99):F3}: what the proxy adds on one ttyd"));
            Console.WriteLine(string.Create(Inv, $"    socket        same-ttyd / direct {P(same, 0.5) / P(direct, 0.5):F3}: a proxy-mode ttyd on its Unix socket against a TCP-mode one"));
        }

        Console.WriteLine($"  output throughput, {megabytes} MiB per round (MB/s = MiB per second from Enter to the end marker; received = what reached the client)");
        var medians = throughput.ToDictionary(t => t.Key, t => Scenarios.Median([.. t.Value.Select(r => megabytes / r.Seconds)]));
        foreach (var (name, v) in throughput)
        {
            var ratio = name == "direct" ? "" : string.Create(Inv, $"   /direct {medians[name] / medians["direct"]:F3}");
            Console.WriteLine(string.Create(Inv,
                $"    {name,-13} median {medians[name],6:F2} MB/s  rounds {string.Join(", ", v.Select(r => (megabytes / r.Seconds).ToString("F2", Inv)))}  received {string.Join(", ", v.Select(r => (r.Received / 1048576.0).ToString("F1", Inv)))} MiB{ratio}"));
        }

        // A connection can be slow in all its rounds (where the scheduler put its processes): each one's median, per way.
        Console.WriteLine("  throughput median per connection (MB/s)");
        foreach (var (name, v) in throughput)
        {
            var perConnection = v.GroupBy(r => r.Connection).OrderBy(g => g.Key).Select(g => Scenarios.Median([.. g.Select(r => megabytes / r.Seconds)]));
            Console.WriteLine($"    {name,-13} {string.Join(", ", perConnection.Select(m => m.ToString("F2", Inv)))}");
        }

        Console.WriteLine("  CPU of the proxy host's own process during the rounds (ms per MiB carried)");
        foreach (var (name, seconds) in cpu)
        {
            var mebibytes = throughput[name].Sum(r => r.Received) / 1048576.0;
            Console.WriteLine(string.Create(Inv, $"    {name,-13} {1000 * seconds / mebibytes:F2} ms/MiB ({seconds:F2} s for {mebibytes:F0} MiB)"));
        }
    }

    private static async Task<WebApplication> ProxyHostAsync(bool persistent, string docker, bool inline, bool relay = true)
    {
        var instance = $"bench-echo-p-{Guid.NewGuid().ToString("N")[..8]}";
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        if (inline)
        {
            // A host's choice, not the library's: socket completions run the application inline, without a thread-pool hop.
            builder.WebHost.UseSockets(o => o.UnsafePreferInlineScheduling = true);
        }

        builder.Logging.SetMinimumLevel(LogLevel.Error); // the teardown aborts the clients: the forwarder warns of each ended copy
        builder.Services.AddTtydSessions(o =>
        {
            o.InstanceName = instance;
            o.RuntimeDirectory = Path.Combine(Path.GetTempPath(), instance);
            o.PersistentShells = persistent;
            o.DockerPath = docker;
        }).AddTtydTerminalProxy("/terminals", o => o.RelayWebSockets = relay);
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
    internal sealed class Terminal(ClientWebSocket socket) : IAsyncDisposable
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

        // Straight to a proxy-mode ttyd's Unix socket, as the proxy's relay does, with the session's credential.
        public static async Task<Terminal> UnixAsync(UnixTtyd ttyd)
        {
            var handler = new SocketsHttpHandler
            {
                ConnectCallback = async (_, cancellationToken) =>
                {
                    var unix = new System.Net.Sockets.Socket(System.Net.Sockets.AddressFamily.Unix, System.Net.Sockets.SocketType.Stream, System.Net.Sockets.ProtocolType.Unspecified);
                    await unix.ConnectAsync(new System.Net.Sockets.UnixDomainSocketEndPoint(ttyd.SocketPath), cancellationToken);
                    return new System.Net.Sockets.NetworkStream(unix, ownsSocket: true);
                },
            };
            // Not disposed here: the upgraded connection outlives the call (the handler goes with the process).
            var invoker = new HttpMessageInvoker(handler);
            var socket = new ClientWebSocket();
            socket.Options.AddSubProtocol("tty");
            socket.Options.SetRequestHeader("Authorization", ttyd.Credential.AuthorizationHeaderValue);
            socket.Options.SetRequestHeader("Origin", "http://localhost");
            await socket.ConnectAsync(new Uri($"ws://localhost{ttyd.BasePath}/ws"), invoker, CancellationToken.None);
            var terminal = new Terminal(socket);
            await terminal.SendAsync($"{{\"AuthToken\":\"{Convert.ToBase64String(Encoding.UTF8.GetBytes($"{ttyd.Credential.UserName}:{ttyd.Credential.Password}"))}\",\"columns\":80,\"rows\":24}}");
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

        /// <summary>Reads until nothing has come for <paramref name="quietMs"/> ms.</summary>
        public async Task DrainAsync(int quietMs = 150)
        {
            while (true)
            {
                using var quiet = new CancellationTokenSource(TimeSpan.FromMilliseconds(quietMs));
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
                    await DrainAsync(50);
                }

                var key = (byte)Keys[_key++ % Keys.Length];
                var frame = new byte[] { (byte)'0', key };
                var started = Stopwatch.GetTimestamp();
                await socket.SendAsync(frame, WebSocketMessageType.Binary, true, timeout.Token);
                while (!Shows(await ReceiveAsync(timeout.Token), key))
                {
                }

                times.Add(Stopwatch.GetElapsedTime(started).TotalMilliseconds);
            }

            return times;
        }

        // Whether the output prints the key: control sequences (tmux's cursor hide and show, ESC [ ? 25 l / h, and the like)
        // are skipped, so that a letter inside one is not taken for the echo. The parser's state carries over frames.
        private bool Shows(ReadOnlyMemory<byte> output, byte key)
        {
            var found = false;
            foreach (var b in output.Span)
            {
                found |= _escape == 0 && b == key;
                _escape = (_escape, b) switch
                {
                    (0, 0x1B) => 1,
                    (0, _) => 0,
                    (1, (byte)'[') => 2,
                    (1, _) => 0,
                    (2, >= 0x40 and <= 0x7E) => 0,
                    _ => _escape,
                };
            }

            return found;
        }

        private int _escape;

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
            await DrainAsync(); // the prompt (tmux may draw it without its trailing space)
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
