using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Engines;
using BenchmarkDotNet.Jobs;
using Microsoft.Extensions.Options;

namespace TtydPorts.Benchmarks;

/// <summary>Port range of the BenchmarkDotNet runs and the comparison (never the default 8000-9000).</summary>
public static class BenchRange
{
    public const int Start = 21000;
    public const int End = 21999;
}

/// <summary>
/// The hot paths with N live sessions (real ttyd processes): <c>EnsureSessionAsync</c> on a live session (the
/// reuse path, called for every node each time a lab page loads) and <c>GetStatus()</c>.
/// Short job: 1 launch, 3 warm-up and 10 measured iterations.
/// </summary>
[MemoryDiagnoser]
[SimpleJob(RunStrategy.Throughput, launchCount: 1, warmupCount: 3, iterationCount: 10)]
public class LiveSessionBenchmarks
{
    private BenchHarness _harness = null!;
    private string[] _containers = [];
    private int _next;

    [Params(10, 200, 1000)]
    public int Sessions { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        _harness = new BenchHarness(BenchRange.Start, BenchRange.End);
        _containers = [.. Enumerable.Range(0, Sessions).Select(i => $"node{i}")];
        _harness.CreateAsync("node", Sessions).GetAwaiter().GetResult();
    }

    [GlobalCleanup]
    public void Cleanup() => _harness.DisposeAsync().AsTask().GetAwaiter().GetResult();

    /// <summary>One reuse call, on the next container in turn (every call finds a live session).</summary>
    [Benchmark]
    public ValueTask<TtydSession?> Reuse()
    {
        var i = _next;
        _next = i + 1 == _containers.Length ? 0 : i + 1;
        return _harness.Manager.EnsureSessionAsync(_containers[i], "bench", "bench-topology");
    }

    [Benchmark]
    public TtydStatus Status() => _harness.Manager.GetStatus();
}

/// <summary>
/// <c>PortAllocator.TryAcquire</c> (then <c>Release</c>, to keep the state) over the 1000-port range with 0%, 50%
/// or 99% of it used, either reserved by the allocator (its sessions) or listened on by another socket (which the
/// allocator must find with a bind probe per port).
/// </summary>
[MemoryDiagnoser]
[SimpleJob(RunStrategy.Throughput, launchCount: 1, warmupCount: 3, iterationCount: 10)]
public class PortAllocationBenchmarks
{
    private PortAllocator _allocator = null!;
    private readonly List<System.Net.Sockets.TcpListener> _listeners = [];

    [Params(0, 50, 99)]
    public int UsedPercent { get; set; }

    [Params(Occupant.Allocator, Occupant.Listener)]
    public Occupant UsedBy { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        _allocator = new PortAllocator(Options.Create(new TtydSessionOptions { PortRangeStart = BenchRange.Start, PortRangeEnd = BenchRange.End }), TimeProvider.System);
        var size = BenchRange.End - BenchRange.Start + 1;
        var used = size * UsedPercent / 100;

        // Every other port up to the used share, then the rest of it contiguous: free ports sit both between and
        // after the used ones.
        var ports = Enumerable.Range(0, size).Where(i => i % 2 == 0).Concat(Enumerable.Range(0, size).Where(i => i % 2 == 1)).Take(used);
        foreach (var offset in ports)
        {
            var port = BenchRange.Start + offset;
            if (UsedBy == Occupant.Allocator)
            {
                _ = _allocator.TryAcquire(port);
            }
            else
            {
                var listener = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, port);
                listener.Start();
                _listeners.Add(listener);
            }
        }
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        foreach (var l in _listeners)
        {
            l.Dispose();
        }
    }

    [Benchmark]
    public int AcquireAndRelease()
    {
        if (!_allocator.TryAcquire(out var port))
        {
            throw new InvalidOperationException("range exhausted");
        }

        _allocator.Release(port);
        return port;
    }

    public enum Occupant
    {
        Allocator,
        Listener,
    }
}

/// <summary>
/// The create path (a new container: inventory check, port, spawn, wait until the port accepts and belongs to the
/// new ttyd) against a raw ttyd start measured the same way (spawn, then a TCP connect every millisecond until it
/// accepts). Each invocation starts one ttyd; the iteration's processes are stopped in the iteration cleanup, which
/// is not measured. 1 launch, 3 warm-up and 15 measured iterations of 10 starts.
/// </summary>
[MemoryDiagnoser]
[Config(typeof(Config))]
public class CreateBenchmarks
{
    private BenchHarness _harness = null!;
    private readonly List<int> _raw = [];
    private int _container;
    private int _rawPort = BenchRange.Start + 500;

    private sealed class Config : ManualConfig
    {
        public Config() => AddJob(Job.Default
            .WithStrategy(RunStrategy.Monitoring)
            .WithLaunchCount(1).WithWarmupCount(3).WithIterationCount(15)
            .WithInvocationCount(10).WithUnrollFactor(1));
    }

    [GlobalSetup]
    public void Setup() => _harness = new BenchHarness(BenchRange.Start, BenchRange.Start + 499);

    [IterationCleanup]
    public void StopIteration()
    {
        _ = _harness.Manager.CleanupAllAsync().GetAwaiter().GetResult();
        foreach (var pid in _raw)
        {
            RawTtyd.Stop(pid);
        }

        _raw.Clear();
    }

    [GlobalCleanup]
    public void Cleanup() => _harness.DisposeAsync().AsTask().GetAwaiter().GetResult();

    [Benchmark]
    public async Task<TtydSession?> ManagerCreate() =>
        await _harness.Manager.EnsureSessionAsync($"new{_container++}", "bench", "bench-topology")
        ?? throw new InvalidOperationException("no free port");

    [Benchmark(Baseline = true)]
    public int RawTtydStart()
    {
        var port = _rawPort;
        _rawPort = port == BenchRange.End ? BenchRange.Start + 500 : port + 1;
        var pid = RawTtyd.Start(port, $"raw{port}", TimeSpan.FromSeconds(10));
        _raw.Add(pid);
        return pid;
    }
}
