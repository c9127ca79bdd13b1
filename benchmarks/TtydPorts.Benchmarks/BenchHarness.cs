using System.Net;
using System.Net.Sockets;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;

namespace TtydPorts.Benchmarks;

/// <summary>
/// Benchmark-only container runtime: reports every container as running, and leaves the rest (the exec line, ending
/// what terminals left) to the real runtime it wraps. ttyd runs its command (<c>docker exec</c>) only when a terminal
/// connects, which no benchmark does, so the containers need not exist; everything else (ttyd, ports, processes) is
/// real. The seed's own script does not check containers either. (The manager asks the runtime, not the inventory,
/// for containers: registering only an inventory left the real engine answering "no such container".)
/// </summary>
internal sealed class EveryContainerRunning(IContainerRuntime inner) : IContainerRuntime
{
    /// <inheritdoc />
    public string Name => inner.Name;

    /// <inheritdoc />
    public string Endpoint => inner.Endpoint;

    /// <inheritdoc />
    public ContainerExec CreateExec(ContainerExecRequest request) => inner.CreateExec(request);

    /// <inheritdoc />
    public Task EndTerminalsAsync(IReadOnlyCollection<ContainerTerminal> terminals, CancellationToken cancellationToken = default) =>
        inner.EndTerminalsAsync(terminals, cancellationToken);

    private static readonly Dictionary<string, string> NoLabels = [];

    /// <inheritdoc />
    public Task<ContainerInfo?> GetContainerAsync(string name, CancellationToken cancellationToken = default) =>
        Task.FromResult<ContainerInfo?>(new ContainerInfo { Id = IdOf(name), Name = name, State = "running", Labels = NoLabels });

    // The manager takes only an engine's 64-digit hex id: a stable one per name, as an engine's is per container.
    private static string IdOf(string name) =>
        Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(name)));

    /// <inheritdoc />
    public Task<IReadOnlyList<ContainerInfo>> ListContainersAsync(CancellationToken cancellationToken = default) =>
        Task.FromResult<IReadOnlyList<ContainerInfo>>([]);
}

/// <summary>Counts the ttyd processes the manager starts, by decorating the real supervisor.</summary>
internal sealed class CountingSupervisor(LinuxProcessSupervisor inner) : IProcessSupervisor, IProcessEvents
{
    private int _started;

    /// <summary>Processes started so far.</summary>
    public int Started => Volatile.Read(ref _started);

    /// <inheritdoc />
    public async Task<ProcessIdentity> StartAsync(ProcessLaunch launch, CancellationToken cancellationToken = default)
    {
        Interlocked.Increment(ref _started);
        var t = System.Diagnostics.Stopwatch.GetTimestamp();
        try
        {
            return await inner.StartAsync(launch, cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            LastStartTime = System.Diagnostics.Stopwatch.GetElapsedTime(t);
        }
    }

    /// <summary>How long the last <see cref="StartAsync"/> took (spawn until ready), for the create breakdown.</summary>
    public TimeSpan LastStartTime { get; private set; }

    /// <inheritdoc />
    public bool IsAlive(ProcessIdentity process) => inner.IsAlive(process);

    /// <inheritdoc />
    public bool IsStopped(ProcessIdentity process) => inner.IsStopped(process);

    /// <inheritdoc />
    public ProcessWatch? Watch(ProcessIdentity process) => inner.Watch(process);

    /// <inheritdoc />
    public void Refresh() => inner.Refresh();

    /// <inheritdoc />
    public Task<bool> StopAsync(ProcessIdentity process, TimeSpan gracePeriod, CancellationToken cancellationToken = default) =>
        inner.StopAsync(process, gracePeriod, cancellationToken);

    /// <inheritdoc />
    public IReadOnlyList<MarkedProcess> FindMarkedProcesses(string markerPrefix, string markerName, string? markerValue = null) =>
        inner.FindMarkedProcesses(markerPrefix, markerName, markerValue);
}

/// <summary>
/// One real <see cref="TtydSessionManager"/> (real port allocator, real Linux supervisor, real ttyd) with its own
/// instance name, port range and runtime folder. Disposing it stops every session and sweeps every process of its
/// instance that is still running, whatever happened before.
/// </summary>
public sealed class BenchHarness : IAsyncDisposable
{
    private readonly ServiceProvider _provider;

    public BenchHarness(int rangeStart, int rangeEnd, string? instance = null, Action<TtydSessionOptions>? configure = null)
    {
        Instance = instance ?? "bench-" + Guid.NewGuid().ToString("N")[..8];
        RuntimeDirectory = Path.Combine(Path.GetTempPath(), "ttydports-" + Instance);
        _provider = new ServiceCollection()
            .AddSingleton<IContainerRuntime>(sp => new EveryContainerRunning(ContainerRuntimes.Create(sp)))
            .AddSingleton<IContainerInventory>(sp => sp.GetRequiredService<IContainerRuntime>())
            .AddSingleton(sp => new CountingSupervisor(new LinuxProcessSupervisor()))
            .AddSingleton<IProcessSupervisor>(sp => sp.GetRequiredService<CountingSupervisor>())
            .AddTtydSessions(o =>
            {
                o.PortRangeStart = rangeStart;
                o.PortRangeEnd = rangeEnd;
                o.InstanceName = Instance;
                o.RuntimeDirectory = RuntimeDirectory;
                o.StopGracePeriod = TimeSpan.FromSeconds(2);
                o.TtydPath = TtydPath;
                // Its containers are not real (EveryContainerRunning): a shell started with the session would only run a failing docker exec.
                o.StartShellWithSession = false;
                configure?.Invoke(o);
            })
            .Services.BuildServiceProvider();
        _ = _provider.GetRequiredService<IOptions<TtydSessionOptions>>().Value;
        Manager = _provider.GetRequiredService<ITtydSessionManager>();
        Supervisor = _provider.GetRequiredService<CountingSupervisor>();
        Ports = _provider.GetRequiredService<IPortAllocator>();
    }

    /// <summary>ttyd binary: <c>TTYD</c> from the environment, else <c>ttyd</c> on PATH.</summary>
    public static string TtydPath { get; } = Environment.GetEnvironmentVariable("TTYD") is { Length: > 0 } t ? t : "ttyd";

    public string Instance { get; }
    public string RuntimeDirectory { get; }
    public ITtydSessionManager Manager { get; }
    internal CountingSupervisor Supervisor { get; }
    public IPortAllocator Ports { get; }

    /// <summary>The ttyd processes of this instance running on the machine, read from their markers.</summary>
    internal IReadOnlyList<DiscoveredSession> RunningTtyds() => TtydProcessDiscovery.Find(Supervisor, Instance);

    /// <summary>Starts <paramref name="count"/> sessions (containers <c>{prefix}{i}</c>), at most <paramref name="parallel"/> at a time.</summary>
    public async Task CreateAsync(string prefix, int count, int parallel = 8)
    {
        await Parallel.ForAsync(0, count, new ParallelOptions { MaxDegreeOfParallelism = parallel }, async (i, ct) =>
        {
            _ = await Manager.EnsureSessionAsync($"{prefix}{i}", "bench", "bench-topology", ct)
                ?? throw new InvalidOperationException($"no free port for {prefix}{i} (range {Ports.RangeStart}-{Ports.RangeEnd})");
        });
    }

    /// <summary>Stops every process of this instance that is still running; returns how many there were.</summary>
    public async Task<int> SweepAsync()
    {
        var left = RunningTtyds();
        foreach (var found in left)
        {
            // Children (the docker exec clients) carry the same markers and are stopped with their ttyd's tree.
            await Supervisor.StopAsync(found.Session.Process, TimeSpan.FromSeconds(1)).ConfigureAwait(false);
        }

        return left.Count;
    }

    public async ValueTask DisposeAsync()
    {
        try
        {
            _ = await Manager.CleanupAllAsync().ConfigureAwait(false);
        }
        finally
        {
            var swept = await SweepAsync().ConfigureAwait(false);
            if (swept > 0)
            {
                await Console.Error.WriteLineAsync($"bench: swept {swept} ttyd process(es) of instance {Instance} that cleanup left").ConfigureAwait(false);
            }

            await _provider.DisposeAsync().ConfigureAwait(false);
            if (Directory.Exists(RuntimeDirectory))
            {
                Directory.Delete(RuntimeDirectory, recursive: true);
            }
        }
    }

    /// <summary>Ports of the range on which something listens (bind probe, as the allocator does).</summary>
    public static List<int> ListeningPorts(int start, int end, string address = "127.0.0.1")
    {
        using var probe = new ListenerProbe(System.Net.IPAddress.Parse(address));
        using var any = new ListenerProbe(System.Net.IPAddress.Any);
        var busy = new List<int>();
        for (var port = start; port <= end; port++)
        {
            if (probe.IsListening(port) || any.IsListening(port))
            {
                busy.Add(port);
            }
        }

        return busy;
    }

    /// <summary>Whether a TCP connection to the port on loopback succeeds.</summary>
    public static async Task<bool> AcceptsAsync(int port)
    {
        using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        try
        {
            await socket.ConnectAsync(new IPEndPoint(IPAddress.Loopback, port)).ConfigureAwait(false);
            return true;
        }
        catch (SocketException)
        {
            return false;
        }
    }
}
