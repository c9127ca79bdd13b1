using Moq;

namespace TtydPorts.Tests;

public sealed class TtydSessionManagerTests : IDisposable
{
    private readonly ManagerHarness _h = new();

    public void Dispose()
    {
        if (Directory.Exists(_h.Options.RuntimeDirectory))
        {
            Directory.Delete(_h.Options.RuntimeDirectory, recursive: true);
        }
    }

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Starts_ttyd_with_an_argument_list_that_execs_the_shell_in_the_container()
    {
        var session = await _h.Create().EnsureSessionAsync("node1", "alice", "topo1", Ct);

        Assert.NotNull(session);
        var launch = Assert.Single(_h.Launches);
        Assert.Equal(Native.ResolveExecutable("ttyd") ?? "ttyd", launch.FileName);
        Assert.Equal(["-p", "8000", "-i", "127.0.0.1", "-W", "-O", "-m", "4", "-c", $"ttydports:{session!.Credential!.Password}"], launch.Arguments[..10]);
        Assert.Equal(["docker", "--host", "unix:///run/lab/docker.sock", "exec", "-it"], launch.Arguments[10..15]);
        Assert.Equal([ManagerHarness.IdOf("node1"), "/bin/sh"], launch.Arguments[^2..]); // the id, never the name
        Assert.Equal(ManagerHarness.IdOf("node1"), session.ContainerId);
        Assert.Equal(ManagerHarness.IdOf("node1"), launch.Environment["TTYDPORTS_CONTAINER_ID"]);
        Assert.Equal("alice", launch.Environment["TTYDPORTS_USER"]);
        Assert.Equal("topo1", launch.Environment["TTYDPORTS_TOPOLOGY"]);
        Assert.Equal("default", launch.Environment["TTYDPORTS_INSTANCE"]);
        Assert.Equal(8000, session.Port);
        Assert.Equal(_h.Time.GetUtcNow(), session.StartedAt);
    }

    [Fact]
    public async Task Ttyd_gets_the_allow_listed_host_variables_what_the_host_adds_the_pinned_engine_and_the_markers_only()
    {
        var secret = "LAB_UNIT_SECRET_" + Guid.NewGuid().ToString("N");
        Environment.SetEnvironmentVariable(secret, "hunter2");
        try
        {
            _h.Options.LaunchEnvironment["LAB_PROXY"] = "http://proxy.lab:3128";

            await _h.Create().EnsureSessionAsync("node1", "alice", null, Ct);

            var environment = Assert.Single(_h.Launches).Environment;
            Assert.DoesNotContain(secret, environment.Keys);
            Assert.All(environment.Keys, name => Assert.True(
                name.StartsWith("TTYDPORTS_", StringComparison.Ordinal) || name is "PATH" or "HOME" or "LANG" or "LANGUAGE" or "LC_ALL" or "LC_CTYPE" or "LC_MESSAGES" or "TZ" or "DOCKER_CONFIG" or "DOCKER_HOST" or "LAB_PROXY",
                $"{name} is not allow-listed"));
            Assert.Equal(Environment.GetEnvironmentVariable("PATH"), environment["PATH"]);
            Assert.Equal("http://proxy.lab:3128", environment["LAB_PROXY"]);
            Assert.Equal(_h.Runtime.Object.Endpoint, environment["DOCKER_HOST"]); // what the runtime pins its client to
            Assert.Equal("unix:///run/lab/docker.sock", environment["DOCKER_HOST"]);
            Assert.Equal(["--host", "unix:///run/lab/docker.sock", "exec"], _h.Launches[0].Arguments[11..14]);
        }
        finally
        {
            Environment.SetEnvironmentVariable(secret, null);
        }
    }

    [Fact]
    public async Task By_default_each_session_has_its_own_credential_and_its_url_carries_it()
    {
        var manager = _h.Create();
        var first = await manager.EnsureSessionAsync("node1", "alice", null, Ct);
        var second = await manager.EnsureSessionAsync("node2", "alice", null, Ct);

        Assert.NotEqual(first!.Credential!.Password, second!.Credential!.Password);
        Assert.Equal($"http://ttydports:{first.Credential.Password}@127.0.0.1:{first.Port}/", first.GetUrl().ToString());
        Assert.Equal($"http://ttydports:{first.Credential.Password}@lab.example:{first.Port}/", first.GetUrl("lab.example").ToString());
    }

    [Fact]
    public async Task Unauthenticated_terminals_without_origin_check_or_client_cap_are_started_only_as_configured_and_warned_about()
    {
        (_h.Options.RequireCredentials, _h.Options.AllowUnauthenticatedLoopbackTerminals, _h.Options.CheckOrigin, _h.Options.MaxClientsPerTerminal) = (false, true, false, 0);
        var logs = new Microsoft.Extensions.Logging.Testing.FakeLogger<TtydSessionManager>();
        var manager = new TtydSessionManager(_h.Ports.Object, _h.Supervisor.Object, _h.Runtime.Object, Microsoft.Extensions.Options.Options.Create(_h.Options), _h.Time, logs);

        var session = await manager.EnsureSessionAsync("node1", "alice", null, Ct);

        Assert.Null(session!.Credential);
        Assert.Equal($"http://127.0.0.1:{session.Port}/", session.GetUrl().ToString());
        Assert.DoesNotContain("-c", _h.Launches[0].Arguments);
        Assert.DoesNotContain("-O", _h.Launches[0].Arguments);
        Assert.DoesNotContain("-m", _h.Launches[0].Arguments);
        var warning = Assert.Single(logs.Collector.GetSnapshot(), r => r.Level == Microsoft.Extensions.Logging.LogLevel.Warning);
        Assert.Contains("AllowUnauthenticatedLoopbackTerminals", warning.Message, StringComparison.Ordinal);
        Assert.Contains("any web page", warning.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_manager_with_the_default_options_logs_no_warning_about_unauthenticated_terminals()
    {
        var logs = new Microsoft.Extensions.Logging.Testing.FakeLogger<TtydSessionManager>();
        _ = new TtydSessionManager(_h.Ports.Object, _h.Supervisor.Object, _h.Runtime.Object, Microsoft.Extensions.Options.Options.Create(_h.Options), _h.Time, logs);

        Assert.Empty(logs.Collector.GetSnapshot());
    }

    [Fact]
    public async Task The_client_cap_is_passed_to_ttyd_as_its_max_clients_option()
    {
        _h.Options.MaxClientsPerTerminal = 7;

        await _h.Create().EnsureSessionAsync("node1", "alice", null, Ct);

        var arguments = _h.Launches[0].Arguments;
        Assert.Equal("7", arguments[arguments.IndexOf("-m") + 1]);
    }

    [Fact]
    public async Task Reuses_the_running_session_for_the_same_container()
    {
        var manager = _h.Create();
        var first = await manager.EnsureSessionAsync("node1", "alice", null, Ct);
        var second = await manager.EnsureSessionAsync("node1", "alice", null, Ct);

        Assert.Same(first, second);
        Assert.Single(_h.Launches);
        _h.Runtime.Verify(i => i.GetContainerAsync("node1", It.IsAny<CancellationToken>()), Times.Once);
    }

    [Fact]
    public async Task Replaces_a_session_whose_process_died_and_releases_its_port()
    {
        var manager = _h.Create();
        var first = await manager.EnsureSessionAsync("node1", "alice", null, Ct);
        lock (_h.Alive) { _h.Alive.Remove(first!.ProcessId); }

        var second = await manager.EnsureSessionAsync("node1", "alice", null, Ct);

        Assert.NotEqual(first.ProcessId, second!.ProcessId);
        Assert.DoesNotContain(first.Port, _h.Reserved);
        Assert.Contains(second.Port, _h.Reserved);
    }

    [Fact]
    public async Task Returns_null_and_starts_nothing_when_no_port_is_free()
    {
        _h.FreePorts.Clear();

        var session = await _h.Create().EnsureSessionAsync("node1", "alice", null, Ct);

        Assert.Null(session);
        Assert.Empty(_h.Launches);
        Assert.Empty(_h.Create().GetStatus().Sessions);
    }

    [Fact]
    public async Task Tries_another_port_when_ttyd_exits_early_and_releases_the_failed_one()
    {
        var calls = 0;
        _h.Supervisor.Setup(s => s.StartAsync(It.IsAny<ProcessLaunch>(), It.IsAny<CancellationToken>()))
            .Returns((ProcessLaunch launch, CancellationToken _) => ++calls == 1
                ? Task.FromException<ProcessIdentity>(new ProcessLaunchException(LaunchFailure.ExitedEarly, "ERROR on binding", 1, "ERROR on binding fd 7 to port 8000 (-1 98)"))
                : Task.FromResult(_h.Spawn(launch)));

        var session = await _h.Create().EnsureSessionAsync("node1", "alice", null, Ct);

        Assert.Equal(8001, session!.Port);
        Assert.Equal([8001], _h.Reserved);
    }

    [Fact]
    public async Task Fails_with_ttyds_own_message_after_the_last_attempt_and_keeps_no_port()
    {
        _h.Options.MaxStartAttempts = 2;
        _h.Supervisor.Setup(s => s.StartAsync(It.IsAny<ProcessLaunch>(), It.IsAny<CancellationToken>()))
            .ThrowsAsync(new ProcessLaunchException(LaunchFailure.ExitedEarly, "exited with code 1: ERROR on binding fd 7 to port (-1 98)", 1, "ERROR on binding"));

        var error = await Assert.ThrowsAsync<TtydStartException>(() => _h.Create().EnsureSessionAsync("node1", "alice", null, Ct).AsTask());

        Assert.Contains("node1", error.Message, StringComparison.Ordinal);
        Assert.Contains("ERROR on binding", error.Message, StringComparison.Ordinal);
        Assert.Contains("2 attempt", error.Message, StringComparison.Ordinal);
        Assert.Empty(_h.Reserved);
    }

    [Fact]
    public async Task A_missing_ttyd_binary_fails_at_once_without_trying_other_ports()
    {
        _h.Supervisor.Setup(s => s.StartAsync(It.IsAny<ProcessLaunch>(), It.IsAny<CancellationToken>()))
            .ThrowsAsync(new ProcessLaunchException(LaunchFailure.NotExecutable, "Cannot run 'ttyd': No such file or directory", null, ""));

        var error = await Assert.ThrowsAsync<TtydStartException>(() => _h.Create().EnsureSessionAsync("node1", "alice", null, Ct).AsTask());

        Assert.Contains("No such file", error.Message, StringComparison.Ordinal);
        _h.Supervisor.Verify(s => s.StartAsync(It.IsAny<ProcessLaunch>(), It.IsAny<CancellationToken>()), Times.Once);
        Assert.Empty(_h.Reserved);
    }

    [Theory]
    [InlineData(null)]
    [InlineData("exited")]
    public async Task A_missing_or_stopped_container_is_a_not_found_error_and_nothing_starts(string? state)
    {
        _h.Runtime.Setup(i => i.GetContainerAsync("ghost", It.IsAny<CancellationToken>()))
            .Returns(Task.FromResult(state is null ? null : ManagerHarness.Container("ghost", state)));

        var error = await Assert.ThrowsAsync<ContainerNotFoundException>(() => _h.Create().EnsureSessionAsync("ghost", "alice", null, Ct).AsTask());

        Assert.Contains("'ghost'", error.Message, StringComparison.Ordinal);
        Assert.Empty(_h.Launches);
        Assert.Empty(_h.Reserved);
    }

    [Theory]
    [InlineData("", "alice", null, "container")]
    [InlineData("node;rm -rf /", "alice", null, "container")]
    [InlineData("../etc", "alice", null, "container")]
    [InlineData("-rm", "alice", null, "container")]
    [InlineData("node\n1", "alice", null, "container")]
    [InlineData("node1", "", null, "userId")]
    [InlineData("node1", "alice$(id)", null, "userId")]
    [InlineData("node1", "alice", "topo/../x", "topologyId")]
    [InlineData("node1", "alice", "topo\u0007", "topologyId")]
    public async Task Bad_input_is_an_argument_error_that_names_the_value_and_starts_nothing(string container, string user, string? topology, string param)
    {
        var error = await Assert.ThrowsAsync<ArgumentException>(() => _h.Create().EnsureSessionAsync(container, user, topology, Ct).AsTask());

        Assert.Equal(param, error.ParamName);
        var bad = param switch { "container" => container, "userId" => user, _ => topology! };
        Assert.Contains(SessionIds.Quote(bad), error.Message, StringComparison.Ordinal);
        Assert.Empty(_h.Launches);
        _h.Runtime.VerifyNoOtherCalls();
    }

    [Fact]
    public async Task Over_long_names_are_rejected()
    {
        var error = await Assert.ThrowsAsync<ArgumentException>(() => _h.Create().EnsureSessionAsync(new string('a', 256), "alice", null, Ct).AsTask());
        Assert.Contains("256 characters", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_runtime_folder_that_is_a_link_planted_in_its_place_is_refused_and_not_chmodded()
    {
        var target = Directory.CreateTempSubdirectory("tp-target-").FullName;
        File.SetUnixFileMode(target, (UnixFileMode)0x1FF); // 0777, as a folder another user made
        Directory.CreateDirectory(Path.GetDirectoryName(_h.Options.RuntimeDirectory!)!);
        File.CreateSymbolicLink(_h.Options.RuntimeDirectory!, target);
        try
        {
            var error = await Assert.ThrowsAsync<TtydStartException>(() => _h.Create().EnsureSessionAsync("node1", "alice", null, Ct).AsTask());

            Assert.Contains($"'{_h.Options.RuntimeDirectory}'", error.Message, StringComparison.Ordinal);
            Assert.Contains("not a directory", error.Message, StringComparison.Ordinal);
            Assert.Equal((UnixFileMode)0x1FF, File.GetUnixFileMode(target));
            Assert.Empty(_h.Launches);
            Assert.Empty(_h.Reserved);
        }
        finally
        {
            File.Delete(_h.Options.RuntimeDirectory!);
            Directory.Delete(target);
        }
    }

    [Fact]
    public async Task The_runtime_folder_is_made_private_to_this_user()
    {
        Directory.CreateDirectory(_h.Options.RuntimeDirectory!);
        File.SetUnixFileMode(_h.Options.RuntimeDirectory!, (UnixFileMode)0x1FF);

        await _h.Create().EnsureSessionAsync("node1", "alice", null, Ct);

        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute, File.GetUnixFileMode(_h.Options.RuntimeDirectory!));
    }

    [Fact]
    public async Task Concurrent_calls_for_one_container_start_exactly_one_ttyd()
    {
        var gate = new TaskCompletionSource();
        _h.Supervisor.Setup(s => s.StartAsync(It.IsAny<ProcessLaunch>(), It.IsAny<CancellationToken>()))
            .Returns(async (ProcessLaunch launch, CancellationToken _) => { await gate.Task; return _h.Spawn(launch); });
        var manager = _h.Create();

        var calls = Enumerable.Range(0, 64).Select(_ => Task.Run(() => manager.EnsureSessionAsync("node1", "alice", null, Ct).AsTask(), Ct)).ToArray();
        gate.SetResult();
        var sessions = await Task.WhenAll(calls);

        Assert.Single(_h.Launches);
        Assert.Single(sessions.Select(s => s!.ProcessId).Distinct());
    }

    [Fact]
    public async Task Calls_for_different_containers_do_not_wait_on_each_other()
    {
        var blocked = new TaskCompletionSource();
        _h.Supervisor.Setup(s => s.StartAsync(It.Is<ProcessLaunch>(l => l.Environment["TTYDPORTS_CONTAINER"] == "slow"), It.IsAny<CancellationToken>()))
            .Returns(async (ProcessLaunch launch, CancellationToken _) => { await blocked.Task; return _h.Spawn(launch); });
        var manager = _h.Create();

        var slow = manager.EnsureSessionAsync("slow", "alice", null, Ct).AsTask();
        var fast = await manager.EnsureSessionAsync("fast", "alice", null, Ct);

        Assert.NotNull(fast);
        Assert.False(slow.IsCompleted);
        blocked.SetResult();
        Assert.NotNull(await slow);
    }

    [Fact]
    public async Task A_session_of_another_user_is_a_conflict_not_a_shared_shell()
    {
        var manager = _h.Create();
        await manager.EnsureSessionAsync("node1", "alice", "t1", Ct);

        var error = await Assert.ThrowsAsync<SessionConflictException>(() => manager.EnsureSessionAsync("node1", "bob", "t1", Ct).AsTask());

        Assert.Contains("'alice'", error.Message, StringComparison.Ordinal);
        Assert.Contains("'bob'", error.Message, StringComparison.Ordinal);
        Assert.Single(_h.Launches);
    }

    [Fact]
    public async Task Cleaning_up_a_user_stops_exactly_that_users_sessions()
    {
        var manager = _h.Create();
        var alice = await manager.EnsureSessionAsync("a1", "alice", null, Ct);
        var alice1 = await manager.EnsureSessionAsync("a2", "alice1", null, Ct);

        var result = await manager.CleanupUserAsync("alice", Ct);

        Assert.Equal([alice!], result.Stopped);
        Assert.True(result.Succeeded);
        Assert.Equal([alice1!.Port], _h.Reserved);
        Assert.Equal(["a2"], manager.GetStatus().Containers);
    }

    [Fact]
    public async Task Clearing_a_topology_and_deleting_a_node_stop_only_their_sessions()
    {
        var manager = _h.Create();
        await manager.EnsureSessionAsync("a1", "alice", "t1", Ct);
        await manager.EnsureSessionAsync("a2", "alice", "t1", Ct);
        await manager.EnsureSessionAsync("a3", "alice", "t2", Ct);
        await manager.EnsureSessionAsync("b1", "bob", "t3", Ct);

        var topology = await manager.ClearTopologyAsync("t1", Ct);
        var node = await manager.DeleteNodeAsync("b1", Ct);

        Assert.Equal(["a1", "a2"], topology.Stopped.Select(s => s.Container).Order());
        Assert.Equal(["b1"], node.Stopped.Select(s => s.Container));
        Assert.Equal(["a3"], manager.GetStatus().Containers);
    }

    [Fact]
    public async Task A_session_that_survives_stopping_is_reported_and_keeps_its_port()
    {
        var manager = _h.Create();
        var session = await manager.EnsureSessionAsync("node1", "alice", null, Ct);
        _h.Supervisor.Setup(s => s.StopAsync(session!.Process, It.IsAny<TimeSpan>(), It.IsAny<CancellationToken>()))
            .ThrowsAsync(new ProcessStopException("survived SIGKILL"));

        var result = await manager.CleanupAllAsync(Ct);

        Assert.False(result.Succeeded);
        Assert.Same(session, Assert.Single(result.Failed).Session);
        Assert.Contains(session!.Port, _h.Reserved);
        Assert.Single(manager.GetStatus().Sessions);
    }

    [Fact]
    public async Task Orphan_cleanup_stops_sessions_whose_container_is_gone_and_drops_dead_ones()
    {
        var manager = _h.Create();
        await manager.EnsureSessionAsync("kept", "alice", null, Ct);
        await manager.EnsureSessionAsync("removed", "alice", null, Ct);
        var dead = await manager.EnsureSessionAsync("dead", "alice", null, Ct);
        lock (_h.Alive) { _h.Alive.Remove(dead!.ProcessId); }
        _h.Runtime.Setup(i => i.ListContainersAsync(It.IsAny<CancellationToken>()))
            .ReturnsAsync([ManagerHarness.Container("kept"), ManagerHarness.Container("dead")]);

        var result = await manager.CleanupOrphansAsync(Ct);

        Assert.Equal(["dead", "removed"], result.Stopped.Select(s => s.Container).Order());
        Assert.Equal(["kept"], manager.GetStatus().Containers);
        Assert.Single(_h.Reserved);
    }

    [Fact]
    public async Task Status_reports_each_session_and_how_many_can_be_handed_out()
    {
        var manager = _h.Create();
        await manager.EnsureSessionAsync("b", "alice", null, Ct);
        var a = await manager.EnsureSessionAsync("a", "bob", "t", Ct);
        lock (_h.Alive) { _h.Alive.Remove(a!.ProcessId); }

        var status = manager.GetStatus();

        Assert.Equal(1, status.ActiveSessions);
        Assert.Equal(2, status.Sessions.Count);
        Assert.Equal(["a", "b"], status.Containers);
        Assert.False(status.Sessions[0].Healthy);
        Assert.True(status.Sessions[1].Healthy);
    }

    [Fact]
    public async Task Adopts_the_sessions_an_earlier_run_of_the_same_instance_left_running()
    {
        var (launch, _) = await EarlierRunAsync("node9", "carol", "t9");
        _h.Marked.Add(Marked(501, 1, launch.Environment));
        _h.Marked.Add(Marked(502, 501, launch.Environment)); // its docker exec child inherits the markers
        lock (_h.Alive) { _h.Alive.UnionWith([501, 502]); }

        var manager = _h.Create();
        var session = await manager.EnsureSessionAsync("node9", "carol", "t9", Ct);

        Assert.Equal(501, session!.ProcessId);
        Assert.Equal(ManagerHarness.IdOf("node9"), session.ContainerId);
        Assert.Equal(ManagerHarness.PortOf(launch), session.Port);
        Assert.Single(_h.Launches); // the earlier run's only
        Assert.Contains(session.Port, _h.Reserved);
    }

    public static TheoryData<string> Forgeries => new() { "unsigned", "tampered", "other-user", "other-executable", "other-folder" };

    [Theory]
    [MemberData(nameof(Forgeries))]
    public async Task A_process_whose_markers_or_identity_were_forged_is_neither_adopted_nor_signalled(string forgery)
    {
        var (launch, _) = await EarlierRunAsync("node9", "carol", "t9");
        var markers = launch.Environment.ToDictionary();
        uint? owner = Native.geteuid();
        var exe = markers[SessionAdoption.ExecutableMarker];
        switch (forgery)
        {
            case "unsigned": markers.Remove(MarkerSignature.Marker); break;
            case "tampered": markers["TTYDPORTS_USER"] = "mallory"; break;
            case "other-user": owner = Native.geteuid() + 4242; break;
            case "other-executable": exe = "/usr/bin/sleep"; break;
            case "other-folder": markers[SessionAdoption.RuntimeMarker] = "/tmp/elsewhere"; break;
        }

        _h.Marked.Add(new MarkedProcess { Process = new ProcessIdentity(501, 5010), ParentProcessId = 1, Markers = markers, OwnerUid = owner, ExecutablePath = exe });
        lock (_h.Alive) { _h.Alive.Add(501); }

        var manager = _h.Create();
        var session = await manager.EnsureSessionAsync("node9", "carol", "t9", Ct);
        await manager.CleanupAllAsync(Ct);

        Assert.NotEqual(501, session!.ProcessId); // a new ttyd of ours, not the forged process
        _h.Supervisor.Verify(s => s.StopAsync(new ProcessIdentity(501, 5010), It.IsAny<TimeSpan>(), It.IsAny<CancellationToken>()), Times.Never);
        Assert.Contains(501, _h.Alive);
    }

    [Fact]
    public async Task A_session_of_a_run_with_another_listen_mode_is_replaced_never_handed_out()
    {
        var (launch, _) = await EarlierRunAsync("node9", "carol", "t9");
        _h.Marked.Add(Marked(501, 1, launch.Environment));
        lock (_h.Alive) { _h.Alive.Add(501); }
        _h.Options.RequireCredentials = !_h.Options.RequireCredentials; // the new run demands the opposite

        var manager = _h.Create();
        Assert.Empty(manager.GetStatus().Sessions); // a read adopts nothing
        await manager.AdoptAsync(Ct); // the hosted service, as the host starts
        Assert.False(Assert.Single(manager.GetStatus().Sessions).Healthy);
        var session = await manager.EnsureSessionAsync("node9", "carol", "t9", Ct);

        Assert.NotEqual(501, session!.ProcessId);
        Assert.DoesNotContain(501, _h.Alive);
        Assert.Equal(_h.Options.RequireCredentials, session.Credential is not null);
    }

    [Fact]
    public async Task Repair_replaces_a_stopped_or_frozen_ttyd_and_keeps_a_healthy_one()
    {
        var manager = _h.Create();
        var stopped = await manager.EnsureSessionAsync("node1", "alice", null, Ct);
        var frozen = await manager.EnsureSessionAsync("node2", "alice", null, Ct);
        var healthy = await manager.EnsureSessionAsync("node3", "alice", null, Ct);
        lock (_h.Alive) { _h.Stopped.Add(stopped!.ProcessId); _h.Frozen.Add(frozen!.ProcessId); }
        _h.Runtime.Setup(i => i.ListContainersAsync(It.IsAny<CancellationToken>()))
            .ReturnsAsync([ManagerHarness.Container("node1"), ManagerHarness.Container("node2"), ManagerHarness.Container("node3")]);

        Assert.False(manager.GetStatus().Sessions.Single(s => s.Session.Container == "node1").Healthy);
        var result = await manager.RepairAsync(Ct);

        Assert.Equal(["node1", "node2"], result.Stopped.Select(s => s.Container).Order());
        Assert.Same(healthy, manager.FindSession("node3"));
    }

    private async Task<(ProcessLaunch Launch, TtydSession Session)> EarlierRunAsync(string container, string user, string topology)
    {
        var earlier = _h.Create();
        var session = await earlier.EnsureSessionAsync(container, user, topology, Ct);
        var launch = _h.Launches[^1];
        lock (_h.Alive) { _h.Alive.Remove(session!.ProcessId); } // as if the earlier host went, leaving the process
        _h.Reserved.Clear();
        return (launch, session);
    }

    private static MarkedProcess Marked(int pid, int parent, IReadOnlyDictionary<string, string> environment) =>
        new()
        {
            Process = new ProcessIdentity(pid, (ulong)pid * 10),
            ParentProcessId = parent,
            Markers = environment.Where(e => e.Key.StartsWith("TTYDPORTS_", StringComparison.Ordinal)).ToDictionary(),
            OwnerUid = Native.geteuid(),
            ExecutablePath = environment[SessionAdoption.ExecutableMarker],
        };

    [Theory]
    [InlineData(null)]
    [InlineData("node9")]
    public async Task An_adopted_session_without_a_valid_recorded_container_id_is_replaced_not_handed_out(string? recordedId)
    {
        var (launch, _) = await EarlierRunAsync("node9", "carol", "t9");
        var markers = launch.Environment.Where(e => e.Key.StartsWith("TTYDPORTS_", StringComparison.Ordinal)).ToDictionary();
        markers.Remove("TTYDPORTS_CONTAINER_ID");
        if (recordedId is not null)
        {
            markers["TTYDPORTS_CONTAINER_ID"] = recordedId; // a name where an id belongs
        }

        // Signed with the instance key, so only the id decides.
        markers[MarkerSignature.Marker] = MarkerSignature.Compute(new RuntimeFolder(_h.Options.RuntimeDirectory!, Native.geteuid()).GetOrCreateKey("default"), markers);
        _h.Marked.Add(Marked(501, 1, markers));
        lock (_h.Alive) { _h.Alive.Add(501); }
        var manager = _h.Create();
        await manager.AdoptAsync(Ct);

        Assert.Null(manager.FindSession("node9")); // adopted, but never handed out
        var session = await manager.EnsureSessionAsync("node9", "carol", "t9", Ct);

        Assert.NotEqual(501, session!.ProcessId);
        Assert.DoesNotContain(501, _h.Alive);
        Assert.Equal(ManagerHarness.IdOf("node9"), session.ContainerId);
    }

    [Fact]
    public async Task Cancelling_a_start_keeps_no_port_and_no_session()
    {
        using var cts = new CancellationTokenSource();
        _h.Supervisor.Setup(s => s.StartAsync(It.IsAny<ProcessLaunch>(), It.IsAny<CancellationToken>()))
            .Returns(async (ProcessLaunch _, CancellationToken ct) => { await Task.Delay(Timeout.Infinite, ct); return default(ProcessIdentity); });
        var manager = _h.Create();

        var call = manager.EnsureSessionAsync("node1", "alice", null, cts.Token).AsTask();
        await cts.CancelAsync();

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => call);
        Assert.Empty(_h.Reserved);
        Assert.Empty(manager.GetStatus().Sessions);
    }
}
