using System.Collections.Concurrent;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace TtydPorts.IntegrationTests;

/// <summary>
/// Test containers from the busybox image, each labelled so that a crashed run's leftovers can be found; removed at the
/// end. On the main Docker engine; <see cref="On"/> gives a lab on another <see cref="TtydPorts.IntegrationTests.Engine"/>.
/// </summary>
public sealed class ContainerLab : IDisposable
{
    private readonly string _run = Guid.NewGuid().ToString("N")[..8];
    private readonly ConcurrentBag<string> _containers = [];
    private int _next;

    // One public constructor: xunit creates the collection fixture through it, and refuses a type with two.
    public ContainerLab()
        : this(Engine.Docker)
    {
    }

    private ContainerLab(Engine engine) => Engine = engine;

    /// <summary>A lab whose containers run on <paramref name="engine"/> (dispose it at the end of the test).</summary>
    public static ContainerLab On(Engine engine) => new(engine);

    public Engine Engine { get; }

    public string StartContainer() => StartContainer(NextName(), "sleep", "3600");

    public string NextName() => $"tp-{_run}-{Interlocked.Increment(ref _next)}";

    /// <summary>Starts (or, after a removal, recreates) a container with the given name and command.</summary>
    public string StartContainer(string name, params string[] command)
    {
        _containers.Add(Engine.StartContainer(name, command));
        return name;
    }

    /// <summary>Removes a container of the main Docker engine.</summary>
    public static void RemoveContainer(string name) => RealParts.Docker("rm", "-f", name);

    /// <summary>Removes a container of this lab's engine.</summary>
    public void Remove(string name) => Engine.RemoveContainers([name]);

    /// <summary>Removes a container the test started itself (with labels of its own, say) at the end, with the others.</summary>
    public void Track(string name) => _containers.Add(name);

    public void Dispose() => Engine.RemoveContainers(_containers.Distinct());
}

/// <summary>
/// One manager over the real parts, with its own instance name, port range and runtime folder. Disposing it
/// cleans up every session and asserts that no process of its instance is left.
/// </summary>
public sealed class ManagerUnderTest : IAsyncDisposable
{
    private readonly ServiceProvider _provider;

    private bool _abandoned;

    public ManagerUnderTest(int rangeStart, int rangeEnd, Action<TtydSessionOptions>? configure = null, string? instance = null, Action<IServiceCollection>? services = null)
    {
        RealParts.Require();
        Instance = instance ?? "itest-" + Guid.NewGuid().ToString("N")[..8];
        (RangeStart, RangeEnd) = (rangeStart, rangeEnd);
        RuntimeDirectory = Path.Combine(Path.GetTempPath(), Instance);
        var collection = new ServiceCollection().AddLogging(b => b.SetMinimumLevel(LogLevel.Debug));
        services?.Invoke(collection);
        _provider = collection
            .AddTtydSessions(o =>
            {
                o.PortRangeStart = rangeStart;
                o.PortRangeEnd = rangeEnd;
                o.InstanceName = Instance;
                o.RuntimeDirectory = RuntimeDirectory;
                o.StopGracePeriod = TimeSpan.FromSeconds(2);
                configure?.Invoke(o);
            })
            .Services.BuildServiceProvider();
        Manager = _provider.GetRequiredService<ITtydSessionManager>();
        Manager.AdoptAsync().AsTask().GetAwaiter().GetResult(); // what the hosted service does as a host starts
        Supervisor = _provider.GetRequiredService<IProcessSupervisor>();
        Ports = _provider.GetRequiredService<IPortAllocator>();
    }

    public string Instance { get; }
    public string RuntimeDirectory { get; }
    public int RangeStart { get; }
    public int RangeEnd { get; }
    public string Range => $"{RangeStart}-{RangeEnd}";
    public ITtydSessionManager Manager { get; }
    public IProcessSupervisor Supervisor { get; }
    public IPortAllocator Ports { get; }

    /// <summary>Whether anything listens on <paramref name="port"/> of the loopback address (the health model's probe).</summary>
    public static bool IsListening(int port)
    {
        using var probe = new ListenerProbe(System.Net.IPAddress.Loopback);
        return probe.IsListening(port);
    }

    /// <summary>ttyd processes of this instance, read from the machine (children that inherit the markers are not counted).</summary>
    public IReadOnlyList<MarkedProcess> TtydProcesses()
    {
        var marked = Supervisor.FindMarkedProcesses("TTYDPORTS_", "TTYDPORTS_INSTANCE", Instance);
        var pids = marked.Select(m => m.Process.ProcessId).ToHashSet();
        var ttyd = Native.ResolveExecutable("ttyd");

        // A persistent shell's tmux server and an observer ttyd carry the markers too; they are not sessions.
        return [.. marked.Where(m => !pids.Contains(m.ParentProcessId) && m.ExecutablePath == ttyd && !m.Markers.ContainsKey("TTYDPORTS_ROLE"))];
    }

    /// <summary>Every process of this instance (ttyd, tmux servers, observers, docker clients): none may outlive a cleanup.</summary>
    public IReadOnlyList<MarkedProcess> AllProcesses() => Supervisor.FindMarkedProcesses("TTYDPORTS_", "TTYDPORTS_INSTANCE", Instance);

    /// <summary>The tmux servers of this instance (daemonized: their parent carries no markers).</summary>
    public IReadOnlyList<MarkedProcess> TmuxServers()
    {
        var tmux = Native.ResolveExecutable("tmux");
        return [.. AllProcesses().Where(m => m.ExecutablePath == tmux && !m.Markers.ContainsKey("TTYDPORTS_ROLE") && !AllProcesses().Any(p => p.Process.ProcessId == m.ParentProcessId))];
    }

    /// <summary>The observer ttyd processes (read-only watchers' terminals) of this instance's sessions.</summary>
    public IReadOnlyList<MarkedProcess> Observers()
    {
        var all = AllProcesses();
        var pids = all.Select(m => m.Process.ProcessId).ToHashSet();
        return [.. all.Where(m => m.Markers.GetValueOrDefault("TTYDPORTS_ROLE") == TtydProcessDiscovery.ObserverRole && !pids.Contains(m.ParentProcessId))]; // not their tmux clients
    }

    /// <summary>The recorders (tmux control-mode clients) of this instance's sessions.</summary>
    public IReadOnlyList<MarkedProcess> Recorders() =>
        [.. AllProcesses().Where(m => m.Markers.GetValueOrDefault("TTYDPORTS_ROLE") == TtydProcessDiscovery.RecorderRole)];

    /// <summary>Ensures the container's session, which must be started (not refused for want of a port).</summary>
    public async Task<TtydSession> StartAsync(string container, string user, string? topology = null)
    {
        var session = await Manager.EnsureSessionAsync(container, user, topology, TestContext.Current.CancellationToken);
        Assert.NotNull(session);
        return session;
    }

    public bool IsAlive(TtydSession session) => Supervisor.IsAlive(session.Process);

    /// <summary>Ends this manager the way a host stops gracefully: its sessions keep running, for the next manager to adopt.</summary>
    public async ValueTask AbandonAsync()
    {
        _abandoned = true;
        await _provider.DisposeAsync();
    }

    public async ValueTask DisposeAsync()
    {
        if (_abandoned)
        {
            return;
        }

        var result = await Manager.CleanupAllAsync();
        var left = Supervisor.FindMarkedProcesses("TTYDPORTS_", "TTYDPORTS_INSTANCE", Instance);
        await _provider.DisposeAsync();
        // Session files must be gone; the instance key stays, by design, for the next run to verify its markers.
        var files = Directory.Exists(RuntimeDirectory) ? Directory.GetFiles(RuntimeDirectory).Where(f => !f.EndsWith(".key", StringComparison.Ordinal)).ToArray() : [];
        if (Directory.Exists(RuntimeDirectory))
        {
            Directory.Delete(RuntimeDirectory, recursive: true);
        }

        Assert.True(result.Succeeded, $"cleanup failed: {string.Join("; ", result.Failed.Select(f => f.Error.Message))}");
        Assert.Empty(left);
        Assert.Empty(files);
    }
}
