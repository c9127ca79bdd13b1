using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.Playwright;
using TtydPorts.IntegrationTests;

namespace TtydPorts.AspNetCore.Tests;

/// <summary>
/// Clickjacking through the proxy, in a real headless Chromium against real ttyd and Docker: a page of another origin of
/// the same site (127.0.0.1 on another port, served by Playwright's request interception) frames a terminal. The browser
/// sends the user's cookie along (same site), so only the terminal's framing policy stands in its way.
/// </summary>
[System.Runtime.Versioning.SupportedOSPlatform("linux")]
[Collection(RealHostsCollection.Name)]
public sealed class TerminalFramingTests(ProxyContainers containers) : IClassFixture<ProxyContainers>
{
    private const float Timeout = 30_000;

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task A_page_of_another_origin_of_the_same_site_cannot_frame_a_terminal_while_its_own_origin_and_one_the_host_allows_can()
    {
        // A page Playwright serves has no address of its own, so Chromium's Local Network Access checks would take it for a
        // public page and keep any frame of 127.0.0.1 out: turned off, as in WebPageAttackTests, to measure the proxy's defence.
        var (playwright, browser) = await Chromium.LaunchAsync(Chromium.WithoutLocalNetworkChecks);
        using var _ = playwright;
        await using var __ = browser;

        var container = containers.Start();
        await using (var host = await ProxyHost.StartAsync())
        {
            await host.Manager.EnsureSessionAsync(container, "alice", null, Ct);
            var terminal = new Uri(host.BaseAddress, $"/terminals/{container}/").ToString();
            var page = await Chromium.SignedInPageAsync(browser, host, Timeout);

            // Its own origin frames it, and the terminal works there (its prompt came through the WebSocket). The token, which
            // carries the session's credential, is never stored; the page says who may frame it.
            var own = await ServeFramingPageAsync(page, host.Origin, terminal);
            var token = await page.RunAndWaitForResponseAsync(() => page.GotoAsync(own), terminal + "token", new() { Timeout = Timeout });
            await Assertions.Expect(page.FrameLocator("#terminal").Locator(".xterm-rows")).ToContainTextAsync("#", new() { Timeout = Timeout });
            Assert.Equal("no-store", await token.HeaderValueAsync("cache-control"));
            using (var alice = await host.ClientAsync("alice"))
            using (var answer = await alice.Http.GetAsync(terminal, Ct))
            {
                Assert.Equal("frame-ancestors 'self'", Assert.Single(answer.Headers.GetValues("Content-Security-Policy")));
                Assert.Equal("SAMEORIGIN", Assert.Single(answer.Headers.GetValues("X-Frame-Options")));
            }

            // Another port of the same host (the cookie goes along: see the control below): the browser refuses to show the
            // terminal in the frame.
            var other = await Chromium.SignedInPageAsync(browser, host, Timeout);
            await other.GotoAsync(await ServeFramingPageAsync(other, SiblingOrigin(host), terminal));
            await Poll.UntilAsync(() => other.Frames.Any(f => f.Url.StartsWith("chrome-error://", StringComparison.Ordinal)), Poll.Within(30));
            Assert.DoesNotContain(other.Frames, f => f.Url == terminal);
        }

        // The control: a host that allows that origin itself (its own policy, set before the proxy) is framed there, so it was
        // the proxy's policy that kept the page out above.
        var allowed = containers.Start();
        var sibling = "";
        await using (var host = await ProxyHost.StartAsync(pipeline: app => app.Use((context, next) =>
        {
            if (context.Request.Path.StartsWithSegments("/terminals"))
            {
                context.Response.Headers.ContentSecurityPolicy = $"frame-ancestors 'self' {sibling}";
            }

            return next(context);
        })))
        {
            sibling = SiblingOrigin(host);
            await host.Manager.EnsureSessionAsync(allowed, "alice", null, Ct);
            var terminal = new Uri(host.BaseAddress, $"/terminals/{allowed}/").ToString();
            var page = await Chromium.SignedInPageAsync(browser, host, Timeout);
            await page.GotoAsync(await ServeFramingPageAsync(page, sibling, terminal));
            await Assertions.Expect(page.FrameLocator("#terminal").Locator(".xterm-rows")).ToContainTextAsync("#", new() { Timeout = Timeout });
        }
    }

    // 127.0.0.1 on a port other than the host's: another origin, the same site. Nothing listens there: Playwright answers.
    private static string SiblingOrigin(ProxyHost host) => $"http://127.0.0.1:{(host.BaseAddress.Port == 19998 ? 19997 : 19998)}";

    /// <summary>Serves, at <paramref name="origin"/>, a page that frames <paramref name="terminal"/>; returns its URL.</summary>
    private static async Task<string> ServeFramingPageAsync(IPage page, string origin, string terminal)
    {
        var url = $"{origin}/framing-page.html";
        await page.RouteAsync(url, route => route.FulfillAsync(new RouteFulfillOptions
        {
            ContentType = "text/html",
            Body = $"""<title>framing</title><iframe id="terminal" src="{terminal}" width="900" height="500"></iframe>""",
        }));
        return url;
    }
}
