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
}

public sealed class TtydSessionTests
{
    [Fact]
    public void A_credential_never_shows_its_password_when_printed()
    {
        var credential = new TtydCredential("ttydports", "s3cret-value");
        var session = new TtydSession("n", 1, IPAddress.Loopback, default, "u", null, DateTimeOffset.UnixEpoch, Credential: credential);

        Assert.DoesNotContain("s3cret-value", credential.ToString(), StringComparison.Ordinal);
        Assert.DoesNotContain("s3cret-value", session.ToString(), StringComparison.Ordinal);
        Assert.Equal("Basic " + Convert.ToBase64String(Encoding.UTF8.GetBytes("ttydports:s3cret-value")), credential.AuthorizationHeaderValue);
    }

    [Fact]
    public void A_session_on_a_unix_socket_has_no_url_of_its_own() =>
        Assert.Contains("/terminals/n", Assert.Throws<InvalidOperationException>(() =>
            new TtydSession("n", 0, IPAddress.Loopback, default, "u", null, DateTimeOffset.UnixEpoch, "/run/x.sock", null, "/terminals/n").GetUrl()).Message, StringComparison.Ordinal);

    private static TtydSession Session(IPAddress address) =>
        new("node1", 8001, address, new ProcessIdentity(10, 20), "alice", null, DateTimeOffset.UnixEpoch);

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
    [InlineData("terminals")]
    [InlineData("/terminals/")]
    [InlineData("/a/../b")]
    [InlineData("/a b")]
    public void A_base_path_must_be_a_clean_absolute_path(string basePath) =>
        Assert.Contains("BasePath", ValidationError(o => o.BasePath = basePath), StringComparison.Ordinal);

    [Fact]
    public void Every_part_can_be_replaced_by_registering_it_first()
    {
        var inventory = Mock.Of<IContainerInventory>();
        var services = new ServiceCollection().AddLogging();
        services.AddSingleton(inventory);
        services.AddTtydSessions();
        using var provider = services.BuildServiceProvider();

        Assert.Same(inventory, provider.GetRequiredService<IContainerInventory>());
        Assert.IsType<PortAllocator>(provider.GetRequiredService<IPortAllocator>());
        Assert.IsType<TtydSessionManager>(provider.GetRequiredService<ITtydSessionManager>());
    }
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

        Assert.NotNull(SockDiag.FindListenerInodes(port));
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

public sealed class DockerEndpointTests
{
    [Theory]
    [InlineData(null, null, "/var/run/docker.sock")]
    [InlineData(null, "unix:///run/user/1000/docker.sock", "/run/user/1000/docker.sock")]
    [InlineData(null, "tcp://10.0.0.1:2375", "/var/run/docker.sock")]
    [InlineData("unix:///tmp/d.sock", "unix:///run/other.sock", "/tmp/d.sock")]
    public void The_socket_comes_from_the_options_then_DOCKER_HOST_then_the_default(string? configured, string? dockerHost, string expected) =>
        Assert.Equal(expected, DockerContainerInventory.ResolveSocketPath(configured, dockerHost));
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
