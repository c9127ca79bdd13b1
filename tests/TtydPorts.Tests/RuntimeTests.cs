using Moq;

namespace TtydPorts.Tests;

/// <summary>The built-in runtimes' pure parts: exec lines per engine, and ending leftovers on this machine in one look.</summary>
public sealed class RuntimeTests
{
    private static readonly string Id = new('c', 64);
    private static readonly string MarkerA = new('a', 32);
    private static readonly string MarkerB = new('b', 32);

    private static readonly EngineEndpoint Local = new() { Uri = "unix:///var/run/docker.sock", SocketPath = "/var/run/docker.sock" };

    private static readonly EngineEndpoint Remote = new() { Uri = "tcp://lab-engine:2376", Host = "lab-engine", Port = 2376, CertificateFolder = "/srv/certs" };

    [Fact]
    public void A_remote_docker_engines_exec_line_carries_tls_verification_with_the_same_certificates()
    {
        var exec = new DockerRuntime(Remote, "/usr/bin/docker", new Mock<IProcessSupervisor>(MockBehavior.Strict).Object)
            .CreateExec(new ContainerExecRequest { ContainerId = Id, Command = TerminalCommand.Of("vtysh") with { User = "frr" }, Marker = MarkerA });

        Assert.Equal(["/usr/bin/docker", "--host", "tcp://lab-engine:2376", "--tlsverify", "--tlscacert", "/srv/certs/ca.pem", "--tlscert", "/srv/certs/cert.pem", "--tlskey", "/srv/certs/key.pem",
            "exec", "-it", "-e", $"TTYDPORTS_EXEC={MarkerA}", "-u", "frr", Id, "vtysh"], exec.Arguments);
        Assert.Equal("1", exec.Environment["DOCKER_TLS_VERIFY"]);
        Assert.Equal("/srv/certs", exec.Environment["DOCKER_CERT_PATH"]);
    }

    [Theory]
    [InlineData("node1", "0123456789abcdef0123456789abcdef")]
    [InlineData("cccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccc", "not-a-marker")]
    public void An_exec_for_a_name_instead_of_an_id_or_without_a_proper_marker_is_refused_naming_the_value(string id, string marker)
    {
        var runtime = new DockerRuntime(Local, "docker", new Mock<IProcessSupervisor>(MockBehavior.Strict).Object);

        var error = Assert.Throws<ArgumentException>(() => runtime.CreateExec(new ContainerExecRequest { ContainerId = id, Command = TerminalCommand.Of("sh"), Marker = marker }));

        Assert.Contains($"'{(id == "node1" ? id : marker)}'", error.Message, StringComparison.Ordinal);
        Assert.NotNull(runtime.CreateExec(new ContainerExecRequest { ContainerId = Id, Command = TerminalCommand.Of("sh"), Marker = MarkerA })); // control
    }

    [Fact]
    public async Task Ending_a_batch_on_this_machine_looks_once_and_stops_only_the_batchs_marked_processes()
    {
        var supervisor = new Mock<IProcessSupervisor>(MockBehavior.Strict);
        MarkedProcess Marked(int pid, string marker) => new() { Process = new ProcessIdentity(pid, 1), ParentProcessId = 1, Markers = new Dictionary<string, string> { ["TTYDPORTS_EXEC"] = marker } };
        supervisor.Setup(s => s.FindMarkedProcesses("TTYDPORTS_", "TTYDPORTS_EXEC", null)).Returns([Marked(11, MarkerA), Marked(12, MarkerB), Marked(13, new string('d', 32))]);
        var stopped = new List<int>();
        supervisor.Setup(s => s.StopAsync(It.IsAny<ProcessIdentity>(), It.IsAny<TimeSpan>(), It.IsAny<CancellationToken>()))
            .Returns((ProcessIdentity p, TimeSpan _, CancellationToken _) => { lock (stopped) { stopped.Add(p.ProcessId); } return Task.FromResult(true); });
        var runtime = new DockerRuntime(Local, "docker", supervisor.Object);

        await runtime.EndTerminalsAsync(
            [new ContainerTerminal { Container = "n1", ContainerId = Id, Marker = MarkerA }, new ContainerTerminal { Container = "n2", ContainerId = Id, Marker = MarkerB }],
            TestContext.Current.CancellationToken);

        Assert.Equal([11, 12], stopped.Order());
        supervisor.Verify(s => s.FindMarkedProcesses(It.IsAny<string>(), It.IsAny<string>(), It.IsAny<string?>()), Times.Once);
    }
}
