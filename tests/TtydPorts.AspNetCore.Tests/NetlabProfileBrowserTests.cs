using System.Net;
using System.Text.Json;
using System.Text.RegularExpressions;
using Microsoft.Playwright;
using TtydPorts.IntegrationTests;

namespace TtydPorts.AspNetCore.Tests;

/// <summary>
/// The NetLab profile in a real headless Chromium: a page of another origin calls the sample as the NetLab frontend does and
/// shows its terminals in iframes with the frontend's sandbox, the URLs used verbatim; over real ttyd, tmux and Docker.
/// </summary>
[Collection(RealHostsCollection.Name)]
public sealed class NetlabProfileBrowserTests
{
    private const float Timeout = 30_000;

    public NetlabProfileBrowserTests() => Assertions.SetDefaultExpectTimeout(Timeout);

    [Fact]
    public async Task Netlab_frontend_of_another_origin_starts_a_topology_types_in_its_sandboxed_iframe_terminals_deletes_and_clears_in_chromium()
    {
        Chromium.Require();
        await using var frontend = await FrontendPageHost.StartAsync("localhost"); // another site than the API's 127.0.0.1
        await using var sample = await NetlabSample.StartAsync(frontend.Origin);
        var (playwright, browser) = await Chromium.LaunchAsync();
        using var _ = playwright;
        await using var __ = browser;
        var page = await browser.NewPageAsync();
        page.SetDefaultTimeout(Timeout);
        await page.GotoAsync(frontend.PageFor(new Uri(sample.BaseAddress, "/api")));
        var guest = await page.EvaluateAsync<string>("lab.userId");
        Assert.Matches("^guest_[a-z0-9]{1,6}$", guest);

        // POST start-topology (JSON, after a preflight), then GET getOwnNodes; each terminal in a sandboxed iframe.
        var start = await page.EvaluateAsync<JsonElement>("lab.start('mini_ring')");
        Assert.Equal(202, start.GetProperty("status").GetInt32());
        Assert.Equal("success", start.GetProperty("data").GetProperty("status").GetString());
        var shown = await page.EvaluateAsync<JsonElement>("lab.show()");
        Assert.Equal(200, shown.GetProperty("status").GetInt32());
        var terminals = shown.GetProperty("data").GetProperty("terminals").EnumerateArray()
            .Select(t => (Container: t.GetProperty("container_name").GetString()!, Url: t.GetProperty("url").GetString()!)).ToArray();
        Assert.Equal(sample.Containers(), terminals.Select(t => t.Container));
        Assert.All(terminals, t => Assert.StartsWith($"{sample.BaseAddress}t/", t.Url, StringComparison.Ordinal));

        // Type in each node's iframe and read its answer: the shell is that node's.
        foreach (var (container, url) in terminals)
        {
            var iframe = page.Locator($"iframe[data-container='{container}']");
            Assert.Equal(url, await iframe.GetAttributeAsync("src"));
            Assert.Equal(FrontendPageHost.Sandbox, await iframe.GetAttributeAsync("sandbox"));
            var frame = page.FrameLocator($"iframe[data-container='{container}']");
            await Assertions.Expect(frame.Locator(".xterm-rows")).ToContainTextAsync("#");
            await frame.Locator(".xterm-helper-textarea").FocusAsync();
            await page.Keyboard.TypeAsync("hostname");
            await page.Keyboard.PressAsync("Enter");
            await Assertions.Expect(frame.Locator(".xterm-rows")).ToHaveTextAsync(new Regex($"hostname\\s*{Regex.Escape(container)}", RegexOptions.None, TimeSpan.FromSeconds(1)));
        }

        // window.open(url) as the frontend's "open terminal": the same shell in a tab of its own (tmux: the line typed above is there).
        var popup = await page.RunAndWaitForPopupAsync(() => page.EvaluateAsync("url => lab.open(url)", terminals[0].Url));
        Assert.Equal(terminals[0].Url, popup.Url);
        await Assertions.Expect(popup.Locator(".xterm-rows")).ToContainTextAsync(terminals[0].Container);
        await popup.CloseAsync();

        // The next poll returns the same URLs (the iframes stay), and the routing table answers in the original's shape.
        var polled = await page.EvaluateAsync<string[]>("lab.own().then(a => a.data.terminals.map(t => t.url))");
        Assert.Equal(terminals.Select(t => t.Url), polled);
        var routing = await page.EvaluateAsync<JsonElement>($"lab.routing('{terminals[0].Container}')");
        Assert.Equal(200, routing.GetProperty("status").GetInt32());
        Assert.Equal(terminals[0].Container, routing.GetProperty("data").GetProperty("node_id").GetString());

        // DELETE delete-node, then DELETE clear-topology, as the frontend sends them (no body, after a preflight).
        var deleted = await page.EvaluateAsync<JsonElement>($"lab.deleteNode('{terminals[0].Container}')");
        Assert.Equal(("success", 200), (deleted.GetProperty("data").GetProperty("status").GetString(), deleted.GetProperty("status").GetInt32()));
        Assert.Equal([terminals[1].Container], sample.Containers());
        Assert.Equal([terminals[1].Url], await page.EvaluateAsync<string[]>("lab.show().then(a => a.data.terminals.map(t => t.url))"));
        var cleared = await page.EvaluateAsync<JsonElement>("lab.clear()");
        Assert.Equal("Topology cleared successfully, deleted 1 nodes", cleared.GetProperty("data").GetProperty("message").GetString());
        Assert.Equal(0, await page.EvaluateAsync<int>("lab.show().then(a => a.data.terminals.length)"));
        Assert.Empty(sample.Containers());
        Assert.Empty(sample.Manager.GetStatus().Sessions);
    }

    [Fact]
    public async Task Netlab_page_of_an_origin_not_configured_reads_and_changes_nothing_frames_no_terminal_and_opens_no_socket_in_chromium()
    {
        Chromium.Require();
        await using var frontend = await FrontendPageHost.StartAsync("localhost");
        await using var stranger = await FrontendPageHost.StartAsync("localhost"); // the same page, on a port not configured
        await using var sample = await NetlabSample.StartAsync(frontend.Origin);
        var (playwright, browser) = await Chromium.LaunchAsync();
        using var _ = playwright;
        await using var __ = browser;
        var api = new Uri(sample.BaseAddress, "/api");
        var page = await browser.NewPageAsync();
        page.SetDefaultTimeout(Timeout);
        await page.GotoAsync(frontend.PageFor(api));
        var guest = await page.EvaluateAsync<string>("lab.userId");
        var other = await browser.NewPageAsync(); // another browser context: no state shared with the frontend's page
        other.SetDefaultTimeout(Timeout);
        await other.GotoAsync(stranger.PageFor(api));
        await other.EvaluateAsync("guest => lab.userId = guest", guest); // it even knows the guest's id

        // Before the guest has anything: the stranger cannot start a topology for it (the preflight is refused).
        Assert.Equal("network error", await other.EvaluateAsync<string>("lab.start('mini_ring').then(() => 'answered', e => e.message)"));
        Assert.Empty(sample.Containers());

        // The frontend can (the positive control), and its terminal works in its iframe.
        Assert.Equal(202, await page.EvaluateAsync<int>("lab.start('mini_ring').then(a => a.status)"));
        var urls = await page.EvaluateAsync<string[]>("lab.show().then(a => a.data.terminals.map(t => t.url))");
        Assert.Equal(2, urls.Length);
        await Assertions.Expect(page.FrameLocator($"iframe[src='{urls[0]}']").Locator(".xterm-rows")).ToContainTextAsync("#");

        // The stranger can neither read the guest's terminals nor clear them.
        Assert.Equal("network error", await other.EvaluateAsync<string>("lab.own().then(() => 'answered', e => e.message)"));
        Assert.Equal("network error", await other.EvaluateAsync<string>("lab.clear().then(() => 'answered', e => e.message)"));
        Assert.Equal(2, sample.Containers().Count);

        // Handed a terminal URL anyway, it may not frame it (frame-ancestors) nor open its WebSocket from its page (Origin).
        await other.EvaluateAsync("url => lab.frame([{ url, container_name: 'stolen' }])", urls[0]);
        await Poll.UntilAsync(() => other.Frames.Any(f => f.Url.StartsWith("chrome-error://", StringComparison.Ordinal)), Poll.Within(30));
        Assert.DoesNotContain(other.Frames, f => f.Url == urls[0]);
        var socket = "ws" + urls[0]["http".Length..] + "ws";
        Assert.Equal("refused", await other.EvaluateAsync<string>("url => lab.socket(url)", socket));

        // A guessed URL in the frontend's own iframe: a 404, no terminal page.
        var guessed = $"{sample.BaseAddress}t/{new string('x', 43)}/";
        var response = await page.RunAndWaitForResponseAsync(() => page.EvaluateAsync("url => lab.frame([{ url, container_name: 'guessed' }])", guessed), guessed);
        Assert.Equal((int)HttpStatusCode.NotFound, response.Status);
        await Assertions.Expect(page.FrameLocator("iframe[data-container='guessed']").Locator(".xterm-rows")).ToHaveCountAsync(0);

        Assert.Equal(2, sample.Containers().Count); // nothing the stranger sent changed the lab
    }
}
