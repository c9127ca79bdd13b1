using System.Diagnostics;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace TtydPorts.Benchmarks;

/// <summary>
/// Scale in either listen mode: <c>N</c> sessions with real ttyd (proxy mode: a Unix socket each and persistent shells;
/// nobody watches, so no observer ttyd starts), status timed at a first mark (200, the seed comparison's size) and at <c>N</c>, then every
/// session cleaned up at once, and what is left checked: processes carrying the instance's markers, listening ports,
/// port reservations, files in the runtime folder. The containers are the benchmark-only <see cref="EveryContainerRunning"/>.
/// Memory is PSS (<c>/proc/PID/smaps_rollup</c>). Exit code 0 only when nothing leaked.
/// </summary>
internal static class ScaleModesScenario
{
    private const int StatusCalls = 101;

    public static async Task<int> RunAsync(string mode, int count, int mark, int start, int end)
    {
        var proxy = mode switch
        {
            "proxy" => true,
            "direct" => false,
            _ => throw new ArgumentException($"--mode is 'proxy' or 'direct', not '{mode}'", nameof(mode)),
        };
        if (!proxy && (end - start + 1) < count)
        {
            await Console.Error.WriteLineAsync($"scale-modes: {count} direct sessions need {count} ports; {start}-{end} has {end - start + 1}").ConfigureAwait(false);
            return 2;
        }

        if (!proxy && BenchHarness.ListeningPorts(start, end) is { Count: > 0 } busy)
        {
            await Console.Error.WriteLineAsync($"scale-modes: aborted: something already listens on {busy.Count} port(s) of {start}-{end}").ConfigureAwait(false);
            return 2;
        }

        var report = new JsonObject { ["mode"] = mode, ["sessions"] = count, ["status_mark"] = mark };
        var harness = new BenchHarness(start, end, configure: o =>
        {
            if (proxy)
            {
                o.ListenMode = TtydListenMode.UnixSocket;
                o.BasePath = "/terminals";
            }
        });
        var supervisor = new LinuxProcessSupervisor();
        var failed = false;
        try
        {
            // Warm-up out of the measurement: adoption scan, and the create, status and stop paths called often enough
            // (64 sessions) for tiered compilation to have optimised them, as in a host that has been running a while.
            _ = harness.Manager.GetStatus();
            for (var i = 0; i < 64; i++)
            {
                _ = await harness.Manager.EnsureSessionAsync($"warmup{i}", "bench", "bench-topology");
                _ = harness.Manager.GetStatus();
            }

            _ = await harness.Manager.CleanupAllAsync();
            await Task.Delay(TimeSpan.FromSeconds(1)); // the tier-1 compilations run in the background

            var t = Stopwatch.StartNew();
            await CreateRangeAsync(harness, 0, mark);
            report["create_first_s"] = t.Elapsed.TotalSeconds;
            Status(harness, mark, report, $"status_{mark}");

            t.Restart();
            await CreateRangeAsync(harness, mark, count);
            report["create_rest_s"] = t.Elapsed.TotalSeconds;
            Status(harness, count, report, $"status_{count}");
            report["status_per_session_ratio"] = report[$"status_{count}_us_per_session"]!.GetValue<double>() / report[$"status_{mark}_us_per_session"]!.GetValue<double>();

            var processes = supervisor.FindMarkedProcesses(TtydProcessDiscovery.MarkerPrefix, TtydProcessDiscovery.InstanceMarker, harness.Instance);
            report["processes_of_instance"] = processes.Count;
            report["ttyd_pss_mb"] = processes.Sum(p => PersistenceScenario.Pss(p.Process.ProcessId)) / 1024.0;
            report["host_pss_mb"] = PersistenceScenario.Pss(Environment.ProcessId) / 1024.0;

            await Console.Error.WriteLineAsync($"scale-modes: {count} sessions created, cleaning up").ConfigureAwait(false);
            t.Restart();
            var cleaned = await harness.Manager.CleanupAllAsync();
            var clean = t.Elapsed;
            report["clean_s"] = clean.TotalSeconds;
            report["clean_ms_per_session"] = t.Elapsed.TotalMilliseconds / count;
            report["stopped"] = cleaned.Stopped.Count;
            report["stop_failures"] = cleaned.Failed.Count;

            var leaked = supervisor.FindMarkedProcesses(TtydProcessDiscovery.MarkerPrefix, TtydProcessDiscovery.InstanceMarker, harness.Instance).Count;
            report["leaked_processes"] = leaked;
            report["leaked_ports_listening"] = proxy ? 0 : BenchHarness.ListeningPorts(start, end).Count;
            report["leaked_port_reservations"] = harness.Ports.ReservedCount;
            var files = Directory.Exists(harness.RuntimeDirectory) ? Directory.GetFiles(harness.RuntimeDirectory).Count(f => !f.EndsWith(".key", StringComparison.Ordinal)) : 0;
            report["leaked_files"] = files;
            // The floor, in the same run: as many raw ttyd processes (no manager), all sent SIGTERM at once and awaited.
            var raw = await RawStopAsync(processes.Count, proxy, start);
            report["raw_sigterm_all_s"] = raw;
            report["clean_over_raw"] = clean.TotalSeconds / raw;
            failed = cleaned.Stopped.Count != count || leaked != 0 || files != 0 || harness.Ports.ReservedCount != 0
                || report["leaked_ports_listening"]!.GetValue<int>() != 0;
        }
        catch (Exception e)
        {
            report["error"] = e.ToString();
            failed = true;
        }
        finally
        {
            await harness.DisposeAsync();
        }

        report["leaked_after_final_sweep"] = supervisor.FindMarkedProcesses(TtydProcessDiscovery.MarkerPrefix, TtydProcessDiscovery.InstanceMarker, harness.Instance).Count;
        Console.WriteLine(report.ToJsonString(new JsonSerializerOptions { WriteIndented = true }));
        return failed ? 1 : 0;
    }

    // Starts n ttyd (on Unix sockets, or on the range's ports), waits until each listens, then times SIGTERM to all and
    // the last exit. What any caller pays at least to stop that many ttyd gracefully on this machine now.
    private static async Task<double> RawStopAsync(int n, bool sockets, int start)
    {
        var folder = Directory.CreateTempSubdirectory("ttydports-raw-");
        var processes = new List<Process>(n);
        try
        {
            for (var i = 0; i < n; i++)
            {
                // sh execs ttyd (same pid) with its output to /dev/null, which ProcessStartInfo cannot do itself.
                var info = new ProcessStartInfo("/bin/sh") { ArgumentList = { "-c", "exec \"$0\" \"$@\" >/dev/null 2>&1", BenchHarness.TtydPath } };
                foreach (var arg in sockets ? ["-i", Path.Combine(folder.FullName, $"{i}.sock")] : new[] { "-p", (start + i).ToString(System.Globalization.CultureInfo.InvariantCulture), "-i", "127.0.0.1" })
                {
                    info.ArgumentList.Add(arg);
                }

                foreach (var arg in new[] { "-W", "sleep", "3600" })
                {
                    info.ArgumentList.Add(arg);
                }

                processes.Add(Process.Start(info)!);
            }

            var deadline = Stopwatch.StartNew();
            while (deadline.Elapsed < TimeSpan.FromSeconds(60)
                && (sockets ? Directory.GetFiles(folder.FullName, "*.sock").Length < n : BenchHarness.ListeningPorts(start, start + n - 1).Count < n))
            {
                await Task.Delay(100);
            }

            var t = Stopwatch.StartNew();
            foreach (var process in processes)
            {
                _ = Native.kill(process.Id, Native.SIGTERM);
            }

            await Task.WhenAll(processes.Select(p => p.WaitForExitAsync()));
            return t.Elapsed.TotalSeconds;
        }
        finally
        {
            foreach (var process in processes.Where(p => !p.HasExited))
            {
                process.Kill();
            }

            processes.ForEach(p => p.Dispose());
            folder.Delete(recursive: true);
        }
    }

    private static Task CreateRangeAsync(BenchHarness harness, int from, int to) =>
        Parallel.ForAsync(from, to, new ParallelOptions { MaxDegreeOfParallelism = 16 }, async (i, ct) =>
        {
            _ = await harness.Manager.EnsureSessionAsync($"node{i}", "bench", "bench-topology", ct)
                ?? throw new InvalidOperationException($"no session for node{i}");
        });

    // The median and minimum of 101 calls; every call must see every session healthy.
    private static void Status(BenchHarness harness, int sessions, JsonObject report, string name)
    {
        var times = new List<double>(StatusCalls);
        for (var i = 0; i < StatusCalls; i++)
        {
            var t = Stopwatch.GetTimestamp();
            var status = harness.Manager.GetStatus();
            times.Add(Stopwatch.GetElapsedTime(t).TotalMilliseconds);
            if (status.ActiveSessions != sessions)
            {
                throw new InvalidOperationException($"status reports {status.ActiveSessions} healthy sessions, expected {sessions}");
            }
        }

        // Of which the kernel's report of exits and stops (one epoll_wait, one waitid that walks the host's children).
        var refresh = new List<double>(StatusCalls);
        for (var i = 0; i < StatusCalls; i++)
        {
            var t = Stopwatch.GetTimestamp();
            harness.Supervisor.Refresh();
            refresh.Add(Stopwatch.GetElapsedTime(t).TotalMilliseconds);
        }

        report[name + "_refresh_median_ms"] = Scenarios.Median(refresh);
        var median = Scenarios.Median(times);
        report[name + "_median_ms"] = median;
        report[name + "_min_ms"] = times.Min();
        report[name + "_us_per_session"] = median * 1000 / sessions;
    }
}
