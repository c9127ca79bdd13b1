using System.Diagnostics;
using System.Runtime.InteropServices;
using System.Text.Json.Nodes;

namespace TtydPorts.Benchmarks;

/// <summary>
/// What waiting for processes costs the host: create and stop time, and the host process's context switches while
/// creating, while idle with live sessions, and while stopping. Counts come from <c>getrusage(RUSAGE_SELF)</c>, which
/// (unlike <c>/proc/self/status</c>, the main thread only) sums every thread, those that have ended included, such as
/// a waiter thread that exists only while something waits.
/// </summary>
internal static partial class ExitsScenario
{
    public static async Task<int> RunAsync(int rounds, int idleSeconds, int start, int end)
    {
        var create = new List<double>();
        var stop = new List<double>();
        (long Voluntary, long Involuntary) beforeCreate, afterCreate, afterIdle, afterStop;
        await using (var h = new BenchHarness(start, end))
        {
            await h.Manager.AdoptAsync();
            _ = await h.Manager.EnsureSessionAsync("exits-warm", "bench") ?? throw new InvalidOperationException("no port");
            _ = await h.Manager.DeleteNodeAsync("exits-warm");

            beforeCreate = Switches();
            for (var i = 0; i < rounds; i++)
            {
                var t = Stopwatch.GetTimestamp();
                _ = await h.Manager.EnsureSessionAsync($"exits{i}", "bench") ?? throw new InvalidOperationException("no port");
                create.Add(Stopwatch.GetElapsedTime(t).TotalMilliseconds);
            }

            afterCreate = Switches();
            await Task.Delay(TimeSpan.FromSeconds(idleSeconds));
            afterIdle = Switches();
            for (var i = 0; i < rounds; i++)
            {
                var t = Stopwatch.GetTimestamp();
                var result = await h.Manager.DeleteNodeAsync($"exits{i}");
                stop.Add(Stopwatch.GetElapsedTime(t).TotalMilliseconds);
                if (result.Stopped.Count != 1)
                {
                    throw new InvalidOperationException($"exits{i} was not stopped");
                }
            }

            afterStop = Switches();
        }

        Console.WriteLine(new JsonObject
        {
            ["rounds"] = rounds,
            ["create_median_ms"] = Scenarios.Median(create),
            ["stop_median_ms"] = Scenarios.Median(stop),
            ["create_voluntary_per_session"] = Per(afterCreate.Voluntary - beforeCreate.Voluntary, rounds),
            ["create_involuntary_per_session"] = Per(afterCreate.Involuntary - beforeCreate.Involuntary, rounds),
            ["idle_voluntary_per_s"] = Per(afterIdle.Voluntary - afterCreate.Voluntary, idleSeconds),
            ["idle_involuntary_per_s"] = Per(afterIdle.Involuntary - afterCreate.Involuntary, idleSeconds),
            ["stop_voluntary_per_session"] = Per(afterStop.Voluntary - afterIdle.Voluntary, rounds),
            ["stop_involuntary_per_session"] = Per(afterStop.Involuntary - afterIdle.Involuntary, rounds),
        }.ToJsonString());
        return 0;
    }

    private static double Per(long count, int n) => Math.Round((double)count / n, 1);

    // struct rusage on 64-bit Linux: two timevals (32 bytes), then 14 longs; ru_nvcsw and ru_nivcsw are the last two.
    private static unsafe (long Voluntary, long Involuntary) Switches()
    {
        var usage = stackalloc long[18];
        if (getrusage(0, usage) != 0)
        {
            throw new InvalidOperationException($"getrusage failed: errno {Marshal.GetLastPInvokeError()}");
        }

        return (usage[16], usage[17]);
    }

    [LibraryImport("libc", SetLastError = true)]
    private static unsafe partial int getrusage(int who, long* usage);
}
