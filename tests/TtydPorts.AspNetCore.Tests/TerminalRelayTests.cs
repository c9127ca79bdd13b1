using System.Net.WebSockets;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using TtydPorts.IntegrationTests;

namespace TtydPorts.AspNetCore.Tests;

/// <summary>
/// The proxy's own WebSocket relay (TerminalRelay) over real ttyd, tmux and Docker: where ttyd's output goes (straight to
/// the client's socket over plain HTTP, through Kestrel over HTTPS), and that its thread lives exactly as long as the
/// connection.
/// </summary>
[System.Runtime.Versioning.SupportedOSPlatform("linux")]
[Collection(RealHostsCollection.Name)]
public sealed class TerminalRelayTests(ProxyContainers containers) : IClassFixture<ProxyContainers>
{
    private const string Direct = "straight to the client's socket";
    private const string ThroughKestrel = "through Kestrel";

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Over_plain_http_output_goes_straight_to_the_client_socket_and_the_terminal_works()
    {
        var container = containers.Start();
        var logs = new CapturedLogs();
        await using var host = await ProxyHost.StartAsync(services: s => Capture(s, logs));
        _ = await host.Manager.EnsureSessionAsync(container, "alice", null, Ct);
        using var alice = await host.ClientAsync("alice");

        await using var terminal = await alice.ConnectAsync(container, host.Origin, Ct);
        await terminal.TypeAsync("echo relay-$((6*7))\r", Ct);
        await terminal.WaitForAsync("relay-42", Poll.Within(30));

        Assert.Contains($"'{container}', its output {Direct}", logs.Text, StringComparison.Ordinal);
        Assert.DoesNotContain(ThroughKestrel, logs.Text, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Over_https_output_goes_through_kestrel_so_that_tls_is_kept_and_the_terminal_works()
    {
        var container = containers.Start();
        var logs = new CapturedLogs();
        using var certificate = ProxyHost.SelfSignedCertificate();
        await using var host = await ProxyHost.StartAsync(services: s => Capture(s, logs), https: certificate);
        Assert.Equal("https", host.BaseAddress.Scheme);
        _ = await host.Manager.EnsureSessionAsync(container, "alice", null, Ct);
        using var alice = await host.ClientAsync("alice");

        // A plaintext write past TLS would break the record layer: the client could not read the echo.
        await using var terminal = await alice.ConnectAsync(container, host.Origin, Ct);
        await terminal.TypeAsync("echo tls-$((6*7))\r", Ct);
        await terminal.WaitForAsync("tls-42", Poll.Within(30));

        Assert.Contains($"'{container}', its output {ThroughKestrel}", logs.Text, StringComparison.Ordinal);
        Assert.DoesNotContain(Direct, logs.Text, StringComparison.Ordinal);
    }

    [Fact]
    public async Task With_direct_socket_output_off_output_goes_through_kestrel_and_the_terminal_works()
    {
        var container = containers.Start();
        var logs = new CapturedLogs();
        await using var host = await ProxyHost.StartAsync(proxy: o => o.DirectSocketOutput = false, services: s => Capture(s, logs));
        _ = await host.Manager.EnsureSessionAsync(container, "alice", null, Ct);
        using var alice = await host.ClientAsync("alice");

        await using var terminal = await alice.ConnectAsync(container, host.Origin, Ct);
        await terminal.TypeAsync("echo off-$((6*7))\r", Ct);
        await terminal.WaitForAsync("off-42", Poll.Within(30));

        Assert.Contains($"'{container}', its output {ThroughKestrel}", logs.Text, StringComparison.Ordinal);
        Assert.DoesNotContain(Direct, logs.Text, StringComparison.Ordinal);
    }

    [Fact]
    public async Task The_relay_thread_ends_when_the_browser_leaves_and_when_the_session_is_stopped()
    {
        var container = containers.Start();
        await using var host = await ProxyHost.StartAsync();
        _ = await host.Manager.EnsureSessionAsync(container, "alice", null, Ct);
        using var alice = await host.ClientAsync("alice");
        var before = RelayThreads();

        // The browser leaves: its thread ends.
        var first = await alice.ConnectAsync(container, host.Origin, Ct);
        await first.TypeAsync("echo one\r", Ct);
        await first.WaitForAsync("one", Poll.Within(30));
        Assert.Equal(before + 1, RelayThreads());
        await first.DisposeAsync();
        await Poll.UntilAsync(() => RelayThreads() == before, Poll.Within(30));

        // The session is stopped while a browser is connected: the browser's socket closes, the thread ends.
        await using var second = await alice.ConnectAsync(container, host.Origin, Ct);
        await second.TypeAsync("echo two\r", Ct);
        await second.WaitForAsync("two", Poll.Within(30));
        Assert.Equal(before + 1, RelayThreads());
        Assert.Single((await host.Manager.DeleteNodeAsync(container, Ct)).Stopped);
        await Assert.ThrowsAnyAsync<Exception>(() => second.WaitForAsync("never printed", Poll.Within(30)));
        await Poll.UntilAsync(() => RelayThreads() == before, Poll.Within(30));
    }

    private static void Capture(IServiceCollection services, CapturedLogs logs)
    {
        services.AddSingleton<ILoggerProvider>(logs);
        services.Configure<LoggerFilterOptions>(o => o.Rules.Add(new LoggerFilterRule(typeof(CapturedLogs).FullName, null, LogLevel.Debug, null)));
    }

    // Threads of this process named as the relay names its output threads (comm holds at most 15 characters).
    private static int RelayThreads() =>
        Directory.EnumerateDirectories("/proc/self/task").Count(task =>
        {
            try
            {
                return File.ReadAllText(Path.Combine(task, "comm")).Trim() == "ttydports-relay";
            }
            catch (IOException)
            {
                return false; // the thread ended between the listing and the read
            }
        });
}
