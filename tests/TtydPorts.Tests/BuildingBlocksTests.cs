using System.Net;
using System.Text;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using Moq;

namespace TtydPorts.Tests;

public sealed class SessionIdsTests
{
    [Theory]
    [InlineData("node1", true)]
    [InlineData("clab-topo_1.r1-eth0", true)]
    [InlineData("N", true)]
    [InlineData("_node", false)]
    [InlineData(".node", false)]
    [InlineData("node/1", false)]
    [InlineData("node 1", false)]
    [InlineData("nöde", false)]
    [InlineData("node@x", false)]
    public void Container_names_follow_dockers_rule(string name, bool valid) => Assert.Equal(valid, SessionIds.IsValidContainerName(name));

    [Theory]
    [InlineData("alice", true)]
    [InlineData("alice@example.org", true)]
    [InlineData("3f2504e0-4f89-11d3-9a0c-0305e82c3301", true)]
    [InlineData("..", false)]
    [InlineData("a b", false)]
    [InlineData("a|b", false)]
    public void User_ids_allow_mail_addresses_and_guids_but_no_metacharacters(string id, bool valid) => Assert.Equal(valid, SessionIds.IsValidId(id));

    [Fact]
    public void Quoting_escapes_control_characters_so_the_error_stays_one_line() =>
        Assert.Equal("'a\\u000ab'", SessionIds.Quote("a\nb"));

    [Theory]
    [InlineData("a\u0085\u007f\u2028\u202eb", "'a\\u0085\\u007f\u2028\u202eb'")] // C1 and DEL escaped; separators and bidi controls are LogText's
    [InlineData(null, "(null)")]
    public void Quoting_escapes_exactly_the_control_characters(string? value, string expected) => Assert.Equal(expected, SessionIds.Quote(value));

    [Fact]
    public void Quoting_cuts_a_long_value_at_80_characters_and_says_how_long_it_was() =>
        Assert.Equal($"'{new string('a', 80)}…' (81 characters)", SessionIds.Quote(new string('a', 81)));
}

public sealed class ControlTextTests
{
    [Fact]
    public void The_control_set_is_exactly_what_char_IsControl_is() =>
        Assert.All(Enumerable.Range(0, char.MaxValue + 1), c => Assert.Equal(char.IsControl((char)c), ControlText.C0C1.Contains((char)c)));

    [Fact]
    public void Text_without_a_character_to_escape_is_the_same_instance()
    {
        var text = "café \u2028";

        Assert.Same(text, ControlText.Escape(text, ControlText.C0C1, ControlText.Unicode));
    }
}

public sealed class TtydSessionTests
{
    [Fact]
    public void A_credential_never_shows_its_password_when_printed()
    {
        var credential = new TtydCredential("ttydports", "s3cret-value");
        var session = new TtydSession { Container = "n", Port = 1, UserId = "u", Credential = credential };

        Assert.DoesNotContain("s3cret-value", credential.ToString(), StringComparison.Ordinal);
        Assert.DoesNotContain("s3cret-value", session.ToString(), StringComparison.Ordinal);
        Assert.Equal("Basic " + Convert.ToBase64String(Encoding.UTF8.GetBytes("ttydports:s3cret-value")), credential.AuthorizationHeaderValue);
    }

    [Fact]
    public void A_session_on_a_unix_socket_has_no_url_of_its_own() =>
        Assert.Contains("/terminals/n", Assert.Throws<InvalidOperationException>(() =>
            new TtydSession { Container = "n", UserId = "u", SocketPath = "/run/x.sock", BasePath = "/terminals/n" }.GetUrl()).Message, StringComparison.Ordinal);

    private static TtydSession Session(IPAddress address) =>
        new() { Container = "node1", Port = 8001, Address = address, Process = new ProcessIdentity(10, 20), UserId = "alice" };

    [Fact]
    public void Url_uses_the_given_host_name() =>
        Assert.Equal("http://lab.example:8001/", Session(IPAddress.Loopback).GetUrl("lab.example").ToString());

    [Fact]
    public void Url_brackets_an_ipv6_host() =>
        Assert.Equal("https://[2001:db8::1]:8001/", Session(IPAddress.Loopback).GetUrl("2001:db8::1", "https").ToString());

    [Fact]
    public void Url_defaults_to_the_bind_address_and_brackets_it_when_it_is_ipv6() =>
        Assert.Equal("http://[::1]:8001/", Session(IPAddress.IPv6Loopback).GetUrl().ToString());

    [Fact]
    public void Url_rejects_a_host_that_is_neither_a_name_nor_an_address() =>
        Assert.Contains("'a:b:zz'", Assert.Throws<ArgumentException>(() => Session(IPAddress.Loopback).GetUrl("a:b:zz")).Message, StringComparison.Ordinal);
}

public sealed class OptionsValidationTests
{
    private static IServiceProvider Provider(Action<TtydSessionOptions> configure) =>
        new ServiceCollection().AddLogging().AddTtydSessions(configure).Services.BuildServiceProvider();

    private static string ValidationError(Action<TtydSessionOptions> configure) =>
        Assert.Throws<OptionsValidationException>(() => Provider(configure).GetRequiredService<IOptions<TtydSessionOptions>>().Value).Message;

    [Fact]
    public void Defaults_are_the_seeds_range_on_loopback()
    {
        var options = Provider(_ => { }).GetRequiredService<IOptions<TtydSessionOptions>>().Value;
        Assert.Equal((8000, 9000, "127.0.0.1", "ttyd", "/bin/sh", true), (options.PortRangeStart, options.PortRangeEnd, options.BindAddress, options.TtydPath, options.Shell, options.Writable));
    }

    [Fact]
    public void Defaults_demand_a_credential_check_the_origin_and_cap_clients_per_terminal()
    {
        var options = Provider(_ => { }).GetRequiredService<IOptions<TtydSessionOptions>>().Value;
        Assert.Equal((true, true, false, 4), (options.RequireCredentials, options.CheckOrigin, options.AllowUnauthenticatedLoopbackTerminals, options.MaxClientsPerTerminal));
    }

    [Fact]
    public void Turning_credentials_off_on_loopback_needs_the_explicit_unsafe_opt_in()
    {
        var error = ValidationError(o => o.RequireCredentials = false);
        Assert.Contains("RequireCredentials = false", error, StringComparison.Ordinal);
        Assert.Contains("AllowUnauthenticatedLoopbackTerminals", error, StringComparison.Ordinal);

        var options = Provider(o => (o.RequireCredentials, o.AllowUnauthenticatedLoopbackTerminals) = (false, true)).GetRequiredService<IOptions<TtydSessionOptions>>().Value;
        Assert.False(options.RequireCredentials);
    }

    [Fact]
    public void A_negative_client_cap_is_refused() =>
        Assert.Contains("MaxClientsPerTerminal", ValidationError(o => o.MaxClientsPerTerminal = -1), StringComparison.Ordinal);

    [Fact]
    public void A_range_whose_start_is_after_its_end_is_refused() =>
        Assert.Contains("PortRangeStart (9000) must not be greater than PortRangeEnd (8000)", ValidationError(o => (o.PortRangeStart, o.PortRangeEnd) = (9000, 8000)), StringComparison.Ordinal);

    [Fact]
    public void Ports_outside_1_to_65535_are_refused() =>
        Assert.Contains("PortRangeEnd", ValidationError(o => o.PortRangeEnd = 70000), StringComparison.Ordinal);

    [Fact]
    public void A_bind_address_that_does_not_parse_is_refused() =>
        Assert.Contains("'0.0.0.0.0'", ValidationError(o => o.BindAddress = "0.0.0.0.0"), StringComparison.Ordinal);

    [Fact]
    public void Non_positive_timeouts_are_refused() =>
        Assert.Contains("StartTimeout", ValidationError(o => o.StartTimeout = TimeSpan.Zero), StringComparison.Ordinal);

    [Fact]
    public void An_empty_ttyd_path_is_refused() =>
        Assert.Contains("TtydPath", ValidationError(o => o.TtydPath = ""), StringComparison.Ordinal);

    [Fact]
    public void A_non_loopback_bind_address_needs_an_explicit_opt_in() =>
        Assert.Contains("BindAddress '0.0.0.0' is not a loopback address", ValidationError(o => o.BindAddress = "0.0.0.0"), StringComparison.Ordinal);

    [Fact]
    public void A_non_loopback_bind_address_is_accepted_with_remote_access_on()
    {
        var options = Provider(o => (o.BindAddress, o.AllowRemoteAccess) = ("0.0.0.0", true)).GetRequiredService<IOptions<TtydSessionOptions>>().Value;
        Assert.True(options.AllowRemoteAccess);
    }

    [Theory]
    [InlineData("::ffff:127.0.0.1", "IPv4-mapped")]
    [InlineData("fe80::1%1", "scope id")]
    [InlineData("fe80::1", "link-local")]
    [InlineData("239.1.2.3", "multicast")]
    [InlineData("ff02::1", "multicast")]
    [InlineData("255.255.255.255", "broadcast")]
    public void An_address_ttyd_cannot_listen_on_is_refused_naming_it(string address, string why)
    {
        var error = ValidationError(o => (o.BindAddress, o.AllowRemoteAccess) = (address, true));
        Assert.Contains($"BindAddress '{address}'", error, StringComparison.Ordinal);
        Assert.Contains(why, error, StringComparison.Ordinal);
    }

    [Fact]
    public void The_ipv4_mapped_loopback_passes_no_loopback_check_by_default() =>
        Assert.Contains("BindAddress '::ffff:127.0.0.1' is an IPv4-mapped IPv6 address", ValidationError(o => o.BindAddress = "::ffff:127.0.0.1"), StringComparison.Ordinal);

    [Theory]
    [InlineData("127.0.0.1", false)]
    [InlineData("::1", false)]
    [InlineData("0.0.0.0", true)]
    [InlineData("::", true)]
    [InlineData("192.0.2.10", true)]
    public void Plain_addresses_of_either_family_are_accepted(string address, bool remote) =>
        Assert.Equal(address, Provider(o => (o.BindAddress, o.AllowRemoteAccess) = (address, remote)).GetRequiredService<IOptions<TtydSessionOptions>>().Value.BindAddress);

    [Theory]
    [InlineData("terminals")]
    [InlineData("/terminals/")]
    [InlineData("/a/../b")]
    [InlineData("/a b")]
    public void A_base_path_must_be_a_clean_absolute_path(string basePath) =>
        Assert.Contains("BasePath", ValidationError(o => o.BasePath = basePath), StringComparison.Ordinal);
}

public sealed class ProcFsTests
{
    [Fact]
    public void Stat_is_parsed_from_the_last_parenthesis_so_odd_process_names_do_not_shift_fields()
    {
        var fields = string.Join(' ', Enumerable.Range(5, 18).Select(i => i == 22 ? "987654" : i.ToString(System.Globalization.CultureInfo.InvariantCulture)));
        var good = ProcFs.ParseStat(Encoding.ASCII.GetBytes($"42 (a) b) (c) S 7 {fields} 0 0"));
        Assert.Equal(new ProcStat('S', 7, 987654), good);
    }

    [Fact]
    public void A_listener_is_found_by_port_state_and_inode_in_the_socket_table()
    {
        var table = Encoding.ASCII.GetBytes(
            "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n" +
            "   0: 0100007F:1F40 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 4242 1 0000000000000000 100 0 0 10 0\n" +
            "   1: 0100007F:1F41 0100007F:D2A4 01 00000000:00000000 00:00000000 00000000     0        0 5151 1 0000000000000000 20 4 30 10 -1\n");

        Assert.True(ProcFs.HasListener(table, 8000, [4242]));
        Assert.False(ProcFs.HasListener(table, 8000, [9999])); // someone else's listener
        Assert.False(ProcFs.HasListener(table, 8001, [5151])); // established, not listening
    }

    [Fact]
    public void The_kernel_names_the_process_that_owns_a_listening_port()
    {
        using var mine = new System.Net.Sockets.TcpListener(IPAddress.Loopback, 0);
        mine.Start();
        var port = ((IPEndPoint)mine.LocalEndpoint).Port;

        using var other = new System.Net.Sockets.TcpListener(IPAddress.Loopback, 0);
        other.Start();

        // The kernel's filter answers for that port alone, not for the other listener.
        Assert.Single(SockDiag.FindListenerInodes(port)!);
        Assert.Single(SockDiag.FindListenerInodes(((IPEndPoint)other.LocalEndpoint).Port)!);
        Assert.True(ProcFs.HoldsAnySocket(Environment.ProcessId, SockDiag.FindListenerInodes(port)!));
        Assert.True(ProcFs.OwnsListeningSocket(Environment.ProcessId, port));
        Assert.False(ProcFs.OwnsListeningSocket(1, port));
        mine.Stop();
        Assert.False(ProcFs.OwnsListeningSocket(Environment.ProcessId, port));
    }

    [Fact]
    public void Zombies_count_as_exited() => Assert.True(new ProcStat('Z', 1, 1).HasExited);

    [Fact]
    public void The_current_process_is_alive_and_a_recycled_pid_is_not_taken_for_it()
    {
        var supervisor = new LinuxProcessSupervisor();
        var self = ProcFs.ReadStat(Environment.ProcessId)!.Value;

        Assert.True(supervisor.IsAlive(new ProcessIdentity(Environment.ProcessId, self.StartTime)));
        Assert.False(supervisor.IsAlive(new ProcessIdentity(Environment.ProcessId, self.StartTime + 1)));
    }
}

public sealed class EngineEndpointTests
{
    private static string? Resolve(string? configured, string? dockerHost = null, string? dockerContext = null, string? tlsVerify = null, string? certPath = null) =>
        EngineEndpoint.TryResolveDocker(configured, null, name => name switch
        {
            "DOCKER_HOST" => dockerHost,
            "DOCKER_CONTEXT" => dockerContext,
            "DOCKER_TLS_VERIFY" => tlsVerify,
            "DOCKER_CERT_PATH" => certPath,
            "HOME" => "/home/lab",
            _ => null,
        }, out _)?.Uri;

    [Theory]
    [InlineData(null, null, null, "unix:///var/run/docker.sock")]
    [InlineData(null, "unix:///run/user/1000/docker.sock", null, "unix:///run/user/1000/docker.sock")]
    [InlineData("unix:///tmp/d.sock", "unix:///run/other.sock", null, "unix:///tmp/d.sock")]
    [InlineData("unix:///tmp/d.sock", "tcp://10.0.0.1:2375", "remote", "unix:///tmp/d.sock")]
    [InlineData(null, null, "default", "unix:///var/run/docker.sock")]
    public void The_engine_comes_from_the_options_then_DOCKER_HOST_then_the_default(string? configured, string? dockerHost, string? dockerContext, string expected) =>
        Assert.Equal(expected, Resolve(configured, dockerHost, dockerContext));

    [Fact]
    public void A_TCP_engine_is_used_only_with_TLS_and_its_certificates_come_from_DOCKER_CERT_PATH_then_home()
    {
        Func<string, string?> env(string? verify, string? certs) => name => name switch
        {
            "DOCKER_HOST" => "tcp://10.0.0.1:2376",
            "DOCKER_TLS_VERIFY" => verify,
            "DOCKER_CERT_PATH" => certs,
            "HOME" => "/home/lab",
            _ => null,
        };

        var plain = EngineEndpoint.TryResolveDocker(null, null, env(null, null), out var plainError);
        var fromHome = EngineEndpoint.TryResolveDocker(null, null, env("1", null), out _)!;
        var fromVariable = EngineEndpoint.TryResolveDocker(null, null, env("1", "/etc/lab-certs"), out _)!;
        var configured = EngineEndpoint.TryResolveDocker("tcp://lab-engine:2376", "/srv/certs", env(null, null), out _)!;

        Assert.Null(plain);
        Assert.Contains("DOCKER_HOST 'tcp://10.0.0.1:2376' is a TCP engine without DOCKER_TLS_VERIFY", plainError, StringComparison.Ordinal);
        Assert.Equal("/home/lab/.docker/ca.pem", fromHome.CaFile);
        Assert.Equal("/etc/lab-certs/key.pem", fromVariable.KeyFile);
        Assert.False(fromVariable.IsLocal);
        Assert.Equal(["--host", "tcp://lab-engine:2376", "--tlsverify", "--tlscacert", "/srv/certs/ca.pem", "--tlscert", "/srv/certs/cert.pem", "--tlskey", "/srv/certs/key.pem"], configured.DockerCliOptions);
        Assert.Equal(("lab-engine", 2376), (configured.Host, configured.Port));
    }

    [Theory]
    [InlineData("ssh://lab@10.0.0.1")]
    [InlineData("unix://relative.sock")]
    [InlineData("tcp://10.0.0.1")]
    [InlineData("tcp://10.0.0.1:2376/path")]
    public void A_DOCKER_HOST_the_library_cannot_use_fails_validation_naming_it_instead_of_falling_back(string dockerHost)
    {
        var rules = new TtydSessionOptionsRules(name => name switch { "DOCKER_HOST" => dockerHost, "DOCKER_TLS_VERIFY" => "1", _ => null });

        var result = rules.Validate(null, new TtydSessionOptions());
        var pinned = rules.Validate(null, new TtydSessionOptions { DockerEndpoint = "unix:///var/run/docker.sock" });

        Assert.True(result.Failed);
        Assert.Contains($"DOCKER_HOST '{dockerHost}' must be unix:///absolute/path or tcp://host:port", result.FailureMessage, StringComparison.Ordinal);
        Assert.True(pinned.Succeeded, pinned.FailureMessage); // an explicit endpoint is what both the inventory and the terminals use
    }

    [Fact]
    public void A_DOCKER_CONTEXT_without_an_explicit_endpoint_fails_validation_naming_it()
    {
        var result = new TtydSessionOptionsRules(name => name == "DOCKER_CONTEXT" ? "remote-lab" : null).Validate(null, new TtydSessionOptions());
        var unixHost = new TtydSessionOptionsRules(name => name switch { "DOCKER_CONTEXT" => "remote-lab", "DOCKER_HOST" => "unix:///run/d.sock", _ => null })
            .Validate(null, new TtydSessionOptions());

        Assert.Contains("DOCKER_CONTEXT 'remote-lab' is set", result.FailureMessage, StringComparison.Ordinal);
        Assert.True(unixHost.Succeeded, unixHost.FailureMessage); // DOCKER_HOST names the engine, as it does for the docker client
    }

    [Theory]
    [InlineData("unix://")]
    [InlineData("http://127.0.0.1:2375")]
    public void A_docker_endpoint_that_is_neither_a_unix_socket_nor_tcp_is_refused(string endpoint) =>
        Assert.Contains($"DockerEndpoint '{endpoint}'", new TtydSessionOptionsRules(_ => null).Validate(null, new TtydSessionOptions { DockerEndpoint = endpoint }).FailureMessage, StringComparison.Ordinal);

    [Fact]
    public void A_TCP_endpoint_whose_certificates_are_missing_or_exposed_fails_validation_naming_the_file()
    {
        var folder = Directory.CreateTempSubdirectory("ttydports-certs-");
        try
        {
            var options = new TtydSessionOptions { DockerEndpoint = "tcp://127.0.0.1:2376", DockerCertPath = folder.FullName };
            var rules = new TtydSessionOptionsRules(_ => null);
            var missing = rules.Validate(null, options);
            foreach (var name in new[] { "ca.pem", "cert.pem", "key.pem" })
            {
                File.WriteAllText(Path.Combine(folder.FullName, name), "x");
                File.SetUnixFileMode(Path.Combine(folder.FullName, name), UnixFileMode.UserRead | UnixFileMode.UserWrite);
            }

            File.SetUnixFileMode(folder.FullName, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
            var complete = rules.Validate(null, options);
            File.SetUnixFileMode(Path.Combine(folder.FullName, "key.pem"), UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.OtherRead);
            var readableKey = rules.Validate(null, options);
            File.SetUnixFileMode(Path.Combine(folder.FullName, "key.pem"), UnixFileMode.UserRead | UnixFileMode.UserWrite);
            File.SetUnixFileMode(Path.Combine(folder.FullName, "ca.pem"), UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.OtherWrite);
            var writableCa = rules.Validate(null, options);

            Assert.Contains($"'{folder.FullName}/ca.pem'", missing.FailureMessage, StringComparison.Ordinal);
            Assert.True(complete.Succeeded, complete.FailureMessage);
            Assert.Contains($"'{folder.FullName}/key.pem' is readable by other users", readableKey.FailureMessage, StringComparison.Ordinal);
            Assert.Contains($"'{folder.FullName}/ca.pem' is writable by other users", writableCa.FailureMessage, StringComparison.Ordinal);
        }
        finally
        {
            folder.Delete(recursive: true);
        }
    }

    [Theory]
    [InlineData(null, null, true, "unix:///run/podman/podman.sock")]
    [InlineData(null, null, false, "unix:///run/user/1000/podman/podman.sock")]
    [InlineData(null, "unix:///srv/podman.sock", false, "unix:///srv/podman.sock")]
    [InlineData("unix:///lab/podman.sock", "unix:///srv/podman.sock", true, "unix:///lab/podman.sock")]
    public void Podman_comes_from_the_options_then_CONTAINER_HOST_then_the_services_default_socket(string? configured, string? containerHost, bool root, string expected) =>
        Assert.Equal(expected, EngineEndpoint.TryResolvePodman(configured, name => name switch
        {
            "CONTAINER_HOST" => containerHost,
            "XDG_RUNTIME_DIR" => "/run/user/1000",
            _ => null,
        }, root, out _)?.Uri);

    [Fact]
    public void A_podman_endpoint_that_is_not_a_unix_socket_is_refused_naming_it()
    {
        var result = new TtydSessionOptionsRules(name => name == "CONTAINER_HOST" ? "ssh://core@lab/run/podman/podman.sock" : null)
            .Validate(null, new TtydSessionOptions { ContainerRuntime = ContainerRuntimeKind.Podman });
        var docker = new TtydSessionOptionsRules(name => name == "CONTAINER_HOST" ? "ssh://core@lab/run/podman/podman.sock" : null)
            .Validate(null, new TtydSessionOptions());

        Assert.Contains("CONTAINER_HOST 'ssh://core@lab/run/podman/podman.sock' must be a unix:// socket", result.FailureMessage, StringComparison.Ordinal);
        Assert.True(docker.Succeeded, docker.FailureMessage); // control: a Docker host does not read Podman's variable
    }

    [Theory]
    [InlineData("relative/dir")]
    [InlineData("")]
    [InlineData("./ttydports")]
    public void A_runtime_directory_that_is_not_an_absolute_path_fails_validation_naming_it(string path)
    {
        var error = new TtydSessionOptionsRules(_ => null).Validate(null, new TtydSessionOptions { RuntimeDirectory = path }).FailureMessage;

        Assert.Contains($"RuntimeDirectory '{path}' must be an absolute path", error, StringComparison.Ordinal);
        Assert.True(new TtydSessionOptionsRules(_ => null).Validate(null, new TtydSessionOptions { RuntimeDirectory = "/run/lab-ttyd" }).Succeeded);
    }

    [Theory]
    [InlineData("1ABC", "must match")]
    [InlineData("A-B", "must match")]
    [InlineData("TTYDPORTS_USER", "prefix of the session markers")]
    [InlineData("DOCKER_HOST", "set DockerEndpoint (DockerCertPath) or PodmanEndpoint instead")]
    [InlineData("DOCKER_CONTEXT", "set DockerEndpoint (DockerCertPath) or PodmanEndpoint instead")]
    [InlineData("DOCKER_CERT_PATH", "set DockerEndpoint (DockerCertPath) or PodmanEndpoint instead")]
    [InlineData("CONTAINER_HOST", "set DockerEndpoint (DockerCertPath) or PodmanEndpoint instead")]
    [InlineData("NUL_VALUE", "without NUL")]
    public void Launch_variables_that_are_malformed_or_override_what_the_library_pins_are_refused(string name, string why)
    {
        var options = new TtydSessionOptions();
        options.LaunchEnvironment[name] = name == "NUL_VALUE" ? "a\0b" : "x";
        options.LaunchEnvironment["GOOD_NAME_1"] = "fine";

        var error = new TtydSessionOptionsRules(_ => null).Validate(null, options).FailureMessage;

        Assert.Contains($"'{name}'", error, StringComparison.Ordinal);
        Assert.Contains(why, error, StringComparison.Ordinal);
        Assert.DoesNotContain("GOOD_NAME_1", error, StringComparison.Ordinal);
    }
}

public sealed class TickerTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task A_waiter_completes_once_its_condition_holds_and_not_before()
    {
        var flag = 0;
        var wait = Ticker.Shared.WhenAsync(() => Volatile.Read(ref flag) == 1, Ct);
        Assert.False(wait.IsCompleted);

        Volatile.Write(ref flag, 1);
        await wait.WaitAsync(TimeSpan.FromSeconds(10), Ct);
    }

    [Fact]
    public async Task A_cancelled_wait_ends_with_cancellation_and_a_failing_condition_with_its_exception()
    {
        using var cts = new CancellationTokenSource();
        var never = Ticker.Shared.WhenAsync(() => false, cts.Token);
        var failing = Ticker.Shared.WhenAsync(() => throw new InvalidOperationException("broken check"), Ct);
        await cts.CancelAsync();

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => never);
        Assert.Equal("broken check", (await Assert.ThrowsAsync<InvalidOperationException>(() => failing.WaitAsync(TimeSpan.FromSeconds(10), Ct))).Message);
    }
}

public sealed class ExitWaiterTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private static (System.Diagnostics.Process Process, PidFd Handle) Sleeper()
    {
        var process = System.Diagnostics.Process.Start("sleep", "30");
        return (process, PidFd.Open(process.Id) ?? throw new InvalidOperationException("no pidfds on this kernel"));
    }

    [Fact]
    public async Task A_wait_ends_true_once_every_process_has_exited_and_not_before()
    {
        var (first, firstHandle) = Sleeper();
        var (second, secondHandle) = Sleeper();
        using var h1 = firstHandle;
        using var h2 = secondHandle;
        var wait = ExitWaiter.Shared.WhenAllExitedAsync([h1, h2], TimeSpan.FromSeconds(20), Ct);

        first.Kill();
        await first.WaitForExitAsync(Ct);
        await Task.Delay(50, Ct);
        Assert.False(wait.IsCompleted); // the second still runs

        second.Kill();
        Assert.True(await wait.WaitAsync(TimeSpan.FromSeconds(10), Ct));
    }

    [Fact]
    public async Task A_wait_ends_false_at_its_timeout_and_with_cancellation_when_cancelled()
    {
        var (process, handle) = Sleeper();
        using var h = handle;
        try
        {
            var started = System.Diagnostics.Stopwatch.GetTimestamp();
            Assert.False(await ExitWaiter.Shared.WhenAllExitedAsync([h], TimeSpan.FromMilliseconds(100), Ct).WaitAsync(TimeSpan.FromSeconds(10), Ct));
            Assert.True(System.Diagnostics.Stopwatch.GetElapsedTime(started) >= TimeSpan.FromMilliseconds(100));

            using var cts = new CancellationTokenSource();
            var cancelled = ExitWaiter.Shared.WhenAllExitedAsync([h], TimeSpan.FromSeconds(20), cts.Token);
            await cts.CancelAsync();
            await Assert.ThrowsAnyAsync<OperationCanceledException>(() => cancelled.WaitAsync(TimeSpan.FromSeconds(10), Ct));
            Assert.False(h.IsClosed); // the waiter gave its reference back and closed nothing
            Assert.False(h.HasExited);
        }
        finally
        {
            process.Kill();
        }
    }
}

public sealed class RedactionTests
{
    [Fact]
    public void Every_secret_is_replaced_whole_and_other_text_is_kept() =>
        Assert.Equal(
            "credential: *** user *** pass *** port 8000",
            LinuxProcessSupervisor.Redact("credential: dXNlcjpwdw== user u:pw pass pw port 8000", ["pw", "u:pw", "dXNlcjpwdw==", ""]));
}
