using System.Diagnostics;
using System.Globalization;
using System.Net;
using Microsoft.Extensions.DependencyInjection;

namespace TtydPorts.Benchmarks;

/// <summary>
/// Issue 16's create target as the issue puts it: ours = <c>EnsureSessionAsync</c> for a container without a session, with
/// the real Docker runtime (one Engine API inspect per create), against the baseline = that same inspect
/// (<c>GET /containers/NAME/json</c> over the engine's socket, through its own warm client) followed by a raw ttyd start
/// (<see cref="RawTtyd"/>: posix_spawnp, then a connect every 1 ms until it accepts). A second baseline polls every
/// 0.1 ms, a stricter floor. Direct (TCP) mode, persistent shells off then on; the three are interleaved round by round
/// (order rotated) after a warm-up, on the same real containers. With persistent shells, whether the tmux server
/// already existed when create returned is counted (the shell is started in the background, not inside create).
/// Then the steps of ours timed one by one, outside any create. Prints figures only.
/// </summary>
internal static class CreateCheckScenario
{
    private static readonly CultureInfo Inv = CultureInfo.InvariantCulture;
    private const string Image = "ttydports/busybox:test";

    public static async Task<int> RunAsync(int rounds, int warmup, int start, int end, string modes, uint? tick, int? inline, bool sockets = false)
    {
        var inlineWaits = typeof(LinuxProcessSupervisor).GetProperty("MaxInlineWaits", System.Reflection.BindingFlags.NonPublic | System.Reflection.BindingFlags.Static);
        if (inline is { } n)
        {
            inlineWaits?.SetValue(null, n);
        }

        Console.WriteLine($"inline readiness waits: {inlineWaits?.GetValue(null) ?? "none (ticker only)"}");
        // Through reflection, so that this file also builds against a library from before the property existed.
        var interval = typeof(LinuxProcessSupervisor).GetProperty("ReadinessInterval", System.Reflection.BindingFlags.NonPublic | System.Reflection.BindingFlags.Static);
        if (tick is { } us)
        {
            interval?.SetValue(null, us);
        }

        Console.WriteLine($"readiness tick: {interval?.GetValue(null) ?? "500 (fixed)"} us");
        if (BenchHarness.ListeningPorts(start, end) is { Count: > 0 } busy)
        {
            await Console.Error.WriteLineAsync($"create-check: aborted: something listens on {busy.Count} port(s) of {start}-{end}");
            return 2;
        }

        var containers = Enumerable.Range(0, 4).Select(i => $"tp-bench-create-{Environment.ProcessId}-{i}").ToArray();
        foreach (var name in containers)
        {
            PersistenceScenario.Run("docker", "run", "-d", "--name", name, "--label", "ttydports.bench=1", "--network", "none", Image, "sleep", "3600");
        }

        try
        {
            Console.WriteLine(string.Create(Inv, $"create with the container check: {rounds} rounds per mode after {warmup} of warm-up; ports {start}-{end}; load {File.ReadAllText("/proc/loadavg").Trim()}"));
            foreach (var persistent in modes.Split(',').Select(m => m == "persistent"))
            {
                await RunModeAsync(persistent, containers, rounds, warmup, start, end, sockets);
            }

            return 0;
        }
        finally
        {
            PersistenceScenario.Run("docker", ["rm", "-f", .. containers]);
        }
    }

    // Through reflection (benchmark only): the manager's remembered answers, cleared as if no create had seen the containers.
    private static void ForgetGuesses(ITtydSessionManager manager)
    {
        var recent = manager.GetType().GetField("_recent", System.Reflection.BindingFlags.NonPublic | System.Reflection.BindingFlags.Instance)?.GetValue(manager)
            ?? throw new InvalidOperationException("the manager keeps no guesses");
        ((System.Collections.IDictionary)recent.GetType().GetField("_byName", System.Reflection.BindingFlags.NonPublic | System.Reflection.BindingFlags.Instance)!.GetValue(recent)!).Clear();
    }

    private static async Task RunModeAsync(bool persistent, string[] containers, int rounds, int warmup, int start, int end, bool sockets)
    {
        var mid = start + ((end - start + 1) / 2);
        var instance = $"bench-create-{Guid.NewGuid().ToString("N")[..8]}";
        // Beside the manager's default folder (/run/ttydports for root, else $XDG_RUNTIME_DIR/ttydports: a tmpfs), as a host has it.
        var folder = Path.Combine(Path.GetDirectoryName(RuntimeFolder.DefaultPath())!, "ttydports-" + instance);
        await using var provider = new ServiceCollection().AddTtydSessions(o =>
        {
            o.PortRangeStart = start;
            o.PortRangeEnd = mid - 1;
            o.InstanceName = instance;
            o.RuntimeDirectory = folder;
            o.StopGracePeriod = TimeSpan.FromSeconds(2);
            o.TtydPath = BenchHarness.TtydPath;
            o.PersistentShells = persistent;
            o.ListenMode = sockets ? TtydListenMode.UnixSocket : TtydListenMode.Tcp;
        }).Services.BuildServiceProvider();
        var rawFolder = Directory.CreateDirectory(folder + "-raw").FullName; // the raw ttyd's sockets, on the same tmpfs
        var manager = provider.GetRequiredService<ITtydSessionManager>();
        var runtime = (EngineRuntime)provider.GetRequiredService<IContainerRuntime>();
        using var api = new EngineApiClient(runtime.Api.Endpoint, "docker"); // the baseline's own warm client
        var ours = new List<double>();
        var oursFirst = new List<double>();
        var raw = new List<double>();
        var rawFine = new List<double>();
        var check = new List<double>();
        var allocated = new List<double>();
        var shellUpAtReturn = 0;
        var rawPort = mid;
        var first = 0.0;
        try
        {
            _ = manager.GetStatus();
            for (var r = 0; r < warmup + rounds; r++)
            {
                var container = containers[r % containers.Length];
                var measured = r >= warmup;
                if (r == warmup / 2 || r == warmup)
                {
                    // Tiered compilation recompiles hot methods in the background once calls have been counted and
                    // nothing new was compiled for a while: let it finish rather than compete with the timed rounds.
                    await Task.Delay(1500);
                }

                for (var k = 0; k < 4; k++)
                {
                    switch ((r + k) % 4)
                    {
                        case 0:
                        case 3:
                        {
                            // Case 3: the same create without a guess (the manager's remembered answers forgotten first, as
                            // for a container's first create): the path every create took before guesses.
                            var guessless = (r + k) % 4 == 3;
                            if (guessless)
                            {
                                ForgetGuesses(manager);
                            }

                            var before = GC.GetTotalAllocatedBytes(precise: false);
                            var t = Stopwatch.GetTimestamp();
                            _ = await manager.EnsureSessionAsync(container, "bench") ?? throw new InvalidOperationException("no port");
                            var ms = Stopwatch.GetElapsedTime(t).TotalMilliseconds;
                            var shellUp = persistent && Directory.EnumerateFiles(folder, "*.tmux").Any();
                            var bytes = GC.GetTotalAllocatedBytes(precise: false) - before;
                            if (r == 0)
                            {
                                first = ms;
                            }

                            if (measured && guessless)
                            {
                                oursFirst.Add(ms);
                            }
                            else if (measured)
                            {
                                ours.Add(ms);
                                allocated.Add(bytes);
                                shellUpAtReturn += shellUp ? 1 : 0;
                            }

                            if (persistent)
                            {
                                await Task.Delay(300); // the shell's start in the background ends before anything else is timed
                            }

                            _ = await manager.DeleteNodeAsync(container);
                            break;
                        }

                        case 1:
                        case 2:
                        {
                            var fine = (r + k) % 4 == 2;
                            rawPort = rawPort >= end ? mid : rawPort + 1;
                            var t = Stopwatch.GetTimestamp();
                            var info = await api.GetContainerAsync(container, CancellationToken.None);
                            if (info is not { IsRunning: true } || !SessionIds.IsValidContainerId(info.Id))
                            {
                                throw new InvalidOperationException($"{container} is not running");
                            }

                            var checkMs = Stopwatch.GetElapsedTime(t).TotalMilliseconds;
                            var pid = sockets
                                ? RawTtyd.StartOnSocket(Path.Combine(rawFolder, $"raw-{rawPort}.sock"), ["docker", "exec", "-it", info.Id, "/bin/sh"], TimeSpan.FromSeconds(10), fine ? 100u : 0u)
                                : RawTtyd.Start(rawPort, ["docker", "exec", "-it", info.Id, "/bin/sh"], TimeSpan.FromSeconds(10), fine ? 100u : 0u);
                            var ms = Stopwatch.GetElapsedTime(t).TotalMilliseconds;
                            RawTtyd.Stop(pid);
                            if (measured)
                            {
                                (fine ? rawFine : raw).Add(ms);
                                check.Add(checkMs);
                            }

                            break;
                        }
                    }

                    await Task.Delay(20);
                }
            }

            var steps = await StepsAsync(provider, runtime, containers[0], folder, instance, mid, end);
            var mode = persistent ? "persistent shells ON (tmux)" : "persistent shells OFF";
            Console.WriteLine(sockets ? $"--- socket (proxy) mode, {mode}" : $"--- direct (TCP) mode, {mode}");
            Line("ours: EnsureSessionAsync, new session, Docker runtime", ours);
            Line("ours without a guess (a container's first create)", oursFirst);
            Line("raw: inspect + ttyd start, 1 ms poll (baseline)", raw);
            Line("raw: inspect + ttyd start, 0.1 ms poll", rawFine);
            Line("  of which the inspect (baseline's client)", check);
            Console.WriteLine(string.Create(Inv, $"ratio ours/raw (1 ms poll): median {Scenarios.Median(ours) / Scenarios.Median(raw):F3}, min {ours.Min() / raw.Min():F3}"));
            Console.WriteLine(string.Create(Inv, $"ratio ours/raw (0.1 ms poll): median {Scenarios.Median(ours) / Scenarios.Median(rawFine):F3}, min {ours.Min() / rawFine.Min():F3}"));
            Console.WriteLine(string.Create(Inv, $"ratio ours without a guess/raw (1 ms poll): median {Scenarios.Median(oursFirst) / Scenarios.Median(raw):F3}, min {oursFirst.Min() / raw.Min():F3}"));
            Console.WriteLine(string.Create(Inv, $"first create of the process (API version asked, connection opened, code compiled): {first:F3} ms"));
            Console.WriteLine(string.Create(Inv, $"allocated per create (process-wide, median): {Scenarios.Median(allocated):F0} B"));
            if (persistent)
            {
                Console.WriteLine($"tmux server already up when create returned: {shellUpAtReturn} of {ours.Count} (0 = the shell starts after create, in the background)");
            }

            Console.WriteLine("steps of ours, each timed alone (min us of N calls; posix_spawn: median of 20):");
            foreach (var (name, us) in steps)
            {
                Console.WriteLine(string.Create(Inv, $"  {name,-60} {us,9:F1}"));
            }
        }
        finally
        {
            _ = await manager.CleanupAllAsync();
            if (Directory.Exists(folder))
            {
                Directory.Delete(folder, recursive: true);
            }

            Directory.Delete(rawFolder, recursive: true);
        }
    }

    private static readonly System.Reflection.MethodInfo AcceptsMethod = typeof(LinuxProcessSupervisor).GetMethod("Accepts", System.Reflection.BindingFlags.NonPublic | System.Reflection.BindingFlags.Static, [typeof(EndPoint)])
        ?? typeof(LinuxProcessSupervisor).GetMethod("AcceptsForBench", System.Reflection.BindingFlags.NonPublic | System.Reflection.BindingFlags.Static)!;

    private static bool Accepts(EndPoint endpoint) => (bool)AcceptsMethod.Invoke(null, [endpoint])!;

    private static void Line(string name, List<double> ms) =>
        Console.WriteLine(string.Create(Inv, $"{name,-56} median {Scenarios.Median(ms),7:F3} ms  min {ms.Min(),7:F3}  p90 {P90(ms),7:F3}  n={ms.Count}"));

    private static double P90(List<double> values) => values.Order().ElementAt((int)Math.Min(values.Count - 1, Math.Ceiling(values.Count * 0.9) - 1));

    private static async Task<List<(string, double)>> StepsAsync(IServiceProvider provider, EngineRuntime runtime, string container, string folderPath, string instance, int port, int end)
    {
        var options = provider.GetRequiredService<Microsoft.Extensions.Options.IOptions<TtydSessionOptions>>().Value;
        var folder = new RuntimeFolder(folderPath, Native.geteuid());
        var launch = new TtydLaunchBuilder(options, folder.Path, runtime, Environment.GetEnvironmentVariable);
        var info = (await runtime.GetContainerAsync(container))!;
        var key = folder.GetOrCreateKey(instance);
        var ttyd = Native.ResolveExecutable(options.TtydPath) ?? options.TtydPath;
        var token = Guid.NewGuid().ToString("N");
        var planned = new TtydSession
        {
            Container = container, ContainerId = info.Id, UserId = "bench", Port = port, Address = IPAddress.Loopback, StartedAt = DateTimeOffset.UtcNow,
            Command = TerminalCommandResolver.Resolve(options, info.Labels, null).Command, Persistent = options.PersistentShells,
        };
        var tmux = options.PersistentShells ? Native.ResolveExecutable(options.TmuxPath) : null;
        var steps = new List<(string, double)>();

        double Us(int n, Action a)
        {
            for (var i = 0; i < 20; i++)
            {
                a();
            }

            var times = new List<double>();
            for (var i = 0; i < n; i++)
            {
                var t = Stopwatch.GetTimestamp();
                a();
                times.Add(Stopwatch.GetElapsedTime(t).TotalMicroseconds);
            }

            return times.Min(); // the work itself: on a shared VM the median carries every preemption
        }

        steps.Add(("container lookup (Engine API inspect, manager's client)", Us(100, () => _ = runtime.GetContainerAsync(container).GetAwaiter().GetResult())));
        steps.Add(("command resolution (labels, options)", Us(500, () => _ = TerminalCommandResolver.Resolve(options, info.Labels, null))));
        steps.Add(("folder check (lstat of it and its parents)", Us(500, () => _ = folder.Check(create: false))));
        steps.Add(("key read incl. folder check (GetOrCreateKey)", Us(500, () => _ = folder.GetOrCreateKey(instance))));
        steps.Add(("ttyd path resolution (PATH walk, realpath)", Us(500, () => _ = Native.ResolveExecutable(options.TtydPath))));
        steps.Add(("token (Guid) + session record", Us(500, () => _ = planned with { StartedAt = DateTimeOffset.UtcNow, SocketPath = Guid.NewGuid().ToString("N") })));
        steps.Add(("launch build incl. signed markers (HMAC)", Us(500, () => _ = launch.Build(planned, token, key, ttyd, folder.LogPath(token), tmux, tmux is null ? null : folder.TmuxSocketPath(token)))));
        var allocator = provider.GetRequiredService<IPortAllocator>();
        using (var probe = new ListenerProbe(IPAddress.Loopback))
        {
            steps.Add(("port probe (one failed-or-not bind)", Us(500, () => _ = probe.IsListening(port))));
        }

        // Against one live raw ttyd: spawn alone, pidfd, readiness connect, ownership (fds + sock_diag).
        var spawnTimes = new List<double>();
        var pids = new List<int>();
        for (var i = 0; i < 20; i++)
        {
            var t = Stopwatch.GetTimestamp();
            pids.Add(RawTtyd.SpawnOnly(port + 1 + i));
            spawnTimes.Add(Stopwatch.GetElapsedTime(t).TotalMicroseconds);
        }

        steps.Add(("posix_spawn alone (raw, 20 spawns)", Scenarios.Median(spawnTimes)));

        // The supervisor's spawn (session of its own, default signals, output to the log file), alternating with raw ones.
        var spawn = typeof(LinuxProcessSupervisor).GetMethod("Spawn", System.Reflection.BindingFlags.NonPublic | System.Reflection.BindingFlags.Static)!;
        var ours = new List<double>();
        var raws = new List<double>();
        for (var i = 0; i < 20; i++)
        {
            var spawnToken = Guid.NewGuid().ToString("N");
            var l = launch.Build(planned with { Port = port + 40 + i }, spawnToken, key, ttyd, folder.LogPath(spawnToken), tmux, tmux is null ? null : folder.TmuxSocketPath(spawnToken));
            int p = 0, q = 0;

            // Which goes first alternates: the first spawn after the previous round's stops runs colder.
            for (var k = 0; k < 2; k++)
            {
                var t = Stopwatch.GetTimestamp();
                if ((k == 0) == (i % 2 == 0))
                {
                    p = (int)spawn.Invoke(null, [l])!;
                    ours.Add(Stopwatch.GetElapsedTime(t).TotalMicroseconds);
                }
                else
                {
                    q = RawTtyd.SpawnOnly(port + 80 + i);
                    raws.Add(Stopwatch.GetElapsedTime(t).TotalMicroseconds);
                }
            }

            RawTtyd.Stop(p);
            RawTtyd.Stop(q);
            File.Delete(folder.LogPath(spawnToken));
        }

        steps.Add(("posix_spawn, supervisor's (alternating with raw; median)", Scenarios.Median(ours)));
        steps.Add(("posix_spawn, raw (alternating with the supervisor's; median)", Scenarios.Median(raws)));
        steps.Add(("posix_spawn, supervisor's (min)", ours.Min()));
        steps.Add(("posix_spawn, raw (min)", raws.Min()));
        var live = pids[^1];
        var livePort = port + 20;
        var deadline = Stopwatch.GetTimestamp();
        while (!await BenchHarness.AcceptsAsync(livePort) && Stopwatch.GetElapsedTime(deadline) < TimeSpan.FromSeconds(5))
        {
            await Task.Delay(5);
        }

        steps.Add(("pidfd_open + /proc/PID/stat read", Us(500, () =>
        {
            using var h = PidFd.Open(live);
            _ = ProcFs.ReadStat(live);
        })));
        steps.Add(("readiness connect, refused (closed port)", Us(500, () => _ = Accepts(new IPEndPoint(IPAddress.Loopback, end)))));
        steps.Add(("readiness connect, accepted (live ttyd)", Us(200, () => _ = Accepts(new IPEndPoint(IPAddress.Loopback, livePort)))));
        steps.Add(("ownership: socket inodes from /proc/PID/fd", Us(500, () => _ = ProcFs.ReadSocketInodes(live))));
        steps.Add(("ownership: sock_diag listeners on the port", Us(500, () => _ = SockDiag.FindListenerInodes(livePort))));
        steps.Add(("ownership check whole (OwnsListeningSocket)", Us(500, () => _ = ProcFs.OwnsListeningSocket(live, livePort))));
        Console.WriteLine($"sock_diag answer for the live ttyd's port: {SockDiag.FindListenerInodes(livePort)?.Count.ToString(Inv) ?? "null (fallback)"} inode(s) of {pids.Count} listening ttyd; owned: {ProcFs.OwnsListeningSocket(live, livePort)}");
        pids.ForEach(RawTtyd.Stop);
        _ = allocator;
        return steps;
    }
}
