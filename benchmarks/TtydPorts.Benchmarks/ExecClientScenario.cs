using System.Diagnostics;
using System.Globalization;
using System.Net.WebSockets;
using System.Text;
using Microsoft.Extensions.DependencyInjection;

namespace TtydPorts.Benchmarks;

/// <summary>
/// The docker CLI against the Engine API exec client (<c>ttydports-exec</c>, <see cref="TtydSessionOptions.ExecClientPath"/>)
/// as what opens each terminal's shell, side by side in one run over real ttyd, tmux and Docker: the cold first prompt
/// (ours: from <c>EnsureSessionAsync</c> on a node without a session to the prompt on screen; raw: a ttyd already
/// listening, from the WebSocket connect to the prompt, so the exec alone), interleaved round by round; then host PSS
/// (/proc/PID/smaps_rollup) per connected terminal with N nodes each holding one connected client, with and without
/// persistent shells, summed over every host process of the sessions and broken down by process. Prints figures only.
/// </summary>
internal static class ExecClientScenario
{
    private static readonly CultureInfo Inv = CultureInfo.InvariantCulture;

    public static async Task<int> RunAsync(int rounds, int start, int end, string execClient, string docker, int[] counts)
    {
        if (!File.Exists(execClient))
        {
            await Console.Error.WriteLineAsync($"the exec client {execClient} is missing (scripts/install-exec-client.sh builds it)");
            return 2;
        }

        var containers = Enumerable.Range(0, Math.Max(rounds, counts.Max())).Select(i => $"tp-bench-exec-{Environment.ProcessId}-{i}").ToArray();
        foreach (var name in containers)
        {
            PersistenceScenario.Run(docker, "run", "-d", "--name", name, "--label", "ttydports.test=1", "--network", "none", "ttydports/busybox:test", "sleep", "3600");
        }

        var half = start + (end - start) / 2;
        try
        {
            // Cold first prompt, the four variants interleaved per round so that the machine's load hits them alike.
            var times = new Dictionary<string, List<double>> { ["ours, docker CLI"] = [], ["ours, ttydports-exec"] = [], ["raw ttyd + docker exec"] = [], ["raw ttyd + ttydports-exec"] = [] };
            var ensures = new Dictionary<string, List<double>> { ["ours, docker CLI"] = [], ["ours, ttydports-exec"] = [] };
            await WithManagerAsync(start, half, persistent: true, null, docker, async (cli, _) =>
                await WithManagerAsync(half + 1, end, persistent: true, execClient, docker, async (fast, _) =>
                {
                    for (var round = 0; round < rounds; round++)
                    {
                        var container = containers[round];
                        foreach (var (name, manager) in new[] { ("ours, docker CLI", cli), ("ours, ttydports-exec", fast) })
                        {
                            var (total, ensure) = await OursColdAsync(manager, container);
                            times[name].Add(total);
                            ensures[name].Add(ensure);
                        }

                        times["raw ttyd + docker exec"].Add(await RawAsync(end + 100 + 2 * round, [docker, "exec", "-it", container, "/bin/sh"]));
                        var id = Inspect(docker, container);
                        times["raw ttyd + ttydports-exec"].Add(await RawAsync(end + 101 + 2 * round, [execClient, "--socket", "/var/run/docker.sock", id, "--", "/bin/sh"]));
                    }
                }));

            Console.WriteLine($"cold first prompt, {rounds} rounds (ours: EnsureSessionAsync on a node without a session -> prompt; raw: WebSocket connect -> prompt)");
            foreach (var (name, ms) in times)
            {
                var sorted = ms.Order().ToList();
                var ensure = ensures.TryGetValue(name, out var e) ? string.Create(Inv, $"   (of which EnsureSessionAsync: median {Scenarios.Median(e):F1} ms)") : "";
                Console.WriteLine(string.Create(Inv, $"  {name,-28} min {sorted[0],7:F1}  median {Scenarios.Median(ms),7:F1}  max {sorted[^1],7:F1} ms{ensure}"));
            }

            Console.WriteLine(string.Create(Inv,
                $"  ratio (median) ours exec/cli {Scenarios.Median(times["ours, ttydports-exec"]) / Scenarios.Median(times["ours, docker CLI"]):F3}, raw exec/cli {Scenarios.Median(times["raw ttyd + ttydports-exec"]) / Scenarios.Median(times["raw ttyd + docker exec"]):F3}"));

            Console.WriteLine("host PSS per connected terminal: N nodes, one connected client each (every host process of the sessions / N)");
            foreach (var persistent in new[] { true, false })
            {
                foreach (var n in counts)
                {
                    var cli = await MemoryAsync(start, half, persistent, null, docker, containers[..n]);
                    var fast = await MemoryAsync(half + 1, end, persistent, execClient, docker, containers[..n]);
                    Console.WriteLine(string.Create(Inv,
                        $"  persistent={persistent,-5} N={n,-3} docker CLI {Mib(cli.Values.Sum()) / n,6:F2} MiB   ttydports-exec {Mib(fast.Values.Sum()) / n,6:F2} MiB   cli/exec {(double)cli.Values.Sum() / fast.Values.Sum(),5:F2}   " +
                        $"terminals per 24 GiB: {24 * 1024 / (Mib(cli.Values.Sum()) / n),7:F0} vs {24 * 1024 / (Mib(fast.Values.Sum()) / n),7:F0}"));
                    Console.WriteLine($"      by process, docker CLI: {Breakdown(cli, n)}");
                    Console.WriteLine($"      by process, ttydports-exec: {Breakdown(fast, n)}");
                }
            }

            return 0;
        }
        finally
        {
            PersistenceScenario.Run(docker, ["rm", "-f", .. containers]);
        }
    }

    private static double Mib(long kb) => kb / 1024.0;

    private static string Breakdown(Dictionary<string, long> byKind, int n) =>
        string.Join(", ", byKind.OrderByDescending(k => k.Value).Select(k => string.Create(Inv, $"{k.Key} {Mib(k.Value) / n:F2}")));

    private static async Task<(double Total, double Ensure)> OursColdAsync(ITtydSessionManager manager, string container)
    {
        var watch = Stopwatch.StartNew();
        var session = (await manager.EnsureSessionAsync(container, "bench"))!;
        var ensure = watch.Elapsed.TotalMilliseconds;
        var client = await PromptAsync(session.Port, session.Credential);
        var ms = watch.Elapsed.TotalMilliseconds;
        await CloseAsync(client);
        await manager.CleanupUserAsync("bench");
        return (ms, ensure);
    }

    private static async Task<double> RawAsync(int port, string[] command)
    {
        var pid = RawTtyd.Start(port, command, TimeSpan.FromSeconds(10));
        try
        {
            var watch = Stopwatch.StartNew();
            var client = await PromptAsync(port, null);
            var ms = watch.Elapsed.TotalMilliseconds;
            await CloseAsync(client);
            return ms;
        }
        finally
        {
            RawTtyd.Stop(pid);
        }
    }

    // N sessions, one connected client each at its prompt; the PSS (KiB) of every process of the instance, by kind.
    private static async Task<Dictionary<string, long>> MemoryAsync(int start, int end, bool persistent, string? execClient, string docker, string[] containers)
    {
        var byKind = new Dictionary<string, long>();
        await WithManagerAsync(start, end, persistent, execClient, docker, async (manager, processes) =>
        {
            var clients = new List<ClientWebSocket>();
            try
            {
                foreach (var container in containers)
                {
                    var session = (await manager.EnsureSessionAsync(container, "bench"))!;
                    clients.Add(await PromptAsync(session.Port, session.Credential));
                }

                foreach (var pid in processes())
                {
                    var kind = Kind(pid);
                    byKind[kind] = byKind.GetValueOrDefault(kind) + PersistenceScenario.Pss(pid);
                }
            }
            finally
            {
                foreach (var client in clients)
                {
                    await CloseAsync(client);
                }
            }
        });
        return byKind;
    }

    private static string Kind(int pid)
    {
        try
        {
            // A tmux client is ttyd's child; the server daemonized away from it.
            var comm = File.ReadAllText($"/proc/{pid}/comm").Trim();
            var stat = File.ReadAllText($"/proc/{pid}/stat");
            var parent = stat[(stat.LastIndexOf(')') + 2)..].Split(' ')[1];
            return !comm.StartsWith("tmux", StringComparison.Ordinal) ? comm
                : File.ReadAllText($"/proc/{parent}/comm").Trim() == "ttyd" ? "tmux client" : "tmux server";
        }
        catch (IOException)
        {
            return "gone";
        }
    }

    private static async Task WithManagerAsync(int start, int end, bool persistent, string? execClient, string docker, Func<ITtydSessionManager, Func<IEnumerable<int>>, Task> body)
    {
        var instance = $"bench-exec-{Guid.NewGuid().ToString("N")[..8]}";
        await using var provider = new ServiceCollection().AddTtydSessions(o =>
        {
            o.PortRangeStart = start;
            o.PortRangeEnd = end;
            o.InstanceName = instance;
            o.RuntimeDirectory = Path.Combine(Path.GetTempPath(), instance);
            o.PersistentShells = persistent;
            o.ExecClientPath = execClient;
            o.DockerPath = docker;
            o.PortCooldown = TimeSpan.Zero;
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

    private static string Inspect(string docker, string container)
    {
        var start = new ProcessStartInfo(docker) { RedirectStandardOutput = true };
        foreach (var a in new[] { "inspect", "-f", "{{.Id}}", container })
        {
            start.ArgumentList.Add(a);
        }

        using var process = Process.Start(start)!;
        var id = process.StandardOutput.ReadToEnd().Trim();
        process.WaitForExit();
        return id;
    }

    // From the WebSocket connect to the prompt ("# ") on screen, as the first-prompt scenario measures it; the client stays connected.
    private static async Task<ClientWebSocket> PromptAsync(int port, TtydCredential? credential) =>
        (await FirstPromptScenario.PromptAsync(port, credential)).Client;

    private static Task CloseAsync(ClientWebSocket client) => FirstPromptScenario.CloseAsync(client);
}
