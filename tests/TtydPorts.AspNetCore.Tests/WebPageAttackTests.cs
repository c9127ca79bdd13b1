using System.Security.Claims;
using System.Text.Json;
using System.Text.RegularExpressions;
using Microsoft.AspNetCore.Authentication.Cookies;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.HostFiltering;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Playwright;
using TtydPorts.IntegrationTests;

namespace TtydPorts.AspNetCore.Tests;

/// <summary>
/// What a web page the user opens can do, in a real headless Chromium against real ttyd and Docker. Attack pages are served
/// by Playwright's request interception under the origin they need; <c>evil.test</c> resolves to 127.0.0.1 (the shape of
/// a DNS-rebinding attack: Host and Origin both the attacker's name). Chromium's own Local Network Access checks, which would
/// also stop a public page from reaching 127.0.0.1 (not every browser has them, and users can allow it), are turned off:
/// these tests measure the library's defence, not the browser's.
/// </summary>
[Collection(RealHostsCollection.Name)]
public sealed partial class WebPageAttackTests(TestContainers containers)
{
    private const float Timeout = 30_000;

    private static readonly string[] AttackBrowser =
    [
        "--host-resolver-rules=MAP evil.test 127.0.0.1",
        Chromium.WithoutLocalNetworkChecks,
    ];
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task A_cross_site_page_and_a_dns_rebinding_page_get_no_shell_while_the_owner_opens_the_terminal_by_its_url_and_runs_a_command()
    {
        var container = containers.Start();
        await using var host = await ApiHost.StartAsync(19600, 19604, b => b.Services.Configure<TtydSessionOptions>(DomRenderer));
        var session = (await host.Manager.EnsureSessionAsync(container, "alice", null, Ct))!;
        var (playwright, browser) = await Chromium.LaunchAsync(AttackBrowser);
        using var _ = playwright;
        await using var __ = browser;
        var context = await browser.NewContextAsync();

        // The owner: one click on the URL the library gives, a command typed, its output read. The browser now also
        // remembers the terminal's credential for 127.0.0.1:PORT, which the attacks below try to ride on.
        var owner = await context.NewPageAsync();
        owner.SetDefaultTimeout(Timeout);
        await owner.GotoAsync(session.GetUrl().ToString());
        var screen = owner.Locator(".xterm-rows");
        await Assertions.Expect(screen).ToContainTextAsync("#");
        await owner.Locator(".xterm-helper-textarea").FocusAsync();
        await owner.Keyboard.TypeAsync("echo owner-$((6*7))");
        await owner.Keyboard.PressAsync("Enter");
        await Assertions.Expect(screen).ToHaveTextAsync(OutputOnItsOwnLine("owner-42"));
        Assert.Single(TtydProbe.Children(session.ProcessId));

        var crossSite = await AttackAsync(context, "http://attacker.test/", $"ws://127.0.0.1:{session.Port}/ws");
        var rebinding = await AttackAsync(context, $"http://evil.test:{session.Port}/attack", $"ws://evil.test:{session.Port}/ws");

        Assert.False(crossSite.Opened, crossSite.ToString());
        Assert.DoesNotContain("pwned-42", crossSite.Output, StringComparison.Ordinal);
        Assert.False(rebinding.Opened, rebinding.ToString());
        Assert.DoesNotContain("pwned-42", rebinding.Output, StringComparison.Ordinal);
        Assert.Single(TtydProbe.Children(session.ProcessId)); // still only the owner's shell

        // Both attempts reached ttyd and were refused at the handshake (the browser sends the remembered credential to no
        // other site), which ttyd drops without an HTTP answer; only the owner's WebSocket was ever accepted.
        var log = File.ReadAllText(new FileInfo($"/proc/{session.ProcessId}/fd/1").LinkTarget!); // ttyd's output is its log
        Assert.Single(Regex.Matches(log, @"N: WS +/ws"));
        Assert.Equal(2, Regex.Matches(log, "User code denied connection").Count);
    }

    [Fact]
    public async Task With_unauthenticated_loopback_terminals_the_origin_check_stops_a_cross_site_page_but_a_dns_rebinding_page_gets_a_shell()
    {
        // The control for the test above: the same attack pages, against the unsafe opt-in, show what the credential prevents.
        var container = containers.Start();
        await using var host = await ApiHost.StartAsync(19605, 19609, b => b.Services.Configure<TtydSessionOptions>(o =>
            (o.RequireCredentials, o.AllowUnauthenticatedLoopbackTerminals) = (false, true)));
        var session = (await host.Manager.EnsureSessionAsync(container, "alice", null, Ct))!;
        var (playwright, browser) = await Chromium.LaunchAsync(AttackBrowser);
        using var _ = playwright;
        await using var __ = browser;
        var context = await browser.NewContextAsync();

        var crossSite = await AttackAsync(context, "http://attacker.test/", $"ws://127.0.0.1:{session.Port}/ws");
        var rebinding = await AttackAsync(context, $"http://evil.test:{session.Port}/attack", $"ws://evil.test:{session.Port}/ws");

        Assert.False(crossSite.Opened, crossSite.ToString());
        Assert.True(rebinding.Opened, rebinding.ToString());
        Assert.Contains("pwned-42", rebinding.Output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task An_auto_submitted_empty_form_to_the_cleanup_endpoint_with_an_admin_signed_in_stops_nothing_while_the_admins_json_request_does()
    {
        var (a, b) = (containers.Start(), containers.Start());
        await using var host = await ApiHost.StartAsync(19610, 19614,
            builder =>
            {
                builder.Services.AddAuthentication(CookieAuthenticationDefaults.AuthenticationScheme).AddCookie();
                builder.Services.AddAuthorization();
            },
            endpoints =>
            {
                endpoints.Group.RequireAuthorization();
                endpoints.Group.MapGet("login", () => Results.SignIn(
                    new ClaimsPrincipal(new ClaimsIdentity([new Claim(ClaimTypes.NameIdentifier, "admin")], CookieAuthenticationDefaults.AuthenticationScheme)))).AllowAnonymous();
            });
        var first = (await host.Manager.EnsureSessionAsync(a, "alice", null, Ct))!;
        var second = (await host.Manager.EnsureSessionAsync(b, "bob", null, Ct))!;
        var site = host.Client.BaseAddress!;
        var (playwright, browser) = await Chromium.LaunchAsync();
        using var _ = playwright;
        await using var __ = browser;
        var page = await browser.NewPageAsync();
        page.SetDefaultTimeout(Timeout);
        Assert.True((await page.GotoAsync(new Uri(site, "/api/ttyd/login").ToString()))!.Ok);

        // A page of the same site (as a user's upload or a compromised page would be) submits forms on load: an empty one,
        // and a text/plain one whose body looks like JSON. Both carry the admin's cookie.
        foreach (var enctype in new[] { "application/x-www-form-urlencoded", "text/plain" })
        {
            var evil = new Uri(site, $"/evil-{enctype.Replace('/', '-')}.html").ToString();
            var field = enctype == "text/plain" ? """<input type="hidden" name='{"all":true,"x":"' value='"}'>""" : "";
            await page.RouteAsync(evil, route => route.FulfillAsync(new RouteFulfillOptions
            {
                ContentType = "text/html",
                Body = $"""<form method="post" enctype="{enctype}" action="/api/ttyd/cleanup">{field}</form><script>document.forms[0].submit()</script>""",
            }));
            var answer = page.WaitForResponseAsync(new Uri(site, "/api/ttyd/cleanup").ToString());
            await page.GotoAsync(evil);
            Assert.Equal(415, (await answer).Status);
            Assert.True(host.Supervisor.IsAlive(first.Process));
            Assert.True(host.Supervisor.IsAlive(second.Process));
        }

        // Positive control: the admin's own JSON request, same browser, same cookie, stops every terminal.
        await page.GotoAsync(new Uri(site, "/api/ttyd/status").ToString());
        var status = await page.EvaluateAsync<int>("""
            async () => (await fetch("/api/ttyd/cleanup", { method: "POST", headers: { "Content-Type": "application/json" }, body: '{"all":true}' })).status
            """);
        Assert.Equal(200, status);
        Assert.False(host.Supervisor.IsAlive(first.Process));
        Assert.False(host.Supervisor.IsAlive(second.Process));
    }

    [Fact]
    public async Task In_proxy_mode_a_dns_rebinding_page_is_anonymous_to_a_host_without_allowed_hosts_and_gets_no_terminal_token_observer_or_shell()
    {
        // A host as the README's proxy example has it: cookie login, every host name allowed (the test hosts would otherwise
        // read the sample's appsettings.json), no Host check of the library's own.
        var container = containers.Start();
        await using var host = await ProxyHost.StartAsync(
            o => o.PersistentShells = true, services: s => s.PostConfigure<HostFilteringOptions>(o => o.AllowedHosts = ["*"]));
        var session = (await host.Manager.EnsureSessionAsync(container, "alice", null, Ct))!;
        var (playwright, browser) = await Chromium.LaunchAsync(AttackBrowser);
        using var _ = playwright;
        await using var __ = browser;
        var owner = await Chromium.SignedInPageAsync(browser, host, Timeout); // alice's cookie, for 127.0.0.1 only
        var terminal = $"/terminals/{container}/";
        string[] parts = [terminal, terminal + "token", terminal + "watch/", terminal + "watch/token"];
        const string Load = """
            async (parts) => Promise.all(parts.map(async p => {
              const r = await fetch(p, { redirect: "manual" });
              return r.type === "opaqueredirect" ? "challenge" : String(r.status);
            }))
            """;

        // The control: the owner's page, at the host's own name, gets every part.
        Assert.Equal("200 200 200 200", string.Join(' ', await owner.EvaluateAsync<string[]>(Load, parts)));
        await Poll.UntilAsync(() => host.ObserverCount() == 1, Poll.Within(30));
        await host.Manager.CleanupAllAsync(Ct);
        session = (await host.Manager.EnsureSessionAsync(container, "alice", null, Ct))!;
        Assert.Equal(0, host.ObserverCount());

        // The rebinding page: same browser, its name now resolving to the host, so its requests are same-origin to it and
        // Host equals Origin. The browser sends alice's cookie to no other name: every part is a login challenge, nothing
        // starts, and its WebSocket never opens.
        var rebinding = await owner.Context.NewPageAsync();
        rebinding.SetDefaultTimeout(Timeout);
        var evil = $"http://evil.test:{host.BaseAddress.Port}";
        await rebinding.RouteAsync(evil + "/attack", route => route.FulfillAsync(new RouteFulfillOptions { ContentType = "text/html", Body = "<title>attacker</title>" }));
        await rebinding.GotoAsync(evil + "/attack");
        Assert.Equal("challenge challenge challenge challenge", string.Join(' ', await rebinding.EvaluateAsync<string[]>(Load, parts)));
        await rebinding.CloseAsync();
        var socket = await AttackAsync(owner.Context, evil + "/attack", $"ws://evil.test:{host.BaseAddress.Port}{terminal}ws");
        Assert.False(socket.Opened, socket.ToString());
        Assert.DoesNotContain("pwned-42", socket.Output, StringComparison.Ordinal);
        Assert.Equal(0, host.ObserverCount());
        Assert.Empty(TtydProbe.Children(session.ProcessId)); // no client ever reached the session's ttyd
    }

    private static void DomRenderer(TtydSessionOptions options)
    {
        options.ExtraTtydArguments.Add("-t");
        options.ExtraTtydArguments.Add("rendererType=dom");
    }

    /// <summary>
    /// Serves an attack page at <paramref name="pageUrl"/> that opens <paramref name="ws"/> as ttyd's page would (subprotocol
    /// tty, a hello without a token it cannot read) and types a command; returns whether the socket opened and what came back.
    /// </summary>
    private static async Task<AttackResult> AttackAsync(IBrowserContext context, string pageUrl, string ws)
    {
        var page = await context.NewPageAsync();
        page.SetDefaultTimeout(Timeout);
        await page.RouteAsync(pageUrl, route => route.FulfillAsync(new RouteFulfillOptions { ContentType = "text/html", Body = "<title>attacker</title>" }));
        await page.GotoAsync(pageUrl);
        var result = await page.EvaluateAsync<JsonElement>("""
            (url) => new Promise(resolve => {
              const enc = new TextEncoder(), dec = new TextDecoder();
              let opened = false, output = "";
              const ws = new WebSocket(url, ["tty"]);
              ws.binaryType = "arraybuffer";
              ws.onopen = () => {
                opened = true;
                ws.send(enc.encode(JSON.stringify({ AuthToken: "", columns: 80, rows: 24 })));
                ws.send(enc.encode("0echo pwned-$((6*7))\r"));
              };
              ws.onmessage = e => {
                const text = dec.decode(new Uint8Array(e.data));
                if (text[0] === "0") output += text.slice(1);
                if (output.includes("pwned-42")) { ws.close(); }
              };
              ws.onclose = e => resolve({ opened, output, code: e.code });
            })
            """, ws);
        await page.CloseAsync();
        return new AttackResult(result.GetProperty("opened").GetBoolean(), result.GetProperty("output").GetString() ?? "", result.GetProperty("code").GetInt32());
    }

    private sealed record AttackResult(bool Opened, string Output, int CloseCode);

    private static Regex OutputOnItsOwnLine(string output) =>
        new($"\\){{2}}\\s*{Regex.Escape(output)}", RegexOptions.None, TimeSpan.FromSeconds(1));
}
