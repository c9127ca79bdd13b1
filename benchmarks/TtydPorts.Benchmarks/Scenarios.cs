using System.Diagnostics;
using System.Globalization;
using System.Runtime.CompilerServices;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace TtydPorts.Benchmarks;

/// <summary>Scenario runs with a stopwatch, outside BenchmarkDotNet: the seed comparison and the whole-range scale run.</summary>
public static class Scenarios
{
    private static readonly CultureInfo Inv = CultureInfo.InvariantCulture;

    /// <summary>
    /// Our figures measured the way the seed's bench_seed.py measures its own (N sessions created one after the
    /// other, 5 reuse rounds, status, cleanup of all, races of 8 and 64 callers for one new container), plus a raw
    /// ttyd start for the create target; then the table against the seed's JSON.
    /// </summary>
    public static async Task<int> CompareAsync(int sessions, int start, int end, string? seedJson, string? outJson)
    {
        if (BenchHarness.ListeningPorts(start, end) is { Count: > 0 } busy)
        {
            await Console.Error.WriteLineAsync($"compare: aborted: something already listens on port(s) {string.Join(',', busy.Take(20))} of {start}-{end}").ConfigureAwait(false);
            return 2;
        }

        var ours = new JsonObject { ["n"] = sessions, ["port_range"] = new JsonArray(start, end) };
        await using (var h = new BenchHarness(start, end))
        {
            _ = h.Manager.GetStatus(); // adoption scan and JIT out of the way, as Python has none

            var creates = new List<double>(sessions);
            var total = Stopwatch.StartNew();
            for (var i = 0; i < sessions; i++)
            {
                var t = Stopwatch.GetTimestamp();
                _ = await h.Manager.EnsureSessionAsync($"node{i}", "bench", "bench-topology") ?? throw new InvalidOperationException("no free port");
                creates.Add(Stopwatch.GetElapsedTime(t).TotalMilliseconds);
            }

            ours["create_total_s"] = total.Elapsed.TotalSeconds;
            ours["create_median_ms"] = Median(creates);

            var reuse = new List<double>(sessions * 5);
            for (var r = 0; r < 5; r++)
            {
                for (var i = 0; i < sessions; i++)
                {
                    var t = Stopwatch.GetTimestamp();
                    _ = await h.Manager.EnsureSessionAsync($"node{i}", "bench", "bench-topology");
                    reuse.Add(Stopwatch.GetElapsedTime(t).TotalMicroseconds);
                }
            }

            ours["reuse_median_us"] = Median(reuse);

            var status = new List<double>();
            for (var r = 0; r < 101; r++)
            {
                var t = Stopwatch.GetTimestamp();
                var s = h.Manager.GetStatus();
                status.Add(Stopwatch.GetElapsedTime(t).TotalMilliseconds);
                if (s.ActiveSessions != sessions)
                {
                    throw new InvalidOperationException($"status reports {s.ActiveSessions} active sessions, expected {sessions}");
                }
            }

            ours["status_ms"] = Median(status);

            var c = Stopwatch.StartNew();
            var cleaned = await h.Manager.CleanupAllAsync();
            ours["cleanup_all_s"] = c.Elapsed.TotalSeconds;
            ours["cleanup_stopped"] = cleaned.Stopped.Count;

            foreach (var callers in new[] { 8, 64 })
            {
                var container = $"racer{callers}";
                var before = h.Supervisor.Started;
                var go = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
                var calls = Enumerable.Range(0, callers).Select(_ => Task.Run(async () =>
                {
                    await go.Task;
                    return await h.Manager.EnsureSessionAsync(container, "bench", "bench-topology");
                })).ToArray();
                go.SetResult();
                var results = await Task.WhenAll(calls);
                ours[$"race{callers}_processes_started"] = h.Supervisor.Started - before;
                ours[$"race{callers}_processes_running_after"] = h.RunningTtyds().Count(d => d.Session.Container == container);
                ours[$"race{callers}_distinct_sessions_returned"] = results.Select(r => r?.ProcessId).Distinct().Count();
                _ = await h.Manager.DeleteNodeAsync(container);
            }

            // Raw ttyd starts, one after the other, kept running like the sessions above, then stopped.
            var raw = new List<double>(sessions);
            var pids = new List<int>(sessions);
            try
            {
                for (var i = 0; i < sessions; i++)
                {
                    var t = Stopwatch.GetTimestamp();
                    pids.Add(RawTtyd.Start(start + (i % (end - start + 1)), $"raw{i}", TimeSpan.FromSeconds(10)));
                    raw.Add(Stopwatch.GetElapsedTime(t).TotalMilliseconds);
                }
            }
            finally
            {
                pids.ForEach(RawTtyd.Stop);
            }

            ours["raw_ttyd_start_median_ms"] = Median(raw);
            ours["leaked_processes"] = h.RunningTtyds().Count;
        }

        var oursText = ours.ToJsonString();
        Console.WriteLine("ours: " + oursText);
        if (outJson is not null)
        {
            await File.WriteAllTextAsync(outJson, oursText).ConfigureAwait(false);
        }

        if (seedJson is null)
        {
            return 0;
        }

        var seed = JsonNode.Parse(await File.ReadAllTextAsync(seedJson).ConfigureAwait(false))!.AsObject();
        Console.WriteLine();
        Console.WriteLine($"Seed (Python + psutil) vs TtydPorts, {sessions} live sessions, ports {start}-{end}, same machine, one run");
        Console.WriteLine($"{"figure",-44} {"seed",14} {"ours",14} {"ratio",16}");
        Row("reuse, median per call (us)", D(seed, "reuse_median_us"), D(ours, "reuse_median_us"), "seed/ours");
        Row("status, one call (ms; ours: median of 101)", D(seed, "status_ms"), D(ours, "status_ms"), "seed/ours");
        Row("create, median per session (ms)", D(seed, "create_median_ms"), D(ours, "create_median_ms"), "seed/ours");
        Row("cleanup of all sessions (s)", D(seed, "cleanup_all_s"), D(ours, "cleanup_all_s"), "seed/ours");
        Row("processes started, 8 callers, 1 container", D(seed, "race8_processes_started"), D(ours, "race8_processes_started"), "seed/ours");
        Row("  of which still running after", D(seed, "race8_processes_running_after"), D(ours, "race8_processes_running_after"), "seed/ours");
        Row("  (bench_seed.py's own race of 8)", D(seed, "race_processes_spawned_for_one_container"), D(ours, "race8_processes_started"), "seed/ours");
        Row("processes started, 64 callers, 1 container", D(seed, "race64_processes_started"), D(ours, "race64_processes_started"), "seed/ours");
        Row("  of which still running after", D(seed, "race64_processes_running_after"), D(ours, "race64_processes_running_after"), "seed/ours");
        Console.WriteLine();
        Row("create: ours vs raw ttyd start (ms)", D(ours, "raw_ttyd_start_median_ms"), D(ours, "create_median_ms"), "ours/raw", invert: true);
        return D(ours, "leaked_processes") == 0 ? 0 : 1;
    }

    /// <summary>
    /// Where the create path's time goes: the manager's create, the supervisor's start inside it (spawn until ready),
    /// a raw start polled every millisecond, and a raw start polled with the supervisor's backoff schedule,
    /// interleaved so that drift hits all alike. Medians over <paramref name="rounds"/> rounds.
    /// </summary>
    public static async Task<int> CreatePartsAsync(int rounds, int start, int end)
    {
        var ensure = new List<double>();
        var supervisor = new List<double>();
        var raw = new List<double>();
        var rawBackoff = new List<double>();
        var pids = new List<int>();
        var half = start + ((end - start + 1) / 2);
        await using (var h = new BenchHarness(start, half - 1))
        {
            _ = h.Manager.GetStatus();
            try
            {
                for (var i = 0; i < rounds; i++)
                {
                    var t = Stopwatch.GetTimestamp();
                    _ = await h.Manager.EnsureSessionAsync($"parts{i}", "bench") ?? throw new InvalidOperationException("no port");
                    ensure.Add(Stopwatch.GetElapsedTime(t).TotalMilliseconds);
                    supervisor.Add(h.Supervisor.LastStartTime.TotalMilliseconds);

                    t = Stopwatch.GetTimestamp();
                    pids.Add(RawTtyd.Start(half + (2 * i), $"raw{i}", TimeSpan.FromSeconds(10)));
                    raw.Add(Stopwatch.GetElapsedTime(t).TotalMilliseconds);

                    t = Stopwatch.GetTimestamp();
                    pids.Add(await RawTtyd.StartWithBackoffAsync(half + (2 * i) + 1, $"rawb{i}"));
                    rawBackoff.Add(Stopwatch.GetElapsedTime(t).TotalMilliseconds);
                }
            }
            finally
            {
                pids.ForEach(RawTtyd.Stop);
            }
        }

        Console.WriteLine(new JsonObject
        {
            ["rounds"] = rounds,
            ["manager_create_median_ms"] = Median(ensure),
            ["supervisor_start_median_ms"] = Median(supervisor),
            ["manager_outside_supervisor_median_ms"] = Median([.. ensure.Zip(supervisor, (a, b) => a - b)]),
            ["raw_poll_1ms_median_ms"] = Median(raw),
            ["raw_poll_backoff_median_ms"] = Median(rawBackoff),
        }.ToJsonString());
        return 0;
    }

    /// <summary>
    /// Where the reuse and status time goes, with N live sessions: the whole calls, then each system step the
    /// health check makes (the /proc stat read, the reaping waitpid, the bind probe on a port that listens, which
    /// fails with an exception, and on a free port), and one read of /proc/net/tcp as a possible replacement.
    /// </summary>
    public static async Task<int> HotPartsAsync(int sessions, int start, int end)
    {
        const int Calls = 20000;
        var result = new JsonObject { ["sessions"] = sessions };
        await using (var h = new BenchHarness(start, end))
        {
            await h.CreateAsync("hot", sessions);
            var status = h.Manager.GetStatus();
            var session = status.Sessions[0].Session;
            var probe = new ListenerProbe(System.Net.IPAddress.Loopback);
            var free = Enumerable.Range(start, 65535 - start).First(p => !probe.IsListening(p));

            double PerCall(int n, Action a)
            {
                for (var i = 0; i < Math.Min(n, 1000); i++)
                {
                    a();
                }

                var t = Stopwatch.GetTimestamp();
                for (var i = 0; i < n; i++)
                {
                    a();
                }

                return Stopwatch.GetElapsedTime(t).TotalMicroseconds / n;
            }

            result["reuse_us"] = PerCall(Calls, () => _ = h.Manager.EnsureSessionAsync(session.Container, "bench", "bench-topology").Result);
            result["status_us"] = PerCall(200, () => _ = h.Manager.GetStatus());
            result["status_us_per_session"] = result["status_us"]!.GetValue<double>() / sessions;
            result["is_alive_us"] = PerCall(Calls, () => _ = h.Supervisor.IsAlive(session.Process));
            result["proc_stat_read_us"] = PerCall(Calls, () =>
            {
                Span<byte> buffer = stackalloc byte[1024];
                using var handle = File.OpenHandle($"/proc/{session.ProcessId}/stat");
                _ = RandomAccess.Read(handle, buffer, 0);
            });
            result["waitpid_wnohang_us"] = PerCall(Calls, () => _ = RawTtyd.WaitNoHang(session.ProcessId));
            result["bind_probe_listening_port_us"] = PerCall(Calls, () => _ = probe.IsListening(session.Port));
            result["bind_probe_free_port_us"] = PerCall(Calls, () => _ = probe.IsListening(free));
            result["proc_net_tcp_read_all_us"] = PerCall(200, () =>
            {
                var listening = new HashSet<int>();
                foreach (var line in File.ReadLines("/proc/net/tcp").Skip(1))
                {
                    var fields = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
                    if (fields[3] == "0A")
                    {
                        _ = listening.Add(int.Parse(fields[1].AsSpan(fields[1].IndexOf(':') + 1), NumberStyles.HexNumber, Inv));
                    }
                }
            });
            result["proc_net_tcp_lines"] = File.ReadLines("/proc/net/tcp").Count() - 1;
        }

        Console.WriteLine(result.ToJsonString());
        return 0;
    }

    private static void Row(string name, double seed, double ours, string how, bool invert = false)
    {
        var ratio = invert ? ours / seed : seed / ours;
        Console.WriteLine($"{name,-44} {seed.ToString("G6", Inv),14} {ours.ToString("G6", Inv),14} {(ratio.ToString("G4", Inv) + " " + how),16}");
    }

    private static double D(JsonObject o, string key) => o[key] is { } v ? double.Parse(v.ToJsonString(), Inv) : double.NaN;

    internal static double Median(List<double> values)
    {
        var sorted = values.Order().ToArray();
        return sorted.Length == 0 ? double.NaN : sorted.Length % 2 == 1 ? sorted[sorted.Length / 2] : (sorted[(sorted.Length / 2) - 1] + sorted[sorted.Length / 2]) / 2;
    }

    /// <summary>
    /// The whole range: <paramref name="count"/> sessions with real ttyd created at once, each checked to accept
    /// a connection, then all cleaned up; prints the times, memory and leaks. Exit code 0 only when nothing leaked.
    /// </summary>
    public static async Task<int> ScaleAsync(int count, int start, int end)
    {
        if (BenchHarness.ListeningPorts(start, end) is { Count: > 0 } busy)
        {
            await Console.Error.WriteLineAsync($"scale: aborted: something already listens on {busy.Count} port(s) of {start}-{end} (first: {string.Join(',', busy.Take(20))}); the scale run needs the whole range").ConfigureAwait(false);
            return 2;
        }

        var report = new JsonObject { ["sessions"] = count, ["port_range"] = new JsonArray(start, end), ["rlimit_nofile"] = NoFileLimit() };
        var harness = new BenchHarness(start, end);
        var failed = false;
        try
        {
            // Warm-up out of the measurement: adoption scan, JIT of the create and stop paths.
            _ = harness.Manager.GetStatus();
            _ = await harness.Manager.EnsureSessionAsync("warmup", "bench", "bench-topology");
            _ = await harness.Manager.CleanupAllAsync();

            var memoryBefore = GC.GetTotalMemory(forceFullCollection: true);
            var t = Stopwatch.StartNew();
            var created = await CreateAllAsync(harness.Manager, count);
            var createTime = t.Elapsed;
            var memoryAfter = GC.GetTotalMemory(forceFullCollection: true);
            report["created"] = created;
            report["create_s"] = createTime.TotalSeconds;
            report["managed_bytes_per_session"] = (memoryAfter - memoryBefore) / (double)count;

            var status = harness.Manager.GetStatus();
            var ports = status.Sessions.Select(s => s.Session.Port).ToArray();
            var accepting = (await Task.WhenAll(ports.Select(BenchHarness.AcceptsAsync))).Count(ok => ok);
            report["accepting_connections"] = accepting;
            report["distinct_ports"] = ports.Distinct().Count();
            report["healthy_in_status"] = status.ActiveSessions;

            var running = harness.RunningTtyds();
            report["ttyd_processes_running"] = running.Count;
            long rssKb = 0;
            foreach (var d in running)
            {
                rssKb += VmRssKb(d.Session.ProcessId);
            }

            report["ttyd_total_rss_mb"] = rssKb / 1024.0;
            report["ttyd_rss_kb_per_process"] = running.Count == 0 ? 0 : rssKb / (double)running.Count;
            report["host_rss_mb"] = VmRssKb(Environment.ProcessId) / 1024.0;

            t.Restart();
            var cleaned = await harness.Manager.CleanupAllAsync();
            report["clean_s"] = t.Elapsed.TotalSeconds;
            report["stopped"] = cleaned.Stopped.Count;
            report["stop_failures"] = cleaned.Failed.Count;

            report["leaked_processes"] = harness.RunningTtyds().Count;
            report["leaked_ports_listening"] = BenchHarness.ListeningPorts(start, end).Count;
            report["leaked_port_reservations"] = harness.Ports.ReservedCount;
            report["leaked_log_files"] = Directory.Exists(harness.RuntimeDirectory) ? Directory.GetFiles(harness.RuntimeDirectory).Count(f => !f.EndsWith(".key", StringComparison.Ordinal)) : 0;
            failed = created != count || accepting != count
                || report["leaked_processes"]!.GetValue<int>() != 0 || report["leaked_ports_listening"]!.GetValue<int>() != 0
                || report["leaked_port_reservations"]!.GetValue<int>() != 0;
        }
        catch (Exception e)
        {
            report["error"] = e.ToString();
            failed = true;
        }
        finally
        {
            await harness.DisposeAsync(); // cleanup, then a sweep of this instance's processes
        }

        report["leaked_after_final_sweep"] = TtydProcessDiscovery.Find(new LinuxProcessSupervisor(), harness.Instance).Count;
        Console.WriteLine(report.ToJsonString(new JsonSerializerOptions { WriteIndented = true }));
        return failed ? 1 : 0;
    }

    // In its own frame, so that nothing of the creation (tasks, results) is still referenced when memory is measured.
    [MethodImpl(MethodImplOptions.NoInlining)]
    private static async Task<int> CreateAllAsync(ITtydSessionManager manager, int count)
    {
        var tasks = new Task<TtydSession?>[count];
        for (var i = 0; i < count; i++)
        {
            tasks[i] = manager.EnsureSessionAsync($"node{i}", "bench", "bench-topology").AsTask();
        }

        var sessions = await Task.WhenAll(tasks);
        return sessions.Count(s => s is not null);
    }

    private static long VmRssKb(int pid)
    {
        try
        {
            foreach (var line in File.ReadLines($"/proc/{pid}/status"))
            {
                if (line.StartsWith("VmRSS:", StringComparison.Ordinal))
                {
                    return long.Parse(line.AsSpan(6).Trim().TrimEnd("kB").Trim(), Inv);
                }
            }
        }
        catch (IOException)
        {
        }

        return 0;
    }

    private static string NoFileLimit()
    {
        foreach (var line in File.ReadLines("/proc/self/limits"))
        {
            if (line.StartsWith("Max open files", StringComparison.Ordinal))
            {
                return string.Join(' ', line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[3..5]);
            }
        }

        return "?";
    }
}
