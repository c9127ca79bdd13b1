using System.Net;
using Microsoft.Extensions.Options;
using Microsoft.Extensions.Time.Testing;
using Moq;

namespace TtydPorts.Tests;

/// <summary>A manager over Moq mocks of its four parts, with a simple model of ports and processes.</summary>
internal sealed class ManagerHarness
{
    public Mock<IPortAllocator> Ports { get; } = new(MockBehavior.Strict);
    public Mock<IProcessSupervisor> Supervisor { get; } = new(MockBehavior.Strict);
    public Mock<IContainerRuntime> Runtime { get; } = new(MockBehavior.Strict);
    public FakeTimeProvider Time { get; } = new(new DateTimeOffset(2026, 11, 26, 8, 0, 0, TimeSpan.Zero));
    // Persistent shells are covered by the launch builder's tests and the integration tests; here ttyd runs the shell itself.
    public TtydSessionOptions Options { get; } = new() { RuntimeDirectory = Path.Combine(Path.GetTempPath(), "ttydports-unit-" + Guid.NewGuid().ToString("N")), PersistentShells = false };

    public HashSet<int> Reserved { get; } = [];
    public HashSet<int> Alive { get; } = [];
    public HashSet<int> Stopped { get; } = [];
    public HashSet<int> Frozen { get; } = [];
    public List<ProcessLaunch> Launches { get; } = [];
    public Queue<int> FreePorts { get; } = new([8000, 8001, 8002, 8003, 8004, 8005, 8006, 8007]);
    public List<MarkedProcess> Marked { get; } = [];
    public List<MarkedProcess> Execs { get; } = [];

    /// <summary>The terminals whose leftovers the manager asked the runtime to end, in order.</summary>
    public List<ContainerTerminal> Ended { get; } = [];
    private int _nextPid = 1000;

    public ManagerHarness()
    {
        Ports.SetupGet(p => p.RangeStart).Returns(8000);
        Ports.SetupGet(p => p.RangeEnd).Returns(8007);
        Ports.SetupGet(p => p.ReservedCount).Returns(() => Reserved.Count);
        int ignored;
        Ports.Setup(p => p.TryAcquire(out ignored)).Returns(new TryAcquireDelegate((out int port) =>
        {
            lock (Reserved)
            {
                if (FreePorts.Count == 0)
                {
                    port = 0;
                    return false;
                }

                port = FreePorts.Dequeue();
                Reserved.Add(port);
                return true;
            }
        }));
        Ports.Setup(p => p.TryAcquire(It.IsAny<int>())).Returns((int port) => { lock (Reserved) { return Reserved.Add(port); } });
        Ports.Setup(p => p.Release(It.IsAny<int>())).Callback((int port) => { lock (Reserved) { Reserved.Remove(port); } });

        Supervisor.Setup(s => s.StartAsync(It.IsAny<ProcessLaunch>(), It.IsAny<CancellationToken>()))
            .Returns((ProcessLaunch launch, CancellationToken _) => Task.FromResult(Spawn(launch)));
        Supervisor.Setup(s => s.IsAlive(It.IsAny<ProcessIdentity>())).Returns((ProcessIdentity p) => { lock (Alive) { return Alive.Contains(p.ProcessId); } });
        Supervisor.Setup(s => s.IsStopped(It.IsAny<ProcessIdentity>())).Returns((ProcessIdentity p) => { lock (Alive) { return Stopped.Contains(p.ProcessId); } });
        Supervisor.Setup(s => s.StopAsync(It.IsAny<ProcessIdentity>(), It.IsAny<TimeSpan>(), It.IsAny<CancellationToken>()))
            .Returns((ProcessIdentity p, TimeSpan _, CancellationToken _) => { lock (Alive) { return Task.FromResult(Alive.Remove(p.ProcessId)); } });
        Supervisor.Setup(s => s.FindMarkedProcesses(It.IsAny<string>(), "TTYDPORTS_INSTANCE", It.IsAny<string?>())).Returns(() => Marked);
        Supervisor.Setup(s => s.FindMarkedProcesses(It.IsAny<string>(), "TTYDPORTS_EXEC", It.IsAny<string?>())).Returns(() => Execs);
        Supervisor.Setup(s => s.FindMarkedProcesses(It.IsAny<string>(), "TTYDPORTS_SESSION", It.IsAny<string?>())).Returns(() => []);

        Runtime.Setup(i => i.GetContainerAsync(It.IsAny<string>(), It.IsAny<CancellationToken>()))
            .Returns((string name, CancellationToken _) => Task.FromResult<ContainerInfo?>(Info(name)));

        // Exec lines and leftovers as the Docker runtime makes and ends them, over the mocked supervisor: no engine is asked.
        // A socket of its own, not Docker's default, so that an exec line pinned to the default would show.
        // Made at first use: a test may still add interfaces to the supervisor's mock until then.
        var docker = new Lazy<DockerRuntime>(() => new DockerRuntime(new EngineEndpoint { Uri = "unix:///run/lab/docker.sock", SocketPath = "/run/lab/docker.sock" }, "docker", Supervisor.Object));
        Runtime.SetupGet(r => r.Name).Returns("docker");
        Runtime.SetupGet(r => r.Endpoint).Returns("unix:///run/lab/docker.sock");
        Runtime.Setup(r => r.CreateExec(It.IsAny<ContainerExecRequest>())).Returns((ContainerExecRequest request) => docker.Value.CreateExec(request));
        Runtime.Setup(r => r.EndTerminalsAsync(It.IsAny<IReadOnlyCollection<ContainerTerminal>>(), It.IsAny<CancellationToken>()))
            .Returns((IReadOnlyCollection<ContainerTerminal> terminals, CancellationToken ct) => { Ended.AddRange(terminals); return docker.Value.EndTerminalsAsync(terminals, ct); });
    }

    public delegate bool TryAcquireDelegate(out int port);

    /// <summary>How often each name was (re)created; a new generation is another container under the same name.</summary>
    public Dictionary<string, int> Generations { get; } = [];

    public ContainerInfo Info(string name) => Container(name, generation: Generations.GetValueOrDefault(name, 1));

    public static ContainerInfo Container(string name, string state = "running", int generation = 1) => new() { Id = IdOf(name, generation), Name = name, State = state };

    public static string IdOf(string name, int generation = 1) =>
        Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(System.Text.Encoding.UTF8.GetBytes($"{name}#{generation}")));

    public ProcessIdentity Spawn(ProcessLaunch launch)
    {
        lock (Alive)
        {
            Launches.Add(launch);
            var pid = _nextPid++;
            Alive.Add(pid);
            return new ProcessIdentity(pid, (ulong)pid * 10);
        }
    }

    public Dictionary<int, int> Clients { get; } = [];

    private int _clientCounts;

    /// <summary>How often the manager read the clients of its ports.</summary>
    public int ClientCounts => Volatile.Read(ref _clientCounts);

    public TtydSessionManager Create(System.Diagnostics.Metrics.IMeterFactory? meters = null) =>
        WithSeams(new(Ports.Object, Supervisor.Object, Runtime.Object, Microsoft.Extensions.Options.Options.Create(Options), Time, null, meters));

    /// <summary>Points the manager's machine probes at this harness's model of processes and ports.</summary>
    public TtydSessionManager WithSeams(TtydSessionManager manager)
    {
        manager.AnswersProbe = (session, _) => { lock (Alive) { return Task.FromResult(!Frozen.Contains(session.ProcessId)); } };
        manager.IsPortListening = port => { lock (Reserved) { return Reserved.Contains(port); } }; // a reserved port's ttyd listens
        manager.CountPortClients = () => { Interlocked.Increment(ref _clientCounts); return new Dictionary<int, int>(Clients); };
        return manager;
    }

    public static int PortOf(ProcessLaunch launch) => int.Parse(launch.Arguments[launch.Arguments.IndexOf("-p") + 1], System.Globalization.CultureInfo.InvariantCulture);

    public static IPAddress Loopback => IPAddress.Loopback;
}
