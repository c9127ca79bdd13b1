using System.Diagnostics;
using System.Globalization;
using System.Net.WebSockets;
using System.Text;
using Microsoft.Extensions.DependencyInjection;

namespace TtydPorts.Benchmarks;

/// <summary>
/// The first prompt as a user meets it, and host memory per connected terminal, over real ttyd, tmux and Docker, in one
/// run: ours (persistent shells, the shell started with the session) against the seed's algorithm
/// (<c>benchmarks/seed/seed_sessions.py</c> driving <c>shared/baseline/seed_ttyd.py</c>) and a raw ttyd running
/// <c>docker exec</c>. Each round ensures a node's terminal as a lab page listing the nodes does, lets the user look at
/// the page for <c>think</c> ms, then "clicks": the time runs from the WebSocket connect to the shell's prompt on screen.
/// Memory is the PSS (/proc/PID/smaps_rollup) of every host process of the terminal with N clients connected. Prints
/// figures only.
/// </summary>
internal static class FirstPromptScenario
{
    private static readonly CultureInfo Inv = CultureInfo.InvariantCulture;

    public static async Task<int> RunAsync(int rounds, int start, int end, string seedDir, int thinkMs)
    {
        var containers = Enumerable.Range(0, rounds + 1).Select(i => $"tp-bench-prompt-{Environment.ProcessId}-{i}").ToArray();
        foreach (var name in containers)
        {
            Run("docker", "run", "-d", "--name", name, "--label", "ttydports.test=1", "--network", "none", "ttydports/busybox:test", "sleep", "3600");
        }

        using var seed = StartSeed(seedDir, start + 200, start + 299);
        try
        {
            var think = TimeSpan.FromMilliseconds(thinkMs);
            Console.WriteLine($"first prompt: {rounds} rounds, one new node each; the user clicks {thinkMs} ms after the page listed the node");
            var ours = await OursAsync(containers[..rounds], start, end, think);
            var oursAtOnce = await OursAsync(containers[..rounds], start, end, TimeSpan.Zero);
            var oursOnClick = await OursAsync(containers[..rounds], start, end, think, startShell: false);
            var seeded = await SeedAsync(seed, containers[..rounds], think);
            var raw = await RawAsync(containers[..rounds], start + 300, think);
            Print("ours (persistent, shell started with the session)", ours);
            Print("ours, clicked at once (0 ms after the list)", oursAtOnce);
            Print("ours, StartShellWithSession = false (shell on first click)", oursOnClick);
            Print("seed (seed_ttyd.get_session, docker exec per connection)", seeded);
            Print("raw ttyd + docker exec", raw);
            Console.WriteLine(string.Create(Inv, $"ratio ours/seed (median) {Median(ours) / Median(seeded):F3}, ours/raw {Median(ours) / Median(raw):F3}; clicked at once: ours/seed {Median(oursAtOnce) / Median(seeded):F3}; shell on first click: ours/seed {Median(oursOnClick) / Median(seeded):F3}"));

            Console.WriteLine("memory per connected terminal (PSS of the terminal's host processes / N clients on one node)");
            var node = containers[^1];
            foreach (var n in new[] { 1, 5, 10 })
            {
                var oursKb = await OursMemoryAsync(node, start, end, n);
                var seedKb = await SeedMemoryAsync(seed, node, n);
                Console.WriteLine(string.Create(Inv,
                    $"N={n,-2}  ours {oursKb / 1024.0,6:F1} MiB total, {oursKb / 1024.0 / n,5:F2} MiB per terminal   seed {seedKb / 1024.0,6:F1} MiB total, {seedKb / 1024.0 / n,5:F2} MiB per terminal   seed/ours {(double)seedKb / oursKb:F2}"));
            }

            return 0;
        }
        finally
        {
            seed.StandardInput.Close();
            await seed.WaitForExitAsync();
            Run("docker", ["rm", "-f", .. containers]);
        }
    }

    private static async Task<List<double>> OursAsync(string[] containers, int start, int end, TimeSpan think, bool startShell = true)
    {
        var times = new List<double>();
        await WithManagerAsync(start, end, startShell, async (manager, _) =>
        {
            foreach (var container in containers)
            {
                var session = (await manager.EnsureSessionAsync(container, "bench"))!;
                await Task.Delay(think); // the user reading the page: part of the scenario, not a wait for a state
                var (client, ms) = await PromptAsync(session.Port, session.Credential);
                times.Add(ms);
                await CloseAsync(client);
            }
        });
        return times;
    }

    private static async Task<List<double>> SeedAsync(Process seed, string[] containers, TimeSpan think)
    {
        var times = new List<double>();
        foreach (var container in containers)
        {
            var (port, _) = await EnsureSeedAsync(seed, container);
            await Task.Delay(think);
            var (client, ms) = await PromptAsync(port, null);
            times.Add(ms);
            await CloseAsync(client);
        }

        await SeedCleanupAsync(seed);
        return times;
    }

    private static async Task<List<double>> RawAsync(string[] containers, int port, TimeSpan think)
    {
        var times = new List<double>();
        foreach (var container in containers)
        {
            var pid = RawTtyd.Start(port, container, TimeSpan.FromSeconds(10));
            try
            {
                await Task.Delay(think);
                var (client, ms) = await PromptAsync(port, null);
                times.Add(ms);
                await CloseAsync(client);
            }
            finally
            {
                RawTtyd.Stop(pid);
            }

            port++;
        }

        return times;
    }

    private static async Task<long> OursMemoryAsync(string container, int start, int end, int n)
    {
        long kb = 0;
        await WithManagerAsync(start, end, startShell: true, async (manager, processes) =>
        {
            var session = (await manager.EnsureSessionAsync(container, "bench"))!;
            var clients = new List<ClientWebSocket>();
            for (var i = 0; i < n; i++)
            {
                clients.Add((await PromptAsync(session.Port, session.Credential)).Client);
            }

            kb = processes().Sum(Pss);
            foreach (var client in clients)
            {
                await CloseAsync(client);
            }
        });
        return kb;
    }

    private static async Task<long> SeedMemoryAsync(Process seed, string container, int n)
    {
        var (port, pid) = await EnsureSeedAsync(seed, container);
        var clients = new List<ClientWebSocket>();
        for (var i = 0; i < n; i++)
        {
            clients.Add((await PromptAsync(port, null)).Client);
        }

        var kb = TreeOf(pid).Sum(Pss);
        foreach (var client in clients)
        {
            await CloseAsync(client);
        }

        await SeedCleanupAsync(seed);
        return kb;
    }

    // A manager with persistent shells in direct (TCP) mode, room for 10 clients per terminal; cleaned up whatever happens.
    private static async Task WithManagerAsync(int start, int end, bool startShell, Func<ITtydSessionManager, Func<IEnumerable<int>>, Task> body)
    {
        var instance = $"bench-prompt-{Guid.NewGuid().ToString("N")[..8]}";
        await using var provider = new ServiceCollection().AddTtydSessions(o =>
        {
            o.PortRangeStart = start;
            o.PortRangeEnd = end;
            o.InstanceName = instance;
            o.RuntimeDirectory = Path.Combine(Path.GetTempPath(), instance);
            o.PersistentShells = true;
            o.MaxClientsPerTerminal = 16;
            o.StartShellWithSession = startShell;
        }).Services.BuildServiceProvider();
        var manager = provider.GetRequiredService<ITtydSessionManager>();
        var supervisor = provider.GetRequiredService<IProcessSupervisor>();
        try
        {
            await body(manager, () => supervisor.FindMarkedProcesses("TTYDPORTS_", "TTYDPORTS_INSTANCE", instance).Select(p => p.Process.ProcessId));
        }
        finally
        {
            await manager.CleanupAllAsync();
            Directory.Delete(Path.Combine(Path.GetTempPath(), instance), recursive: true);
        }
    }

    // From the click (WebSocket connect) to the prompt ("# ") on screen; the client stays connected.
    internal static async Task<(ClientWebSocket Client, double Ms)> PromptAsync(int port, TtydCredential? credential)
    {
        var watch = Stopwatch.StartNew();
        var client = new ClientWebSocket();
        client.Options.AddSubProtocol("tty");
        if (credential is not null)
        {
            client.Options.SetRequestHeader("Authorization", credential.AuthorizationHeaderValue);
        }

        client.Options.SetRequestHeader("Origin", $"http://127.0.0.1:{port}");
        await client.ConnectAsync(new Uri($"ws://127.0.0.1:{port}/ws"), CancellationToken.None);
        var token = credential is null ? "" : Convert.ToBase64String(Encoding.UTF8.GetBytes($"{credential.UserName}:{credential.Password}"));
        await client.SendAsync(Encoding.UTF8.GetBytes($"{{\"AuthToken\":\"{token}\",\"columns\":80,\"rows\":24}}"), WebSocketMessageType.Binary, true, CancellationToken.None);
        var buffer = new byte[65536];
        var screen = new StringBuilder();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        while (!screen.ToString().Contains("# ", StringComparison.Ordinal))
        {
            var read = await client.ReceiveAsync(buffer, timeout.Token);
            if (read.MessageType == WebSocketMessageType.Close)
            {
                throw new InvalidOperationException($"ttyd on port {port} closed the connection before the prompt: {screen}");
            }

            if (read.Count > 0 && buffer[0] == (byte)'0')
            {
                screen.Append(Encoding.UTF8.GetString(buffer, 1, read.Count - 1));
            }
        }

        return (client, watch.Elapsed.TotalMilliseconds);
    }

    internal static async Task CloseAsync(ClientWebSocket client)
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(5));
        try
        {
            await client.CloseOutputAsync(WebSocketCloseStatus.NormalClosure, null, timeout.Token);
        }
        catch (Exception e) when (e is WebSocketException or OperationCanceledException)
        {
        }

        client.Dispose();
    }

    private static Process StartSeed(string seedDir, int start, int end)
    {
        var script = Path.GetFullPath("benchmarks/seed/seed_sessions.py");
        var info = new ProcessStartInfo("/usr/bin/python3") { RedirectStandardInput = true, RedirectStandardOutput = true, UseShellExecute = false };
        foreach (var a in new[] { script, seedDir, start.ToString(Inv), end.ToString(Inv) })
        {
            info.ArgumentList.Add(a);
        }

        info.Environment["TTYD"] = BenchHarness.TtydPath;
        return Process.Start(info)!;
    }

    private static async Task<(int Port, int Pid)> EnsureSeedAsync(Process seed, string container)
    {
        await seed.StandardInput.WriteLineAsync($"ensure {container}");
        await seed.StandardInput.FlushAsync();
        var answer = (await seed.StandardOutput.ReadLineAsync())!.Split(' ');
        return (int.Parse(answer[0], Inv), int.Parse(answer[1], Inv));
    }

    private static async Task SeedCleanupAsync(Process seed)
    {
        await seed.StandardInput.WriteLineAsync("cleanup");
        await seed.StandardInput.FlushAsync();
        _ = await seed.StandardOutput.ReadLineAsync();
    }

    // A process and all its descendants (the seed's ttyd and the docker exec client of each connection).
    private static List<int> TreeOf(int root)
    {
        var parents = new Dictionary<int, int>();
        foreach (var dir in Directory.EnumerateDirectories("/proc"))
        {
            if (int.TryParse(Path.GetFileName(dir), out var pid))
            {
                try
                {
                    var stat = File.ReadAllText($"{dir}/stat");
                    parents[pid] = int.Parse(stat[(stat.LastIndexOf(')') + 2)..].Split(' ')[1], Inv);
                }
                catch (IOException)
                {
                }
            }
        }

        var tree = new List<int> { root };
        for (var i = 0; i < tree.Count; i++)
        {
            tree.AddRange(parents.Where(p => p.Value == tree[i]).Select(p => p.Key));
        }

        return tree;
    }

    private static void Print(string name, List<double> ms)
    {
        var sorted = ms.Order().ToList();
        Console.WriteLine(string.Create(Inv, $"{name,-58} min {sorted[0],6:F1}  median {Median(ms),6:F1}  max {sorted[^1],6:F1} ms"));
    }

    private static double Median(List<double> values) => Scenarios.Median(values);

    private static long Pss(int pid) => PersistenceScenario.Pss(pid);

    private static void Run(string file, params string[] arguments) => PersistenceScenario.Run(file, arguments);
}
