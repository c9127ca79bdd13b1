using System.Globalization;

namespace TtydPorts.Benchmarks;

/// <summary>
/// What a connected terminal costs the proxy host itself, with the library's relay and with YARP: the host (the echo
/// benchmark's proxy host, in a process of its own) ensures N sessions over N busybox containers (persistent shells
/// off); its PSS (/proc/PID/smaps_rollup) and thread count are read with no browser connected, then with one WebSocket
/// client per terminal connected, each at its prompt and reading (so ttyd's pings are answered). ttyd and the
/// container's exec are outside the host and not counted here (see the exec-client scenario). Prints figures only.
/// </summary>
internal static class RelayMemoryScenario
{
    private static readonly CultureInfo Inv = CultureInfo.InvariantCulture;

    public static async Task<int> RunAsync(int terminals, string docker)
    {
        var containers = Enumerable.Range(0, terminals).Select(i => $"tp-bench-relay-{Environment.ProcessId}-{i}").ToArray();
        foreach (var name in containers)
        {
            PersistenceScenario.Run(docker, "run", "-d", "--name", name, "--label", "ttydports.test=1", "--network", "none", "ttydports/busybox:test", "sleep", "3600");
        }

        try
        {
            Console.WriteLine($"{terminals} terminals, one client each; machine load {File.ReadAllText("/proc/loadavg").Trim()}");
            foreach (var relay in new[] { true, false, true, false })
            {
                await MeasureAsync(relay, containers, docker);
            }

            return 0;
        }
        finally
        {
            foreach (var name in containers)
            {
                PersistenceScenario.Run(docker, "rm", "-f", name);
            }
        }
    }

    private static async Task MeasureAsync(bool relay, string[] containers, string docker)
    {
        using var host = EchoScenario.ProxyProcess.Start(persistent: false, docker, string.Join(',', containers), relay);
        var address = await host.AddressAsync();
        var (idlePss, idleThreads) = Sample(host.ProcessId);
        var connected = new List<EchoScenario.Terminal>();
        var readers = new List<Task>();
        try
        {
            foreach (var container in containers)
            {
                var terminal = await EchoScenario.Terminal.ProxyAsync(address, container);
                connected.Add(terminal);
                await terminal.WaitForAsync("# ");
                readers.Add(terminal.WaitForAsync("never printed")); // keeps a receive pending, as a browser does
            }

            await Task.Delay(1000); // let the last connections settle before reading memory
            var (busyPss, busyThreads) = Sample(host.ProcessId);
            var n = containers.Length;
            Console.WriteLine(string.Create(Inv,
                $"  {(relay ? "relay" : "yarp "),-5}  host PSS idle {idlePss / 1024.0,7:F1} MiB, connected {busyPss / 1024.0,7:F1} MiB: {(busyPss - idlePss) / (double)n,7:F1} KiB per connected terminal; threads {idleThreads} -> {busyThreads}"));
        }
        finally
        {
            foreach (var terminal in connected)
            {
                await terminal.DisposeAsync();
            }

            await Task.WhenAll(readers.Select(r => r.ContinueWith(_ => { }, TaskScheduler.Default)));
            await host.StopAsync();
        }
    }

    // PSS in KiB and thread count, each the median of three reads 200 ms apart.
    private static (long Pss, int Threads) Sample(int pid)
    {
        var pss = new List<long>();
        var threads = new List<int>();
        for (var i = 0; i < 3; i++)
        {
            pss.Add(PersistenceScenario.Pss(pid));
            threads.Add(Directory.GetDirectories($"/proc/{pid}/task").Length);
            Thread.Sleep(200);
        }

        return (pss.Order().ElementAt(1), threads.Order().ElementAt(1));
    }
}
