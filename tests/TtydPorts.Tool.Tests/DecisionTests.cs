using System.Globalization;
using System.Net;
using System.Text;
using Microsoft.Extensions.Time.Testing;
using Moq;
using TtydPorts.Tool.Cleanup;
using TtydPorts.Tool.Commands;
using TtydPorts.Tool.Machine;

namespace TtydPorts.Tool.Tests;

/// <summary>The tool's decisions over Moq mocks of the library's abstractions and the tool's process table: no processes, no engine.</summary>
public sealed class DecisionTests : IDisposable
{
    private const string Ttyd = "/usr/local/bin/ttyd";
    private static readonly DateTimeOffset Now = new(2026, 1, 1, 12, 0, 0, TimeSpan.Zero);
    private readonly Mock<IProcessSupervisor> _supervisor = new(MockBehavior.Strict);
    private readonly Mock<IContainerInventory> _inventory = new(MockBehavior.Strict);
    private readonly Mock<IHostProcessTable> _table = new(MockBehavior.Strict);
    private readonly List<MarkedProcess> _marked = [];
    private readonly List<Listener> _listeners = [];
    private readonly List<HostProcess> _foreign = [];
    private readonly List<ContainerInfo> _containers = [];
    private readonly StringWriter _out = new();
    private readonly StringWriter _error = new();

    // A real runtime folder with instance keys: the tool believes only markers signed with them.
    private readonly RuntimeFolder _folder = new(Path.Combine(Path.GetTempPath(), "tp-decisions-" + Guid.NewGuid().ToString("N")[..8]), Native.geteuid());

    public void Dispose()
    {
        if (Directory.Exists(_folder.Path))
        {
            Directory.Delete(_folder.Path, recursive: true);
        }
    }

    public DecisionTests()
    {
        _supervisor.Setup(s => s.FindMarkedProcesses(TtydProcessDiscovery.MarkerPrefix, "TTYDPORTS_INSTANCE", null)).Returns(() => [.. _marked]);
        _supervisor.Setup(s => s.FindMarkedProcesses(TtydProcessDiscovery.MarkerPrefix, "TTYDPORTS_SESSION", It.IsAny<string?>())).Returns(() => []);
        _supervisor.Setup(s => s.IsAlive(It.IsAny<ProcessIdentity>())).Returns(true);
        _supervisor.Setup(s => s.IsStopped(It.IsAny<ProcessIdentity>())).Returns(false);
        _supervisor.Setup(s => s.StopAsync(It.IsAny<ProcessIdentity>(), It.IsAny<TimeSpan>(), It.IsAny<CancellationToken>())).ReturnsAsync(true);
        _inventory.Setup(i => i.ListContainersAsync(It.IsAny<CancellationToken>())).ReturnsAsync(() => [.. _containers]);
        _table.Setup(t => t.ReadListeners()).Returns(() => [.. _listeners]);
        _table.Setup(t => t.FindForeignTtyd()).Returns(() => [.. _foreign]);
        _table.Setup(t => t.OwnLineage()).Returns(new HashSet<int> { 1, 4242 });
    }

    private ProcessIdentity Session(int pid, string container, string user, string? topology = null, string instance = "lab", bool listening = true, bool containerExists = true, TerminalCommand? command = null)
    {
        var markers = new Dictionary<string, string>
        {
            ["TTYDPORTS_INSTANCE"] = instance,
            ["TTYDPORTS_SESSION"] = pid.ToString("x32", CultureInfo.InvariantCulture),
            ["TTYDPORTS_CONTAINER"] = container,
            ["TTYDPORTS_USER"] = user,
            ["TTYDPORTS_PORT"] = (8000 + pid % 1000).ToString(CultureInfo.InvariantCulture),
            ["TTYDPORTS_STARTED"] = Now.AddMinutes(-5).ToUnixTimeMilliseconds().ToString(CultureInfo.InvariantCulture),
        };
        if (topology is not null)
        {
            markers["TTYDPORTS_TOPOLOGY"] = topology;
        }

        if (command is not null)
        {
            markers["TTYDPORTS_COMMAND"] = CommandMarkerCodec.Encode(command);
        }

        markers[SessionAdoption.RuntimeMarker] = _folder.Path;
        markers[SessionAdoption.ExecutableMarker] = Ttyd;
        markers[MarkerSignature.Marker] = MarkerSignature.Compute(_folder.GetOrCreateKey(instance), markers);
        var identity = new ProcessIdentity(pid, (ulong)pid * 10);
        // In the tool's own mount namespace, as a host's ttyd is: the tool run as root believes a root session only there.
        _marked.Add(new MarkedProcess { Process = identity, ParentProcessId = 1, Markers = markers, OwnerUid = Native.geteuid(), ExecutablePath = Ttyd, MountNamespace = ProcFs.ReadOwnMountNamespace() });
        if (listening)
        {
            _listeners.Add(new Listener(IPAddress.Loopback, 8000 + pid % 1000, [new HostProcess(identity, "ttyd ...")]));
        }

        if (containerExists)
        {
            _containers.Add(new ContainerInfo { Id = "id-" + container, Name = container, State = "running", Labels = new Dictionary<string, string>() });
        }

        return identity;
    }

    private ProcessIdentity Foreign(int pid)
    {
        var identity = new ProcessIdentity(pid, (ulong)pid * 10);
        _foreign.Add(new HostProcess(identity, "ttyd -p 7681 bash"));
        return identity;
    }

    private ToolContext Context(bool terminal = false, string input = "") =>
        new(_supervisor.Object, _inventory.Object, _table.Object, new FakeTimeProvider(Now), _out, _error, new StringReader(input), terminal);

    private Task<int> RunAsync(params string[] args) => RunWithAsync(Context(), args);

    private static Task<int> RunWithAsync(ToolContext context, params string[] args) => ToolApp.RunAsync(args, context, TestContext.Current.CancellationToken);

    private void VerifyStopped(params ProcessIdentity[] expected)
    {
        foreach (var identity in expected)
        {
            _supervisor.Verify(s => s.StopAsync(identity, It.IsAny<TimeSpan>(), It.IsAny<CancellationToken>()), Times.Once);
        }

        _supervisor.Verify(s => s.StopAsync(It.IsAny<ProcessIdentity>(), It.IsAny<TimeSpan>(), It.IsAny<CancellationToken>()), Times.Exactly(expected.Length));
    }

    [Fact]
    public async Task Default_cleanup_stops_orphans_and_sessions_not_listening_and_keeps_healthy_ones()
    {
        Session(101, "healthy", "alice");
        var orphan = Session(102, "removed", "alice", containerExists: false);
        var deaf = Session(103, "deaf", "bob", listening: false);
        Foreign(900);

        Assert.Equal(0, await RunAsync("cleanup"));

        VerifyStopped(orphan, deaf);
        _table.Verify(t => t.FindForeignTtyd(), Times.Never);
        Assert.Contains("orphan: its container is gone", _out.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Filters_combine_and_match_exactly()
    {
        var a = Session(101, "c1", "alice", "t1");
        Session(102, "c2", "alice1", "t1");
        Session(103, "c3", "alice", "t2");

        Assert.Equal(0, await RunAsync("cleanup", "--user", "alice", "--topology", "t1"));

        VerifyStopped(a);
    }

    [Fact]
    public async Task Instance_scope_keeps_other_instances_even_with_all()
    {
        var mine = Session(101, "c1", "alice", instance: "lab");
        Session(102, "c2", "alice", instance: "other");

        Assert.Equal(0, await RunAsync("cleanup", "--all", "--instance", "lab"));

        VerifyStopped(mine);
    }

    [Fact]
    public async Task Sessions_with_forged_markers_are_neither_listed_nor_stopped_even_with_all()
    {
        var real = Session(101, "c1", "alice");
        Session(102, "c2", "bob");
        Session(103, "c3", "carol");
        Session(104, "c4", "dave");
        _marked[1] = _marked[1] with { Markers = _marked[1].Markers.Where(m => m.Key != MarkerSignature.Marker).ToDictionary() };
        _marked[2] = _marked[2] with { OwnerUid = Native.geteuid() + 4242 };
        _marked[3] = _marked[3] with { ExecutablePath = "/usr/bin/sleep" }; // a docker exec child left behind, or a copy

        Assert.Equal(0, await RunAsync("cleanup", "--all"));

        VerifyStopped(real);
        Assert.DoesNotContain("c2", _out.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_process_whose_runtime_marker_is_empty_or_a_link_loop_is_reported_and_status_and_cleanup_go_on_with_the_others()
    {
        var healthy = Session(101, "c1", "alice");
        var orphan = Session(102, "c2", "bob", containerExists: false);
        Session(103, "c3", "carol");
        Session(104, "c4", "dave");
        var loop = _folder.Path + "-loop";
        File.CreateSymbolicLink(loop, loop); // a link to itself, owned by the tool's user
        try
        {
            _marked[2] = _marked[2] with { Markers = new Dictionary<string, string>(_marked[2].Markers) { [SessionAdoption.RuntimeMarker] = "" } };
            _marked[3] = _marked[3] with { Markers = new Dictionary<string, string>(_marked[3].Markers) { [SessionAdoption.RuntimeMarker] = loop + "/x" } };

            Assert.Equal(0, await RunAsync("status"));
            Assert.Equal(0, await RunAsync("cleanup"));

            VerifyStopped(orphan);
            Assert.Contains("c1", _out.ToString(), StringComparison.Ordinal);
            Assert.DoesNotContain("c3", _out.ToString(), StringComparison.Ordinal);
            Assert.DoesNotContain("c4", _out.ToString(), StringComparison.Ordinal);
            var error = _error.ToString();
            Assert.Contains("pid 103 ", error, StringComparison.Ordinal);
            Assert.Contains("runtime folder marker is empty", error, StringComparison.Ordinal);
            Assert.Contains("pid 104 ", error, StringComparison.Ordinal);
            Assert.Contains("cannot be followed", error, StringComparison.Ordinal);
            Assert.DoesNotContain($"pid {healthy.ProcessId} ", error, StringComparison.Ordinal);
        }
        finally
        {
            File.Delete(loop);
        }
    }

    [Fact]
    public async Task Dry_run_signals_nothing()
    {
        Session(101, "c1", "alice", containerExists: false);
        Foreign(900);

        Assert.Equal(0, await RunAsync("cleanup", "--all", "--foreign", "--dry-run"));

        VerifyStopped();
        Assert.Contains("Would stop 2 ttyd processes", _out.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Foreign_without_yes_and_without_a_terminal_is_refused_before_reading_anything()
    {
        Foreign(900);

        Assert.Equal(2, await RunAsync("cleanup", "--foreign"));

        VerifyStopped();
        _supervisor.Verify(s => s.FindMarkedProcesses(It.IsAny<string>(), It.IsAny<string>(), It.IsAny<string?>()), Times.Never);
        Assert.Contains("--yes", _error.ToString(), StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("n", 1, false)]
    [InlineData("", 1, false)]
    [InlineData("yes", 0, true)]
    [InlineData("Y", 0, true)]
    public async Task Foreign_on_a_terminal_stops_foreign_ttyd_only_when_the_answer_is_yes(string answer, int exitCode, bool stops)
    {
        var foreign = Foreign(900);

        Assert.Equal(exitCode, await RunWithAsync(Context(terminal: true, input: answer + "\n"), "cleanup", "--foreign"));

        if (stops)
        {
            VerifyStopped(foreign);
        }
        else
        {
            VerifyStopped();
        }
    }

    [Fact]
    public async Task The_ttyd_this_command_runs_under_is_never_stopped_and_is_reported()
    {
        Foreign(4242); // an ancestor of the tool: the terminal it was typed in
        var other = Foreign(900);

        Assert.Equal(1, await RunAsync("cleanup", "--foreign", "--yes"));

        VerifyStopped(other);
        Assert.Contains("pid 4242", _error.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_process_that_survives_is_listed_and_exits_1()
    {
        var stubborn = Session(101, "c1", "alice");
        var fine = Session(102, "c2", "alice");
        _supervisor.Setup(s => s.StopAsync(stubborn, It.IsAny<TimeSpan>(), It.IsAny<CancellationToken>()))
            .ThrowsAsync(new ProcessStopException("Processes 101 of the tree of pid 101 survived SIGKILL."));

        Assert.Equal(1, await RunAsync("cleanup", "--all"));

        VerifyStopped(stubborn, fine);
        Assert.Contains("could not stop pid 101", _error.ToString(), StringComparison.Ordinal);
        Assert.Contains("survived SIGKILL", _error.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Without_the_engine_default_cleanup_stops_only_unhealthy_sessions_and_exits_1()
    {
        Session(101, "maybe-gone", "alice", containerExists: false);
        var deaf = Session(102, "deaf", "alice", listening: false);
        _inventory.Setup(i => i.ListContainersAsync(It.IsAny<CancellationToken>())).ThrowsAsync(new ContainerEngineException("no engine"));

        Assert.Equal(1, await RunAsync("cleanup"));

        VerifyStopped(deaf);
        Assert.Contains("no engine", _error.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_listener_whose_owner_cannot_be_read_keeps_the_session_healthy()
    {
        var identity = Session(101, "c1", "alice", listening: false);
        _listeners.Add(new Listener(IPAddress.Any, 8101, []));

        Assert.Equal(0, await RunAsync("cleanup"));

        VerifyStopped();
        Assert.NotEqual(default, identity);
    }

    [Fact]
    public async Task Command_lines_and_markers_from_the_machine_reach_the_terminal_escaped_in_every_command()
    {
        Session(101, "c1", "alice", containerExists: false, command: new TerminalCommand { Arguments = ["sh", "-c", "\u001b]0;owned\u0007"] });
        _foreign.Add(new HostProcess(new ProcessIdentity(900, 9000), "ttyd -p 8500 \u001b[2J\u001b[Hfake prompt"));
        _listeners.Add(new Listener(IPAddress.Loopback, 8600, [new HostProcess(new ProcessIdentity(901, 9010), "nc -l \u009b8m")]));

        Assert.Equal(0, await RunAsync("status"));
        Assert.Equal(0, await RunAsync("ports", "--range", "8000-9000"));
        Assert.Equal(0, await RunAsync("cleanup", "--foreign", "--dry-run", "--range", "8000-9000"));

        Assert.DoesNotContain(_out.ToString() + _error.ToString(), c => char.IsControl(c) && c is not '\n' and not '\r');
        Assert.Contains("\\x1b]0;owned\\x07", _out.ToString(), StringComparison.Ordinal); // shown, escaped
        Assert.Contains("foreign ttyd: ttyd -p 8500 \\x1b[2J\\x1b[Hfake prompt", _out.ToString(), StringComparison.Ordinal);
        Assert.Contains("nc -l \\x9b8m", _out.ToString(), StringComparison.Ordinal);
    }

    private const string TcpHeader = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n";

    [Theory]
    [InlineData("   1: 0100007F:1F40 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 123456 1 0000000000000000 100 0 0 10 0", "127.0.0.1", 8000, "123456")]
    [InlineData("   0: 00000000:4E20 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 42 1 0000000000000000 100 0 0 10 0", "0.0.0.0", 20000, "42")]
    [InlineData("   0: 00000000000000000000000001000000:1F90 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 77 1", "::1", 8080, "77")]
    public void Listening_sockets_are_read_from_the_kernels_table(string line, string address, int port, string inode)
    {
        var parsed = Assert.Single(ProcFs.ParseTcpTable(Encoding.ASCII.GetBytes(TcpHeader + line), readAddress: true));

        Assert.Equal(ProcFs.TcpListen, parsed.State);
        Assert.Equal((IPAddress.Parse(address), port, inode), (parsed.LocalAddress, parsed.LocalPort, parsed.Inode.ToString(CultureInfo.InvariantCulture)));
    }

    [Fact]
    public void Connections_that_do_not_listen_are_not_listeners()
    {
        var line = "   2: 0100007F:1F40 0100007F:D2A4 01 00000000:00000000 00:00000000 00000000     0        0 99 1";

        Assert.DoesNotContain(ProcFs.ParseTcpTable(Encoding.ASCII.GetBytes(TcpHeader + line), readAddress: true), s => s.State == ProcFs.TcpListen);
    }

    [Fact]
    public void Process_names_with_spaces_and_parentheses_do_not_shift_the_stat_fields()
    {
        var stat = "4711 (my (odd) name) S 1 4711 4711 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 987654 1000 100 18446744073709551615";

        static (bool, int, ulong)? Parse(string text) =>
            ProcFs.ParseStat(Encoding.ASCII.GetBytes(text)) is { } s ? (s.HasExited, s.ParentId, s.StartTime) : null;

        Assert.Equal((false, 1, 987654UL), Parse(stat));
        Assert.Equal((true, 1, 987654UL), Parse(stat.Replace(") S ", ") Z ", StringComparison.Ordinal)));
    }

    [Theory]
    [InlineData("0.0.0.0", "127.0.0.1", true)]
    [InlineData("127.0.0.1", "127.0.0.1", true)]
    [InlineData("::", "127.0.0.1", true)]
    [InlineData("10.0.0.5", "127.0.0.1", false)]
    [InlineData("127.0.0.1", "0.0.0.0", true)]
    [InlineData("::ffff:127.0.0.1", "127.0.0.1", true)]
    [InlineData("::1", "127.0.0.1", false)]
    public void A_listener_conflicts_with_the_bind_address_when_their_addresses_overlap(string listener, string bind, bool conflicts)
    {
        Assert.Equal(conflicts, MachineReader.Conflicts(IPAddress.Parse(listener), IPAddress.Parse(bind)));
    }
}
