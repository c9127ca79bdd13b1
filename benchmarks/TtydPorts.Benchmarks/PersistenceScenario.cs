using System.Diagnostics;
using System.Globalization;
using System.Net.WebSockets;
using System.Text;
using Microsoft.Extensions.DependencyInjection;

namespace TtydPorts.Benchmarks;

/// <summary>
/// Persistent shells against shells that end with their page, over real ttyd, tmux and Docker: host memory per connected
/// session (PSS of every host process carrying the session's markers: ttyd, tmux client and server, the docker exec
/// client; from /proc/PID/smaps_rollup) and time from the WebSocket hello to the first prompt. Prints figures only.
/// </summary>
internal static class PersistenceScenario
{
    public static async Task<int> RunAsync(int sessions, int start, int end)
    {
        var containers = Enumerable.Range(0, sessions).Select(i => $"tp-bench-persist-{Environment.ProcessId}-{i}").ToArray();
        foreach (var name in containers)
        {
            Run("docker", "run", "-d", "--name", name, "--label", "ttydports.test=1", "--network", "none", "ttydports/busybox:test", "sleep", "3600");
        }

        try
        {
            Console.WriteLine($"{sessions} sessions per mode, one connected client each");
            foreach (var persistent in new[] { false, true })
            {
                var instance = $"bench-persist-{Guid.NewGuid().ToString("N")[..8]}";
                await using var provider = new ServiceCollection().AddTtydSessions(o =>
                {
                    o.PortRangeStart = start;
                    o.PortRangeEnd = end;
                    o.InstanceName = instance;
                    o.RuntimeDirectory = Path.Combine(Path.GetTempPath(), instance);
                    o.PersistentShells = persistent;
                }).Services.BuildServiceProvider();
                var manager = provider.GetRequiredService<ITtydSessionManager>();
                var supervisor = provider.GetRequiredService<IProcessSupervisor>();
                var clients = new List<ClientWebSocket>();
                var prompts = new List<double>();
                try
                {
                    foreach (var container in containers)
                    {
                        var session = (await manager.EnsureSessionAsync(container, "bench"))!;
                        var (client, elapsed) = await FirstPromptAsync(session);
                        clients.Add(client);
                        prompts.Add(elapsed.TotalMilliseconds);
                    }

                    var pss = supervisor.FindMarkedProcesses("TTYDPORTS_", "TTYDPORTS_INSTANCE", instance).Sum(p => Pss(p.Process.ProcessId));
                    prompts.Sort();
                    Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                        $"persistent={persistent,-5}  host PSS per session {pss / 1024.0 / sessions:F1} MiB  first prompt median {prompts[prompts.Count / 2]:F0} ms (min {prompts[0]:F0}, max {prompts[^1]:F0})"));
                }
                finally
                {
                    foreach (var client in clients)
                    {
                        client.Abort();
                        client.Dispose();
                    }

                    await manager.CleanupAllAsync();
                    Directory.Delete(Path.Combine(Path.GetTempPath(), instance), recursive: true);
                }
            }

            return 0;
        }
        finally
        {
            Run("docker", ["rm", "-f", .. containers]);
        }
    }

    private static async Task<(ClientWebSocket Client, TimeSpan Elapsed)> FirstPromptAsync(TtydSession session)
    {
        var client = new ClientWebSocket();
        client.Options.AddSubProtocol("tty");
        client.Options.SetRequestHeader("Authorization", session.Credential!.AuthorizationHeaderValue);
        client.Options.SetRequestHeader("Origin", $"http://127.0.0.1:{session.Port}");
        await client.ConnectAsync(new Uri($"ws://127.0.0.1:{session.Port}/ws"), CancellationToken.None);
        var token = Convert.ToBase64String(Encoding.UTF8.GetBytes($"{session.Credential.UserName}:{session.Credential.Password}"));
        var watch = Stopwatch.StartNew();
        await client.SendAsync(Encoding.UTF8.GetBytes($"{{\"AuthToken\":\"{token}\",\"columns\":80,\"rows\":24}}"), WebSocketMessageType.Binary, true, CancellationToken.None);
        var buffer = new byte[65536];
        var screen = new StringBuilder();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        while (!screen.ToString().Contains('#', StringComparison.Ordinal))
        {
            var read = await client.ReceiveAsync(buffer, timeout.Token);
            if (read.Count > 0 && buffer[0] == (byte)'0')
            {
                screen.Append(Encoding.UTF8.GetString(buffer, 1, read.Count - 1));
            }
        }

        return (client, watch.Elapsed);
    }

    // Proportional set size in KiB: shared pages split between the processes that map them.
    internal static long Pss(int pid)
    {
        try
        {
            var line = File.ReadLines($"/proc/{pid}/smaps_rollup").FirstOrDefault(l => l.StartsWith("Pss:", StringComparison.Ordinal));
            return line is null ? 0 : long.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], CultureInfo.InvariantCulture);
        }
        catch (IOException)
        {
            return 0;
        }
    }

    internal static void Run(string file, params string[] arguments)
    {
        var start = new ProcessStartInfo(file) { RedirectStandardOutput = true, RedirectStandardError = true };
        arguments.ToList().ForEach(start.ArgumentList.Add);
        using var process = Process.Start(start)!;
        process.WaitForExit();
    }
}
