using System.Diagnostics;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace TtydPorts.Benchmarks;

/// <summary>
/// Scale in either listen mode: <c>N</c> sessions with real ttyd (proxy mode: a Unix socket each, plus the observer ttyd
/// of persistent shells), status timed at a first mark (200, the seed comparison's size) and at <c>N</c>, then every
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
            _ = harness.Manager.GetStatus();
            _ = await harness.Manager.EnsureSessionAsync("warmup", "bench", "bench-topology");
            _ = await harness.Manager.CleanupAllAsync();

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

            t.Restart();
            var cleaned = await harness.Manager.CleanupAllAsync();
            report["clean_s"] = t.Elapsed.TotalSeconds;
            report["clean_ms_per_session"] = t.Elapsed.TotalMilliseconds / count;
            report["stopped"] = cleaned.Stopped.Count;
            report["stop_failures"] = cleaned.Failed.Count;

            var leaked = supervisor.FindMarkedProcesses(TtydProcessDiscovery.MarkerPrefix, TtydProcessDiscovery.InstanceMarker, harness.Instance).Count;
            report["leaked_processes"] = leaked;
            report["leaked_ports_listening"] = proxy ? 0 : BenchHarness.ListeningPorts(start, end).Count;
            report["leaked_port_reservations"] = harness.Ports.ReservedCount;
            var files = Directory.Exists(harness.RuntimeDirectory) ? Directory.GetFiles(harness.RuntimeDirectory).Count(f => !f.EndsWith(".key", StringComparison.Ordinal)) : 0;
            report["leaked_files"] = files;
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

        var median = Scenarios.Median(times);
        report[name + "_median_ms"] = median;
        report[name + "_min_ms"] = times.Min();
        report[name + "_us_per_session"] = median * 1000 / sessions;
    }
}
