using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace TtydPorts.IntegrationTests;

/// <summary>
/// Each built-in runtime on its real engine: the local Docker engine, a second dockerd on loopback TCP with TLS client
/// certificates, a rootless dockerd (reached through its user's socket by a manager run as root; RootlessDockerTests
/// runs the lab host as that user), and Podman's API service. The command per node, the argument list kept whole, the
/// process inside the container as the right user in the right folder, and nothing of the terminal left in the
/// container after a stop.
/// </summary>
[Collection(RealPartsCollection.Name)]
public sealed class RuntimeTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private static readonly TerminalCommand NodeKindCommand = TerminalCommand.Of("sh", "-c", "echo node-kind-$((40+2)); exec sh");

    // Inside the container: each process whose environment carries a session marker, as "pid uid cwd".
    internal const string MarkedProcesses =
        "for d in /proc/[0-9]*; do if tr '\\000' '\\n' < $d/environ 2>/dev/null | grep -q '^TTYDPORTS_EXEC='; then " +
        "u=$(awk '/^Uid:/ {print $2}' $d/status 2>/dev/null) && c=$(readlink $d/cwd 2>/dev/null) && echo \"${d#/proc/} $u $c\"; fi; done 2>/dev/null";

    public static TheoryData<string> Engines => ["docker", "docker-tls", "docker-rootless", "podman"];

    private static Engine EngineNamed(string name) => name switch
    {
        "docker" => Engine.Docker,
        "docker-tls" => Engine.DockerTls,
        "docker-rootless" => Engine.DockerRootless,
        _ => Engine.Podman,
    };

    private static void UseRuntime(string engine, TtydSessionOptions options)
    {
        switch (engine)
        {
            case "docker-tls":
                options.DockerEndpoint = RealParts.TlsEndpoint;
                options.DockerCertPath = RealParts.TlsCertPath;
                break;
            case "docker-rootless":
                options.DockerEndpoint = RealParts.RootlessEndpoint;
                break;
            case "podman":
                options.ContainerRuntime = ContainerRuntimeKind.Podman;
                options.PodmanEndpoint = RealParts.PodmanEndpoint;
                options.PodmanPath = RealParts.PodmanClient;
                break;
        }

        options.DockerPath = RealParts.DockerClient;
        options.CommandsByLabel["clab-node-kind"]["linux-test"] = NodeKindCommand;
    }

    // Once per user the test runs commands as: a container's root has no CAP_SYS_PTRACE, without which it cannot read
    // another user's environment (and --privileged is refused in this sandbox).
    private static string[] Marked(Engine engine, string container) =>
        [.. new[] { "0", "65534:65534" }.SelectMany(user => engine.Cli("exec", "-u", user, container, "sh", "-c", MarkedProcesses).Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))];

    [Theory]
    [MemberData(nameof(Engines))]
    public async Task A_node_gets_its_command_on_each_runtime_and_a_stop_leaves_nothing_of_it_in_the_container(string engineName)
    {
        var engine = EngineNamed(engineName);
        engine.Require();
        using var lab = ContainerLab.On(engine);
        var node = lab.NextName();
        engine.Cli("run", "-d", "--label", RealParts.TestLabel, "--label", "clab-node-kind=linux-test", "--name", node, "--network", "none", RealParts.Image, "sleep", "3600");
        lab.Track(node);
        await using var sut = new ManagerUnderTest(18860, 18869, o => UseRuntime(engineName, o));

        // The label's command, over ttyd's WebSocket, through the runtime's exec.
        var mapped = await sut.Manager.EnsureSessionAsync(node, "alice", null, Ct);
        Assert.Equal(NodeKindCommand, mapped!.Command);
        await using (var client = await TtydClient.ConnectAsync(mapped.GetUrl(), Ct))
        {
            await client.WaitForAsync("node-kind-42", Poll.Within(30));
            await client.TypeAsync("echo typed-$((6*7))\r", Ct);
            await client.WaitForAsync("typed-42", Poll.Within(30));
        }

        // A process that just ended can linger a moment in /proc: poll for the one that stays.
        string[] first = [];
        await Poll.UntilAsync(() => Marked(engine, node) is [var only] && (first = only.Split(' '))[1..] is ["0", "/"], Poll.Within(10)); // the image's user and folder

        // An explicit command beats the label and replaces the session: another user, folder, and arguments that a shell
        // would split or run (spaces, quotes, ';') arrive one by one.
        var explicitCommand = new TerminalCommand
        {
            Arguments = ["sh", "-c", "printf '%s|' \"$@\"; echo; echo who-$(id -u)-$PWD; exec sh", "sh", "a b", "c;d", "'q'", "e;"],
            User = "65534:65534",
            WorkingDirectory = "/tmp",
        };
        var replaced = await sut.Manager.EnsureSessionAsync(node, "alice", null, new TerminalRequest { Command = explicitCommand }, Ct);
        Assert.NotEqual(mapped.ProcessId, replaced!.ProcessId);
        await using (var client = await TtydClient.ConnectAsync(replaced.GetUrl(), Ct))
        {
            await client.WaitForAsync("a b|c;d|'q'|e;|", Poll.Within(30));
            await client.WaitForAsync("who-65534-/tmp", Poll.Within(30));
            Assert.DoesNotContain("node-kind-42", client.Screen, StringComparison.Ordinal);
        }

        // The replaced session's shell is gone from the container; the new one runs as 65534 in /tmp.
        string[] second = [];
        await Poll.UntilAsync(() => Marked(engine, node) is [var only] && (second = only.Split(' '))[1..] is ["65534", "/tmp"], Poll.Within(10));
        Assert.NotEqual(first[0], second[0]);

        // Stopping the session ends its shell inside the container, on every runtime.
        Assert.Single((await sut.Manager.CleanupUserAsync("alice", Ct)).Stopped);
        await Poll.UntilAsync(() => Marked(engine, node).Length == 0, Poll.Within(10));
        Assert.Contains("sleep 3600", engine.Cli("exec", node, "ps"), StringComparison.Ordinal); // control: the container itself runs on
    }

    [Fact]
    public async Task A_wrong_tls_certificate_fails_with_an_error_naming_the_engine_and_folder_and_starts_nothing()
    {
        Engine.DockerTls.Require();
        using var lab = ContainerLab.On(Engine.DockerTls);
        var node = lab.StartContainer();
        await using var wrong = new ManagerUnderTest(18870, 18874, o =>
        {
            o.DockerEndpoint = RealParts.TlsEndpoint;
            o.DockerCertPath = RealParts.WrongTlsCertPath;
        });

        var error = await Assert.ThrowsAsync<ContainerEngineException>(() => wrong.Manager.EnsureSessionAsync(node, "alice", null, Ct).AsTask());

        Assert.Contains(RealParts.TlsEndpoint, error.Message, StringComparison.Ordinal);
        Assert.Contains($"'{RealParts.WrongTlsCertPath}'", error.Message, StringComparison.Ordinal);
        Assert.Empty(wrong.TtydProcesses());
        Assert.Empty(wrong.Manager.GetStatus().Sessions);

        // Control: the same node with the right certificates gets its terminal.
        await using var right = new ManagerUnderTest(18875, 18879, o => (o.DockerEndpoint, o.DockerCertPath) = (RealParts.TlsEndpoint, RealParts.TlsCertPath));
        Assert.NotNull(await right.Manager.EnsureSessionAsync(node, "alice", null, Ct));
        Assert.Single(right.TtydProcesses());
    }

    // The follower subscribes again from the time of the last event or subscription it saw (after a broken stream, or a
    // quiet one): on each engine, such a subscription gets what happened while no stream was open. Its first answer is
    // the engine's time of the subscription (HTTP's Date), from which the next one resumes. On the TLS engine, the
    // client's connections carry keepalive and a user timeout (read back from the kernel), so that a remote engine gone
    // without a reset is noticed.
    [Theory]
    [MemberData(nameof(Engines))]
    public async Task A_subscription_that_resumes_from_the_last_ones_time_gets_what_happened_while_none_was_open(string engineName)
    {
        var engine = EngineNamed(engineName);
        engine.Require();
        using var lab = ContainerLab.On(engine);
        var options = new TtydSessionOptions();
        UseRuntime(engineName, options);
        var sockets = new System.Collections.Concurrent.ConcurrentQueue<System.Net.Sockets.Socket>();
        using var api = new EngineApiClient(EngineEndpoint.Resolve(options), engineName) { TcpConnected = sockets.Enqueue };

        long subscribed;
        await using (var first = api.WatchEventsAsync(null, Ct).GetAsyncEnumerator(Ct))
        {
            Assert.True(await first.MoveNextAsync());
            Assert.Equal(ContainerEventKind.Subscribed, first.Current.Kind);
            subscribed = first.Current.TimeNano;
            Assert.InRange(DateTimeOffset.UtcNow.ToUnixTimeSeconds() - (subscribed / 1_000_000_000), -60, 60); // the engine's clock is this one
        }

        var node = lab.StartContainer();
        lab.Remove(node);

        var seen = new List<ContainerEvent>();
        await foreach (var change in api.WatchEventsAsync(subscribed, Poll.Within(60)))
        {
            seen.Add(change);
            if (change.Kind == ContainerEventKind.Removed && change.Name == node)
            {
                break;
            }
        }

        Assert.Equal(ContainerEventKind.Subscribed, seen[0].Kind);
        Assert.Contains(seen, e => e.Kind == ContainerEventKind.Running && e.Name == node);
        Assert.All(seen.Where(e => e.Name == node), e => Assert.True(e.TimeNano >= subscribed, $"{e} is older than the subscription at {subscribed}"));
        if (engineName == "docker-tls")
        {
            Assert.NotEmpty(sockets);
            foreach (var socket in sockets)
            {
                Assert.Equal(1, (int)socket.GetSocketOption(System.Net.Sockets.SocketOptionLevel.Socket, System.Net.Sockets.SocketOptionName.KeepAlive)!);
                Assert.Equal((int)EngineLiveness.KeepAliveIdle.TotalSeconds, (int)socket.GetSocketOption(System.Net.Sockets.SocketOptionLevel.Tcp, System.Net.Sockets.SocketOptionName.TcpKeepAliveTime)!);
                var userTimeout = new byte[4];
                socket.GetRawSocketOption(6 /* IPPROTO_TCP */, 18 /* TCP_USER_TIMEOUT */, userTimeout);
                Assert.Equal((int)EngineLiveness.UserTimeout.TotalMilliseconds, BitConverter.ToInt32(userTimeout));
            }
        }
        else
        {
            Assert.Empty(sockets); // a Unix socket
        }
    }

    [Theory]
    [MemberData(nameof(Engines))]
    public async Task The_hosted_repair_stops_a_session_as_soon_as_the_engine_reports_its_container_removed(string engineName)
    {
        var engine = EngineNamed(engineName);
        engine.Require();
        using var lab = ContainerLab.On(engine);
        var node = lab.StartContainer();
        var instance = "itest-" + Guid.NewGuid().ToString("N")[..8];

        // Only the engine's event (Docker's destroy, Podman's remove) can trigger the pass, and the event itself, not a
        // missing name, makes the session stale.
        using var host = HostWithRepair(engineName, instance, 18880, o => o.ContainerGracePeriod = TimeSpan.FromHours(1));
        await host.StartAsync(Ct);
        var manager = host.Services.GetRequiredService<ITtydSessionManager>();
        try
        {
            var session = await manager.EnsureSessionAsync(node, "alice", null, Ct);
            Assert.Single(manager.GetStatus().Sessions); // control

            // The repair service subscribes in the background as the host starts: remove once the engine has accepted it.
            var runtime = (EngineRuntime)host.Services.GetRequiredService<IContainerRuntime>();
            await Poll.UntilAsync(() => runtime.Api.EventWatches > 0, Poll.Within(15));
            lab.Remove(node);

            await Poll.UntilAsync(() => manager.GetStatus().Sessions.Count == 0, Poll.Within(30));
            Assert.False(host.Services.GetRequiredService<IProcessSupervisor>().IsAlive(session!.Process));
        }
        finally
        {
            await StopAsync(host, instance);
        }

        Assert.Empty(TtydProcessDiscovery.Find(host.Services.GetRequiredService<IProcessSupervisor>(), instance));
    }

    [Theory]
    [MemberData(nameof(Engines))]
    public async Task The_hosted_repair_gives_a_container_started_after_the_host_a_guess_and_takes_it_back_when_it_is_renamed_or_stops(string engineName)
    {
        var engine = EngineNamed(engineName);
        engine.Require();
        using var lab = ContainerLab.On(engine);
        var before = lab.StartContainer();
        var instance = "itest-" + Guid.NewGuid().ToString("N")[..8];
        var logs = new CapturedLogs();

        // No repair pass lists the containers after the first: only the events can tell.
        using var host = HostWithRepair(engineName, instance, 18885, logs: logs);
        await host.StartAsync(Ct);
        var manager = (TtydSessionManager)host.Services.GetRequiredService<ITtydSessionManager>();

        // Polled together with the state it explains: the line is written just after the guess is recorded.
        bool Logged(string line) => logs.Text.Contains(line, StringComparison.Ordinal);
        try
        {
            var runtime = (EngineRuntime)host.Services.GetRequiredService<IContainerRuntime>();
            await Poll.UntilAsync(() => runtime.Api.EventWatches > 0, Poll.Within(15));

            // The host's first repair pass lists the containers of the moment (a guess for each): once it has, no pass
            // lists again within the test (an hour's interval, and no removal to wake it).
            await Poll.UntilAsync(() => manager.GuessFor(before) is not null, Poll.Within(15));
            var node = lab.StartContainer();
            var id = engine.Cli("inspect", "-f", "{{.Id}}", node).Trim();

            // Started after the host's first pass, never asked for: its start event alone gives its first create a guess
            // (a removal elsewhere on the engine wakes a pass, which would list it too: the log says who asked).
            await Poll.UntilAsync(() => manager.GuessFor(node)?.Id == id && Logged($"the engine answers that container {node} is {id} (running)"), Poll.Within(15));

            var renamed = lab.NextName();
            engine.Cli("rename", node, renamed);
            lab.Track(renamed);
            await Poll.UntilAsync(() => manager.GuessFor(node) is null && manager.GuessFor(renamed)?.Id == id
                && Logged($"the engine answers that container {renamed} is {id} (running)"), Poll.Within(15));

            engine.Cli("stop", "-t", "0", renamed);
            await Poll.UntilAsync(() => manager.GuessFor(renamed) is null && Logged($"container {renamed} ({id}) Stopped"), Poll.Within(15));
            engine.Cli("start", renamed);
            await Poll.UntilAsync(() => manager.GuessFor(renamed)?.Id == id, Poll.Within(15));

            // The guess only speeds the create up: the terminal is for the engine's answer.
            var session = await manager.EnsureSessionAsync(renamed, "alice", null, Ct);
            Assert.Equal(id, session!.ContainerId);
        }
        finally
        {
            await StopAsync(host, instance);
        }

        Assert.Empty(TtydProcessDiscovery.Find(host.Services.GetRequiredService<IProcessSupervisor>(), instance));
    }

    // A host with the hosted repair service on one engine: its own instance and runtime folder, a range of five ports, a
    // repair interval of an hour (no pass but the first and those an event wakes), sessions stopped with the host.
    private static IHost HostWithRepair(string engineName, string instance, int rangeStart, Action<TtydSessionOptions>? configure = null, CapturedLogs? logs = null)
    {
        var builder = Host.CreateApplicationBuilder();
        if (logs is not null)
        {
            builder.Logging.ClearProviders().AddProvider(logs).SetMinimumLevel(LogLevel.Debug);
        }

        builder.Services.AddTtydSessions(o =>
        {
            UseRuntime(engineName, o);
            (o.PortRangeStart, o.PortRangeEnd, o.InstanceName) = (rangeStart, rangeStart + 4, instance);
            o.RuntimeDirectory = Path.Combine(Path.GetTempPath(), instance);
            o.RepairInterval = TimeSpan.FromHours(1);
            o.StopSessionsOnShutdown = true;
            configure?.Invoke(o);
        });
        return builder.Build();
    }

    private static async Task StopAsync(IHost host, string instance)
    {
        await host.StopAsync(Ct);
        var folder = Path.Combine(Path.GetTempPath(), instance);
        if (Directory.Exists(folder))
        {
            Directory.Delete(folder, recursive: true);
        }
    }
}
