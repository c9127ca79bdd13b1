using System.Collections.Immutable;
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

    private const string Client = "/usr/local/lib/ttydports/ttydports-exec";

    private static readonly EngineEndpoint PodmanSocket = new() { Uri = "unix:///run/podman/podman.sock", SocketPath = "/run/podman/podman.sock" };

    private static readonly TerminalCommand Everything = new()
    {
        Arguments = ["sh", "-c", "echo \"$1\"", "a b", "--user", "-e"],
        User = "frr:frr",
        WorkingDirectory = "/srv/lab",
        Environment = ImmutableDictionary<string, string>.Empty.Add("Z_LAST", "z").Add("A_FIRST", "x y"),
    };

    [Fact]
    public void With_an_exec_client_a_docker_socket_engine_opens_the_terminal_through_the_client_with_the_same_exec()
    {
        var exec = new DockerRuntime(Local, "/usr/bin/docker", new Mock<IProcessSupervisor>(MockBehavior.Strict).Object, execClientPath: Client)
            .CreateExec(new ContainerExecRequest { ContainerId = Id, Command = Everything, Marker = MarkerA, TerminalType = "screen-256color" });

        // Options before the id, "--" before the command: an argument that looks like an option stays the command's.
        Assert.Equal([Client, "--socket", "/var/run/docker.sock", "--user", "frr:frr", "--workdir", "/srv/lab", "-e", $"TTYDPORTS_EXEC={MarkerA}",
            "-e", "A_FIRST=x y", "-e", "Z_LAST=z", "-e", "TERM=screen-256color", Id, "--", "sh", "-c", "echo \"$1\"", "a b", "--user", "-e"], exec.Arguments);
        Assert.Empty(exec.Environment);
    }

    [Fact]
    public void With_an_exec_client_podman_uses_its_own_socket_and_without_one_keeps_its_cli()
    {
        var request = new ContainerExecRequest { ContainerId = Id, Command = TerminalCommand.Of("sh"), Marker = MarkerB };

        var client = new PodmanRuntime(PodmanSocket, "/usr/bin/podman", new Mock<IProcessSupervisor>(MockBehavior.Strict).Object, execClientPath: Client).CreateExec(request);
        var cli = new PodmanRuntime(PodmanSocket, "/usr/bin/podman", new Mock<IProcessSupervisor>(MockBehavior.Strict).Object).CreateExec(request);

        Assert.Equal([Client, "--socket", "/run/podman/podman.sock", "-e", $"TTYDPORTS_EXEC={MarkerB}", Id, "--", "sh"], client.Arguments);
        Assert.Equal(["/usr/bin/podman", "--remote", "--url", "unix:///run/podman/podman.sock", "exec", "-it", "-e", $"TTYDPORTS_EXEC={MarkerB}", Id, "sh"], cli.Arguments);
    }

    [Fact]
    public void An_empty_exec_client_path_as_configuration_writes_it_means_the_cli()
    {
        var options = new TtydSessionOptions { DockerEndpoint = "unix:///var/run/docker.sock", DockerPath = "/usr/bin/docker", ExecClientPath = "" };
        using var runtime = ContainerRuntimes.Create(options, new Mock<IProcessSupervisor>(MockBehavior.Strict).Object);

        Assert.True(new TtydSessionOptionsRules(_ => null).Validate(null, options).Succeeded);
        Assert.Equal("/usr/bin/docker", runtime.CreateExec(new ContainerExecRequest { ContainerId = Id, Command = TerminalCommand.Of("sh"), Marker = MarkerA }).Arguments[0]);
        Assert.False(new TtydSessionOptionsRules(_ => null).Validate(null, new TtydSessionOptions { ExecClientPath = "relative/ttydports-exec" }).Succeeded); // control
    }

    [Fact]
    public void A_tcp_engine_keeps_the_docker_cli_even_with_an_exec_client()
    {
        var exec = new DockerRuntime(Remote, "/usr/bin/docker", new Mock<IProcessSupervisor>(MockBehavior.Strict).Object, execClientPath: Client)
            .CreateExec(new ContainerExecRequest { ContainerId = Id, Command = TerminalCommand.Of("sh"), Marker = MarkerA });

        Assert.Equal("/usr/bin/docker", exec.Arguments[0]);
        Assert.Contains("--tlsverify", exec.Arguments);
        Assert.DoesNotContain(Client, exec.Arguments);
    }

    [Fact]
    public void An_exec_client_path_that_is_relative_missing_not_executable_or_writable_by_others_is_refused_naming_it()
    {
        var folder = Directory.CreateTempSubdirectory("ttydports-exec-check-").FullName;
        try
        {
            var good = Path.Combine(folder, "good");
            var plain = Path.Combine(folder, "plain");
            var shared = Path.Combine(folder, "shared");
            foreach (var file in new[] { good, plain, shared })
            {
                File.WriteAllText(file, "#!/bin/true\n");
            }

            File.SetUnixFileMode(good, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute | UnixFileMode.GroupExecute | UnixFileMode.OtherExecute);
            File.SetUnixFileMode(plain, UnixFileMode.UserRead | UnixFileMode.UserWrite);
            File.SetUnixFileMode(shared, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute | UnixFileMode.OtherWrite | UnixFileMode.OtherExecute);

            Assert.Null(EngineRuntime.ExecClientProblem(good)); // control
            foreach (var (path, says) in new[] { ("ttydports-exec", "absolute"), (Path.Combine(folder, "missing"), "does not exist"), (plain, "not an executable"), (shared, "writable by other users"), (folder, "not an executable") })
            {
                var problem = EngineRuntime.ExecClientProblem(path);
                Assert.NotNull(problem);
                Assert.Contains($"ExecClientPath '{path}'", problem, StringComparison.Ordinal);
                Assert.Contains(says, problem, StringComparison.Ordinal);
            }

            // Start-up validation reports the same.
            Assert.Contains($"ExecClientPath '{shared}'", new TtydSessionOptionsRules(_ => null).Validate(null, new TtydSessionOptions { ExecClientPath = shared }).FailureMessage, StringComparison.Ordinal);
            Assert.True(new TtydSessionOptionsRules(_ => null).Validate(null, new TtydSessionOptions { ExecClientPath = good }).Succeeded);
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
    }
}
