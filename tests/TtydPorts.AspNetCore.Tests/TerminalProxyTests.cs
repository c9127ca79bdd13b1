using System.Net;
using System.Net.WebSockets;
using System.Text.RegularExpressions;
using Microsoft.Playwright;
using Microsoft.Extensions.DependencyInjection;
using TtydPorts.IntegrationTests;

namespace TtydPorts.AspNetCore.Tests;

/// <summary>Proxy mode end to end: real host, cookie login, YARP forwarder, real ttyd on a Unix socket, Docker, Chromium.</summary>
[System.Runtime.Versioning.SupportedOSPlatform("linux")]
[Collection(RealHostsCollection.Name)]
public sealed class TerminalProxyTests(ProxyContainers containers) : IClassFixture<ProxyContainers>
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;


    [Fact]
    public async Task The_owner_opens_the_terminal_through_the_proxy_in_chromium_and_runs_hostname()
    {
        Chromium.Require();
        var container = containers.Start();
        await using var host = await ProxyHost.StartAsync();
        var session = await host.Manager.EnsureSessionAsync(container, "alice", null, Ct);
        Assert.NotNull(session!.SocketPath);
        Assert.Equal(0, session.Port);

        var (playwright, browser) = await Chromium.LaunchAsync();
        using var _ = playwright;
        await using var __ = browser;
        var page = await browser.NewPageAsync();
        page.SetDefaultTimeout(30_000);
        var login = await page.GotoAsync(new Uri(host.BaseAddress, "/login?user=alice").ToString());
        Assert.True(login!.Ok);

        // Without the trailing slash: redirected to the terminal's folder, ttyd's own page loads through the proxy.
        await page.GotoAsync(new Uri(host.BaseAddress, $"/terminals/{container}").ToString());
        Assert.Equal(new Uri(host.BaseAddress, $"/terminals/{container}/").ToString(), page.Url);
        var screen = page.Locator(".xterm-rows");
        await Assertions.Expect(screen).ToContainTextAsync("#");
        await page.Locator(".xterm-helper-textarea").FocusAsync();
        await page.Keyboard.TypeAsync("hostname");
        await page.Keyboard.PressAsync("Enter");
        await Assertions.Expect(screen).ToHaveTextAsync(new Regex($"hostname\\s*{Regex.Escape(container)}", RegexOptions.None, TimeSpan.FromSeconds(1)));
        Assert.NotEmpty(TtydProbe.Children(session.ProcessId));
    }

    [Fact]
    public async Task Another_signed_in_user_gets_403_and_no_websocket_reaches_ttyd()
    {
        var container = containers.Start();
        await using var host = await ProxyHost.StartAsync();
        var session = await host.Manager.EnsureSessionAsync(container, "alice", null, Ct);
        using var bob = await host.ClientAsync("bob");

        using (var pageResponse = await bob.Http.GetAsync($"/terminals/{container}/", Ct))
        {
            Assert.Equal(HttpStatusCode.Forbidden, pageResponse.StatusCode);
        }

        using (var token = await bob.Http.GetAsync($"/terminals/{container}/token", Ct))
        {
            Assert.Equal(HttpStatusCode.Forbidden, token.StatusCode);
        }

        var refused = await Assert.ThrowsAsync<WebSocketException>(() => bob.ConnectAsync(container, host.Origin, Ct));
        Assert.Contains("403", refused.Message, StringComparison.Ordinal);
        Assert.Equal(0, TtydProbe.Connections(session!.SocketPath!));
        Assert.Equal(0, TtydProbe.Requests(session));
        Assert.Empty(TtydProbe.Children(session.ProcessId));

        // The same probes see the owner's connection: the assertions above could fail.
        using var alice = await host.ClientAsync("alice");
        await using var terminal = await alice.ConnectAsync(container, host.Origin, Ct);
        await terminal.TypeAsync("echo owner-$((6*7))\r", Ct);
        await terminal.WaitForAsync("owner-42", Poll.Within(30));
        Assert.NotEqual(0, TtydProbe.Connections(session.SocketPath!));
        Assert.NotEmpty(TtydProbe.Children(session.ProcessId));
    }

    [Fact]
    public async Task An_anonymous_user_is_sent_to_the_login_and_gets_no_websocket()
    {
        var container = containers.Start();
        await using var host = await ProxyHost.StartAsync();
        var session = await host.Manager.EnsureSessionAsync(container, "alice", null, Ct);
        using var anonymous = await host.ClientAsync(null);

        using var response = await anonymous.Http.GetAsync($"/terminals/{container}/", Ct);

        Assert.Equal(HttpStatusCode.Redirect, response.StatusCode);
        Assert.Equal("/login", response.Headers.Location!.AbsolutePath);
        Assert.Contains(Uri.EscapeDataString($"/terminals/{container}/"), response.Headers.Location.Query, StringComparison.Ordinal);
        await Assert.ThrowsAsync<WebSocketException>(() => anonymous.ConnectAsync(container, host.Origin, Ct));
        Assert.Equal(HttpStatusCode.Redirect, await anonymous.RawGetAsync("/terminals/tpx-no-such-container/")); // no hint which terminals exist
        Assert.Equal(0, TtydProbe.Connections(session!.SocketPath!));
        Assert.Equal(0, TtydProbe.Requests(session));
        Assert.Empty(TtydProbe.Children(session.ProcessId));
    }

    [Fact]
    public async Task A_websocket_from_another_origin_or_without_one_is_refused_by_the_proxy_and_by_ttyd()
    {
        var container = containers.Start();
        await using var host = await ProxyHost.StartAsync();
        var session = await host.Manager.EnsureSessionAsync(container, "alice", null, Ct);
        using var alice = await host.ClientAsync("alice");

        // Refused by the proxy itself: ttyd never sees a connection.
        var evil = await Assert.ThrowsAsync<WebSocketException>(() => alice.ConnectAsync(container, "http://evil.example", Ct, fetchToken: false));
        Assert.Contains("403", evil.Message, StringComparison.Ordinal);
        await Assert.ThrowsAsync<WebSocketException>(() => alice.ConnectAsync(container, $"http://127.0.0.1:{host.BaseAddress.Port + 1}", Ct, fetchToken: false));
        await Assert.ThrowsAsync<WebSocketException>(() => alice.ConnectAsync(container, $"http://localhost:{host.BaseAddress.Port}", Ct, fetchToken: false));
        await Assert.ThrowsAsync<WebSocketException>(() => alice.ConnectAsync(container, null, Ct, fetchToken: false));
        Assert.Equal(0, TtydProbe.Connections(session!.SocketPath!));
        Assert.Equal(0, TtydProbe.Requests(session));
        Assert.Empty(TtydProbe.Children(session.ProcessId));

        // ttyd's own -O check holds too, even for a client that has the secret.
        var ws = new Uri($"ws://{host.BaseAddress.Authority}/terminals/{container}/ws");
        await Assert.ThrowsAsync<WebSocketException>(() => TtydClient.ConnectAsync(ws, session.Credential, session.SocketPath, "http://evil.example", Ct));
        Assert.Empty(TtydProbe.Children(session.ProcessId));

        await using var terminal = await alice.ConnectAsync(container, host.Origin, Ct);
        await terminal.TypeAsync("echo same-origin\r", Ct);
        await terminal.WaitForAsync("same-origin", Poll.Within(30));
    }

    [Fact]
    public async Task Straight_to_the_ttyd_socket_without_the_secret_is_refused_while_the_proxy_serves_the_owner()
    {
        var container = containers.Start();
        await using var host = await ProxyHost.StartAsync();
        var session = await host.Manager.EnsureSessionAsync(container, "alice", null, Ct);
        var socketPath = session!.SocketPath!;
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute, File.GetUnixFileMode(Path.GetDirectoryName(socketPath)!));

        // A connection each: after a 401 ttyd reads nothing more on a connection, so a reused one would lose the request.
        var page = new Uri($"{host.BaseAddress.GetLeftPart(UriPartial.Authority)}/terminals/{container}/");
        foreach (var path in new[] { page, new Uri(page, "token") })
        {
            using var direct = new HttpClient(TtydClient.UnixSocketHandler(socketPath));
            using var noSecret = await direct.GetAsync(path, Ct);
            Assert.Equal(HttpStatusCode.Unauthorized, noSecret.StatusCode);
        }

        var ws = new Uri($"ws://{host.BaseAddress.Authority}/terminals/{container}/ws");
        await Assert.ThrowsAsync<WebSocketException>(() => TtydClient.ConnectAsync(ws, null, socketPath, host.Origin, Ct));
        Assert.Empty(TtydProbe.Children(session.ProcessId));

        // The proxy adds the secret: the owner gets ttyd's page, and the browser's own Authorization is not passed on.
        using var alice = await host.ClientAsync("alice");
        using var request = new HttpRequestMessage(HttpMethod.Get, $"/terminals/{container}/");
        request.Headers.TryAddWithoutValidation("Authorization", "Basic " + Convert.ToBase64String("ttydports:guess"u8.ToArray()));
        using var proxied = await alice.Http.SendAsync(request, Ct);
        Assert.Equal(HttpStatusCode.OK, proxied.StatusCode);
        Assert.Contains("<html", await proxied.Content.ReadAsStringAsync(Ct), StringComparison.OrdinalIgnoreCase);
    }

    [Fact]
    public async Task By_default_in_direct_mode_the_port_refuses_clients_without_the_secret()
    {
        var container = containers.Start();
        await using var host = await ApiHost.StartAsync(19510, 19514);

        var session = await host.Manager.EnsureSessionAsync(container, "alice", null, Ct);

        Assert.NotNull(session!.Credential);
        using var http = new HttpClient();
        using (var noSecret = await http.GetAsync($"http://127.0.0.1:{session.Port}/", Ct))
        {
            Assert.Equal(HttpStatusCode.Unauthorized, noSecret.StatusCode);
        }

        var ws = new Uri($"ws://127.0.0.1:{session.Port}/ws");
        var origin = $"http://127.0.0.1:{session.Port}";
        await Assert.ThrowsAsync<WebSocketException>(() => TtydClient.ConnectAsync(ws, null, null, origin, Ct));
        await Assert.ThrowsAsync<WebSocketException>(() => TtydClient.ConnectAsync(ws, new TtydCredential("ttydports", "guess"), null, origin, Ct));
        Assert.Empty(TtydProbe.Children(session.ProcessId));
        await using var client = await TtydClient.ConnectAsync(ws, session.Credential, null, origin, Ct);
        await client.TypeAsync("echo with-secret\r", Ct);
        await client.WaitForAsync("with-secret", Poll.Within(30));
    }

    [Fact]
    public async Task Container_segments_with_encoded_slashes_or_dots_and_unknown_containers_get_404_and_nothing_is_forwarded()
    {
        var container = containers.Start();
        await using var host = await ProxyHost.StartAsync();
        var session = await host.Manager.EnsureSessionAsync(container, "alice", null, Ct);
        using var alice = await host.ClientAsync("alice");

        string[] targets =
        [
            "/terminals/..%2f",
            "/terminals/..%2f/",
            $"/terminals/..%2f{container}/",
            "/terminals/%2F/",
            $"/terminals/%2F{container}/",
            $"/terminals/a%2Fb/",
            $"/terminals/{container}%2Fws",
            $"/terminals/{container}%2f..%2f/",
            "/terminals/%2e%2e/",
            $"/terminals/.{container}/",
            "/terminals/tpx-no-such-container/",
            "/terminals/tpx-no-such-container/ws",
        ];
        foreach (var target in targets)
        {
            Assert.Equal((target, HttpStatusCode.NotFound), (target, await alice.RawGetAsync(target)));
        }

        Assert.Equal(0, TtydProbe.Connections(session!.SocketPath!));
        Assert.Equal(0, TtydProbe.Requests(session));

        // The same request shape for the real container is forwarded, and ttyd's own log shows it (a connection count
        // would not: the proxy's pooled connection may be closed again by the time it is read).
        Assert.Equal(HttpStatusCode.OK, await alice.RawGetAsync($"/terminals/{container}/"));
        await Poll.UntilAsync(() => TtydProbe.Requests(session) > 0, Poll.Within(10));
    }

    [Fact]
    public async Task The_host_decides_who_may_reach_a_terminal_with_its_own_callback_and_user_id_selector()
    {
        var container = containers.Start();
        await using var host = await ProxyHost.StartAsync(proxy: o =>
        {
            o.UserIdSelector = user => user.FindFirst(System.Security.Claims.ClaimTypes.NameIdentifier)?.Value?.ToUpperInvariant();
            o.Authorize = (context, session) => ValueTask.FromResult(
                o.UserIdSelector(context.User) is "TEACHER" || string.Equals(o.UserIdSelector(context.User), session.UserId, StringComparison.Ordinal));
        });
        await host.Manager.EnsureSessionAsync(container, "ALICE", null, Ct);
        using var teacher = await host.ClientAsync("teacher");
        using var alice = await host.ClientAsync("alice");
        using var bob = await host.ClientAsync("bob");

        Assert.Equal(HttpStatusCode.OK, await teacher.RawGetAsync($"/terminals/{container}/"));
        Assert.Equal(HttpStatusCode.OK, await alice.RawGetAsync($"/terminals/{container}/"));
        Assert.Equal(HttpStatusCode.Forbidden, await bob.RawGetAsync($"/terminals/{container}/"));
        await using var terminal = await teacher.ConnectAsync(container, host.Origin, Ct);
        await terminal.TypeAsync("echo teacher-$((6*7))\r", Ct);
        await terminal.WaitForAsync("teacher-42", Poll.Within(30));
    }
}
