using System.Globalization;
using Moq;
using TtydPorts.Tool.Cleanup;
using TtydPorts.Tool.Machine;

namespace TtydPorts.Tool.Tests;

/// <summary>
/// Which stopped sessions get what their terminal left in its container ended (it is found by the session's token
/// alone): the tool's own user's and root's, and another user's only when that user could use the tool's engine.
/// Over mocks of the tool's process table and the runtime: no processes, no engine.
/// </summary>
public sealed class LeftoverTrustTests
{
    private const string Endpoint = "unix:///var/run/docker.sock";
    private const uint Docker = 105, Owner = 1001;
    private static readonly FilePermissions RootFolder = new(0, 0, 0x1ED); // 0755

    // /run/docker.sock as Docker installs it: root:docker 0660 in folders everyone may search.
    private static readonly EngineSocket DockerSocket = new("/run/docker.sock", new FilePermissions(0, Docker, 0xC1B0), [RootFolder, RootFolder]);

    private readonly Mock<IHostProcessTable> _table = new(MockBehavior.Strict);

    private static SessionView View(uint owner, int pid = 101)
    {
        var token = pid.ToString("x32", CultureInfo.InvariantCulture);
        var session = new TtydSession { Container = "c" + pid, ContainerId = new string('a', 64), UserId = "alice", Process = new ProcessIdentity(pid, (ulong)pid * 10) };
        var found = new DiscoveredSession("lab", session, token) { Folder = new RuntimeFolder("/nonexistent/tp-" + token, owner) };
        return new SessionView(found, SessionHealthState.Healthy, ContainerPresence.Missing);
    }

    private LeftoverTrust Trust(uint toolUid, EngineSocket? socket, params uint[] groups)
    {
        _table.Setup(t => t.ReadEngineSocket(Endpoint)).Returns(socket);
        _table.Setup(t => t.ReadGroups(It.IsAny<ProcessIdentity>())).Returns(groups.ToHashSet());
        return new LeftoverTrust(toolUid, Endpoint, _table.Object);
    }

    [Fact]
    public void Root_trusts_its_own_sessions_without_reading_anything()
    {
        var trust = new LeftoverTrust(0, Endpoint, _table.Object);

        Assert.Null(trust.Refusal(View(0)));
        _table.VerifyNoOtherCalls();
    }

    [Fact]
    public void A_tool_not_run_as_root_trusts_its_own_users_sessions()
    {
        var trust = new LeftoverTrust(Owner, Endpoint, _table.Object);

        Assert.Null(trust.Refusal(View(Owner)));
        _table.VerifyNoOtherCalls();
    }

    [Fact]
    public void Root_does_not_trust_a_user_outside_the_engine_sockets_group_and_names_the_uid_and_the_socket()
    {
        var refusal = Trust(0, DockerSocket, Owner).Refusal(View(Owner));

        Assert.NotNull(refusal);
        Assert.Contains("uid 1001", refusal, StringComparison.Ordinal);
        Assert.Contains("/run/docker.sock (uid 0, gid 105, mode 660)", refusal, StringComparison.Ordinal);
    }

    [Fact]
    public void Root_trusts_a_user_whose_process_has_the_engine_sockets_group()
    {
        Assert.Null(Trust(0, DockerSocket, Owner, Docker).Refusal(View(Owner)));
        _table.Verify(t => t.ReadGroups(new ProcessIdentity(101, 1010)), Times.Once); // the session's own process, not another
    }

    [Fact]
    public void Root_trusts_the_owner_of_the_engine_socket()
    {
        var own = DockerSocket with { Socket = new FilePermissions(Owner, Owner, 0xC180) }; // 0600, a rootless engine's

        Assert.Null(Trust(0, own, Owner).Refusal(View(Owner)));
    }

    [Fact]
    public void The_group_does_not_help_when_a_folder_on_the_way_is_closed_to_it()
    {
        var closed = DockerSocket with { Folders = [new FilePermissions(0, 0, 0x1C0), RootFolder] }; // 0700 root

        Assert.NotNull(Trust(0, closed, Owner, Docker).Refusal(View(Owner)));
    }

    [Fact]
    public void Without_a_local_engine_socket_or_the_process_groups_another_users_session_is_not_trusted()
    {
        Assert.Contains("not a Unix socket", Trust(0, null, Owner, Docker).Refusal(View(Owner)), StringComparison.Ordinal);

        _table.Setup(t => t.ReadEngineSocket(Endpoint)).Returns(DockerSocket);
        _table.Setup(t => t.ReadGroups(It.IsAny<ProcessIdentity>())).Returns((IReadOnlySet<uint>?)null);
        Assert.Contains("could not be read", new LeftoverTrust(0, Endpoint, _table.Object).Refusal(View(Owner)), StringComparison.Ordinal);
    }

    [Fact]
    public async Task The_runner_stops_every_session_but_ends_the_leftovers_of_trusted_ones_only_and_says_why_for_the_others()
    {
        var supervisor = new Mock<IProcessSupervisor>(MockBehavior.Strict);
        supervisor.Setup(s => s.StopAsync(It.IsAny<ProcessIdentity>(), It.IsAny<TimeSpan>(), It.IsAny<CancellationToken>())).ReturnsAsync(true);
        supervisor.Setup(s => s.FindMarkedProcesses(TtydProcessDiscovery.MarkerPrefix, "TTYDPORTS_SESSION", It.IsAny<string?>())).Returns([]);
        var runtime = new Mock<IContainerRuntime>(MockBehavior.Strict);
        runtime.SetupGet(r => r.Endpoint).Returns(Endpoint);
        var ended = new List<ContainerTerminal>();
        runtime.Setup(r => r.EndTerminalsAsync(It.IsAny<IReadOnlyCollection<ContainerTerminal>>(), It.IsAny<CancellationToken>()))
            .Callback((IReadOnlyCollection<ContainerTerminal> t, CancellationToken _) => ended.AddRange(t)).Returns(Task.CompletedTask);
        _table.Setup(t => t.ReadEngineSocket(Endpoint)).Returns(DockerSocket);
        _table.Setup(t => t.ReadGroups(new ProcessIdentity(102, 1020))).Returns(new HashSet<uint> { 2002 });
        _table.Setup(t => t.ReadGroups(new ProcessIdentity(103, 1030))).Returns(new HashSet<uint> { 2003, Docker });
        var views = new[] { View(0, 101), View(2002, 102), View(2003, 103) };
        var runner = new CleanupRunner(supervisor.Object, runtime.Object, new LeftoverTrust(0, Endpoint, _table.Object));

        var results = await runner.RunAsync([.. views.Select(v => new CleanupTarget(v.Session.Process, v, null, "orphan"))], TimeSpan.Zero, TestContext.Current.CancellationToken);

        Assert.All(results, r => Assert.Equal(StopOutcome.Stopped, r.Outcome));
        Assert.Equal([views[0].Found.Token, views[2].Found.Token], ended.Select(t => t.Marker).Order());
        Assert.Equal([false, true, false], results.Select(r => r.LeftoversKept is not null));
        Assert.Contains("uid 2002", results[1].LeftoversKept, StringComparison.Ordinal);
    }
}
