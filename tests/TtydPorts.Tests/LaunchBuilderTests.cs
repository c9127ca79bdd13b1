using System.Net;

namespace TtydPorts.Tests;

/// <summary>The launch description as pure code: options and a planned session in, ttyd's argv and environment out.</summary>
public sealed class LaunchBuilderTests
{
    private const string Id = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
    private const string Token = "0123456789abcdef0123456789abcdef";
    private static readonly byte[] Key = new byte[32];

    internal static readonly IContainerRuntime Docker =
        new DockerRuntime(new EngineEndpoint { Uri = "unix:///var/run/docker.sock", SocketPath = "/var/run/docker.sock" }, "docker", new Moq.Mock<IProcessSupervisor>(Moq.MockBehavior.Strict).Object);

    private static TtydLaunchBuilder Builder(TtydSessionOptions options, Dictionary<string, string>? host = null) =>
        new(options, "/run/tp", Docker, name => host?.GetValueOrDefault(name));

    private static TtydSession Planned(TtydLaunchBuilder builder, int port = 8000, string? socket = null, TtydCredential? credential = null) =>
        new() { Container = "node1", ContainerId = Id, Port = port, Address = builder.Address, UserId = "alice", SocketPath = socket, Credential = credential, BasePath = builder.BasePathFor("node1") };

    [Fact]
    public void Defaults_give_a_writable_origin_checked_capped_terminal_that_execs_into_the_recorded_id()
    {
        var builder = Builder(new TtydSessionOptions());
        var credential = TtydCredential.CreateRandom();

        var launch = builder.Build(Planned(builder, credential: credential), Token, Key, "/usr/bin/ttyd", "/run/tp/x.log");

        Assert.True(builder.UseCredentials);
        Assert.Equal(["-p", "8000", "-i", "127.0.0.1", "-W", "-O", "-m", "4", "-c", $"ttydports:{credential.Password}"], launch.Arguments[..10]);
        Assert.Equal(["docker", "--host", "unix:///var/run/docker.sock", "exec", "-it", "-e", $"TTYDPORTS_EXEC={Token}", Id, "/bin/sh"], launch.Arguments[10..]);
        Assert.Equal("/usr/bin/ttyd", launch.FileName);
        Assert.Contains(credential.Password, launch.Secrets);
    }

    [Fact]
    public void The_environment_holds_only_allow_listed_host_variables_the_hosts_own_the_pinned_engine_and_signed_markers()
    {
        var options = new TtydSessionOptions();
        options.LaunchEnvironment["LAB_PROXY"] = "http://proxy.lab:3128";
        var builder = Builder(options, new() { ["PATH"] = "/usr/bin", ["DATABASE_PASSWORD"] = "hunter2", ["LANG"] = "C.UTF-8" });

        var environment = builder.Build(Planned(builder), Token, Key, "/usr/bin/ttyd", "/run/tp/x.log").Environment;

        Assert.Equal("/usr/bin", environment["PATH"]);
        Assert.Equal("C.UTF-8", environment["LANG"]);
        Assert.Equal("http://proxy.lab:3128", environment["LAB_PROXY"]);
        Assert.Equal("unix:///var/run/docker.sock", environment["DOCKER_HOST"]);
        Assert.DoesNotContain("DATABASE_PASSWORD", environment.Keys);
        Assert.Equal("/run/tp", environment[SessionAdoption.RuntimeMarker]);
        Assert.Equal("/usr/bin/ttyd", environment[SessionAdoption.ExecutableMarker]);
        Assert.True(MarkerSignature.Verify(Key, environment));
        Assert.False(MarkerSignature.Verify(new byte[32].Select(_ => (byte)1).ToArray(), environment));
    }

    [Fact]
    public void Proxy_mode_listens_on_the_socket_under_the_base_path_and_always_demands_a_credential()
    {
        var builder = Builder(new TtydSessionOptions { ListenMode = TtydListenMode.UnixSocket, BasePath = "/terminals", RequireCredentials = false });

        var launch = builder.Build(Planned(builder, port: 0, socket: "/run/tp/a.sock"), Token, Key, "/usr/bin/ttyd", "/run/tp/x.log");

        Assert.True(builder.UseSockets);
        Assert.True(builder.UseCredentials);
        Assert.Equal(["-i", "/run/tp/a.sock", "-W", "-b", "/terminals/node1"], launch.Arguments[..5]);
        Assert.DoesNotContain("-p", launch.Arguments);
    }

    [Fact]
    public void A_session_fits_only_the_options_that_would_start_it_today()
    {
        var direct = Builder(new TtydSessionOptions());
        var proxy = Builder(new TtydSessionOptions { ListenMode = TtydListenMode.UnixSocket, BasePath = "/terminals" });
        var session = Planned(direct, credential: TtydCredential.CreateRandom()) with { Persistent = true };

        Assert.True(direct.Fits(session));
        Assert.False(direct.Fits(session with { Persistent = false })); // a shell that dies with its page, after persistence was turned on
        Assert.False(Builder(new TtydSessionOptions { PersistentShells = false }).Fits(session));
        Assert.False(proxy.Fits(session)); // a port session after a switch to proxy mode
        Assert.False(direct.Fits(session with { Credential = null })); // other credential policy
        Assert.False(direct.Fits(session with { Port = 9001 })); // outside today's range
        Assert.False(direct.Fits(session with { Address = IPAddress.IPv6Loopback }));
    }

    [Fact]
    public void A_persistent_session_runs_tmux_on_its_socket_which_runs_the_exec_as_an_argument_list()
    {
        var builder = Builder(new TtydSessionOptions { ScrollbackLines = 500 });
        var planned = Planned(builder) with { Persistent = true };

        var arguments = builder.Build(planned, Token, Key, "/usr/bin/ttyd", "/run/tp/x.log", "/usr/bin/tmux", "/run/tp/t.tmux").Arguments;

        var tmux = arguments.IndexOf("/usr/bin/tmux");
        Assert.Equal(["/usr/bin/tmux", "-u", "-f", "/dev/null", "-S", "/run/tp/t.tmux", "start-server", ";"], arguments[tmux..(tmux + 8)]);
        var newSession = arguments.IndexOf("new-session");
        Assert.Equal(["new-session", "-A", "-s", "main", "--", "docker", "--host", "unix:///var/run/docker.sock", "exec", "-it", "-e", $"TTYDPORTS_EXEC={Token}", "-e", "TERM=screen-256color", Id, "/bin/sh"],
            arguments[newSession..]);
        var settings = string.Join(' ', arguments[tmux..newSession]);
        Assert.Contains("set-option -g status off ;", settings, StringComparison.Ordinal);
        Assert.Contains("set-option -g prefix None ;", settings, StringComparison.Ordinal);
        Assert.Contains("set-option -g window-size latest ;", settings, StringComparison.Ordinal);
        Assert.Contains("set-option -g history-limit 500 ;", settings, StringComparison.Ordinal);
        Assert.Contains("set-option -g exit-empty on ;", settings, StringComparison.Ordinal);
        Assert.Contains("set-option -g destroy-unattached off ;", settings, StringComparison.Ordinal);
        Assert.Equal("tmux", builder.Build(planned, Token, Key, "/usr/bin/ttyd", "/x.log", "/usr/bin/tmux", "/run/tp/t.tmux").Environment["TTYDPORTS_TERMINAL"]);

        // Control: without persistence ttyd runs docker itself, and no tmux appears.
        var plain = builder.Build(Planned(builder), Token, Key, "/usr/bin/ttyd", "/run/tp/x.log").Arguments;
        Assert.DoesNotContain("/usr/bin/tmux", plain);
        Assert.Equal("/bin/sh", plain[^1]);
        Assert.Throws<InvalidOperationException>(() => builder.Build(planned, Token, Key, "/usr/bin/ttyd", "/x.log"));
    }

    [Fact]
    public void The_shell_started_with_the_session_is_ttyds_attach_command_with_the_same_settings_but_detached()
    {
        var builder = Builder(new TtydSessionOptions { ScrollbackLines = 500 });
        var planned = Planned(builder) with { Persistent = true };
        var attach = builder.Build(planned, Token, Key, "/usr/bin/ttyd", "/run/tp/x.log", "/usr/bin/tmux", "/run/tp/t.tmux").Arguments;

        var create = TmuxCommand.Create("/usr/bin/tmux", "/run/tp/t.tmux", 500, builder.ShellCommand(planned, Token));

        var tmux = attach.IndexOf("/usr/bin/tmux");
        var newSession = attach.IndexOf("new-session");
        Assert.Equal(attach[tmux..newSession], create[..(newSession - tmux)]); // same server, same settings, whichever starts it
        Assert.Equal(["new-session", "-d", "-x", "80", "-y", "24", "-s", "main", "--"], create[(newSession - tmux)..(newSession - tmux + 9)]);
        Assert.Equal(attach[(newSession + 5)..], create[(newSession - tmux + 9)..]); // the same docker exec, token included
        Assert.Equal(["docker", "--host", "unix:///var/run/docker.sock", "exec", "-it", "-e", $"TTYDPORTS_EXEC={Token}", "/bin/sh"],
            [.. builder.ShellCommand(Planned(builder), Token).Where(a => a != Id)]); // control: a plain session's command has no TERM
    }

    [Fact]
    public void The_observer_is_a_read_only_ttyd_with_a_read_only_tmux_client_under_watch_and_signed_as_an_observer()
    {
        var options = new TtydSessionOptions { ListenMode = TtydListenMode.UnixSocket, BasePath = "/terminals", PersistentShells = true };
        options.ExtraTtydArguments.Add("-W"); // an extra argument cannot make the observer writable
        var builder = Builder(options);
        var credential = TtydCredential.CreateRandom();
        var planned = Planned(builder, port: 0, socket: "/run/tp/a.sock", credential: credential) with { Persistent = true, ObserverSocketPath = "/run/tp/a.watch.sock" };

        var owner = builder.Build(planned, Token, Key, "/usr/bin/ttyd", "/x.log", "/usr/bin/tmux", "/run/tp/t.tmux");
        var observer = builder.BuildObserver(planned, Token, Key, "/usr/bin/ttyd", "/usr/bin/tmux", "/run/tp/t.tmux");

        Assert.True(builder.UseObservers);
        Assert.Contains("-W", owner.Arguments); // control
        Assert.DoesNotContain("-W", observer.Arguments);
        Assert.Equal(["-i", "/run/tp/a.watch.sock", "-b", "/terminals/node1/watch", "-O", "-m", "4", "-c", $"ttydports:{credential.Password}"], observer.Arguments[..9]);
        Assert.Equal(["/usr/bin/tmux", "-u", "-f", "/dev/null", "-S", "/run/tp/t.tmux", "attach-session", "-f", "read-only,ignore-size", "-t", "main"], observer.Arguments[9..]);
        Assert.Equal("observer", observer.Environment["TTYDPORTS_ROLE"]);
        Assert.False(owner.Environment.ContainsKey("TTYDPORTS_ROLE"));
        Assert.True(MarkerSignature.Verify(Key, observer.Environment));
        Assert.False(new TtydLaunchBuilder(new TtydSessionOptions { ListenMode = TtydListenMode.UnixSocket, PersistentShells = false }, "/r", Docker, _ => null).UseObservers);
        Assert.False(Builder(new TtydSessionOptions()).UseObservers); // direct mode has no observer path
    }

    [Fact]
    public void A_planned_session_without_a_container_id_cannot_be_launched()
    {
        var builder = Builder(new TtydSessionOptions());

        var error = Assert.Throws<InvalidOperationException>(() => builder.Build(Planned(builder) with { ContainerId = null }, Token, Key, "/usr/bin/ttyd", "/x.log"));

        Assert.Contains("node1", error.Message, StringComparison.Ordinal);
    }
}

/// <summary>The repair pass's decisions as pure code.</summary>
public sealed class RepairDecisionTests
{
    private const long Frequency = TimeSpan.TicksPerSecond;
    private static readonly string IdA = new('a', 64);

    private static SessionEntry Entry(string container = "node1", int port = 8000, string? socket = null, long lastActive = 0) =>
        new(new TtydSession { Container = container, ContainerId = IdA, Port = port, Process = new ProcessIdentity(1, 1), UserId = "alice", SocketPath = socket }, new string('0', 32), lastActive);

    [Fact]
    public void Only_sessions_with_a_client_become_active()
    {
        var withClient = Entry(port: 8000);
        var withoutClient = Entry(port: 8001);
        var socket = Entry(socket: "/run/tp/a.sock");

        RepairDecisions.MarkActive([withClient, withoutClient, socket], new Dictionary<int, int> { [8000] = 1 }, new Dictionary<string, int> { ["/run/tp/a.sock"] = 2 }, now: 50);

        Assert.Equal(50, withClient.LastActive);
        Assert.Equal(0, withoutClient.LastActive);
        Assert.Equal(50, socket.LastActive);
    }

    [Fact]
    public void A_name_with_another_id_is_stale_at_once_and_a_missing_one_waits_out_the_grace_period()
    {
        var recreated = Entry("node1");
        var missing = Entry("node2");
        var present = Entry("node3");
        var listing = new Dictionary<string, string> { ["node1"] = new('b', 64), ["node3"] = IdA };

        RepairDecisions.MarkPresence([recreated, missing, present], listing, now: 10 * Frequency);

        Assert.True(recreated.Stale);
        Assert.False(missing.Stale);
        Assert.False(present.Stale);
        Assert.False(RepairDecisions.IsOrphanDue(missing, 69 * Frequency, Frequency, TimeSpan.FromSeconds(60)));
        Assert.True(RepairDecisions.IsOrphanDue(missing, 70 * Frequency, Frequency, TimeSpan.FromSeconds(60)));
        Assert.False(RepairDecisions.IsOrphanDue(present, 70 * Frequency, Frequency, TimeSpan.FromSeconds(60)));

        RepairDecisions.MarkPresence([missing], new Dictionary<string, string> { ["node2"] = IdA }, now: 20 * Frequency); // back in time
        Assert.False(RepairDecisions.IsOrphanDue(missing, 100 * Frequency, Frequency, TimeSpan.FromSeconds(60)));
    }

    [Fact]
    public void A_session_is_idle_once_it_had_no_client_for_the_timeout()
    {
        var entry = Entry(lastActive: 100 * Frequency);

        Assert.False(RepairDecisions.IsIdleDue(entry, 399 * Frequency, Frequency, TimeSpan.FromMinutes(5)));
        Assert.True(RepairDecisions.IsIdleDue(entry, 400 * Frequency, Frequency, TimeSpan.FromMinutes(5)));
    }

    [Fact]
    public void An_observer_is_due_to_stop_once_unused_for_the_interval_and_a_watcher_or_a_hand_out_makes_it_used()
    {
        var watched = Entry("node1", socket: "/run/tp/a.sock");
        watched.Observer = new ObserverTerminal("/run/tp/a.watch.sock", new ProcessIdentity(41, 1));
        var unwatched = Entry("node2", socket: "/run/tp/b.sock");
        unwatched.Observer = new ObserverTerminal("/run/tp/b.watch.sock", new ProcessIdentity(42, 1));
        var none = Entry("node3", socket: "/run/tp/c.sock");
        var clients = new Dictionary<string, int> { ["/run/tp/a.watch.sock"] = 1, ["/run/tp/b.sock"] = 3 }; // the owner's clients are not watchers
        var interval = TimeSpan.FromSeconds(30);

        Assert.Empty(RepairDecisions.IdleObservers([watched, unwatched, none], clients, 29 * Frequency, Frequency, interval));
        Assert.Equal(29 * Frequency, watched.ObserverUsed);
        Assert.Equal([unwatched], RepairDecisions.IdleObservers([watched, unwatched, none], clients, 30 * Frequency, Frequency, interval));

        // Handed to a watcher at 40 s (the watch path marks it): not idle until 70 s, whatever passes run between.
        unwatched.ObserverUsed = 40 * Frequency;
        Assert.Empty(RepairDecisions.IdleObservers([unwatched], clients, 69 * Frequency, Frequency, interval));
        Assert.Empty(RepairDecisions.IdleObservers([unwatched], clients, 69 * Frequency, Frequency, interval));
        Assert.Equal([unwatched], RepairDecisions.IdleObservers([unwatched], clients, 70 * Frequency, Frequency, interval));
    }
}
