using System.Net;
using System.Net.WebSockets;
using Microsoft.Playwright;
using TtydPorts.IntegrationTests;

namespace TtydPorts.AspNetCore.Tests;

/// <summary>Persistent, shared and watched terminals through the proxy, in Chromium: real host, ttyd, tmux and Docker.</summary>
[System.Runtime.Versioning.SupportedOSPlatform("linux")]
[Collection(RealHostsCollection.Name)]
public sealed class PersistentTerminalTests(ProxyContainers containers) : IClassFixture<ProxyContainers>
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private static async Task<IPage> OpenAsync(IBrowser browser, ProxyHost host, string user, string path)
    {
        var page = await (await browser.NewContextAsync()).NewPageAsync();
        page.SetDefaultTimeout(30_000);
        Assert.True((await page.GotoAsync(new Uri(host.BaseAddress, $"/login?user={user}").ToString()))!.Ok);
        await page.GotoAsync(new Uri(host.BaseAddress, path).ToString());
        return page;
    }

    private static async Task TypeAsync(IPage page, string line)
    {
        await page.Locator(".xterm-helper-textarea").FocusAsync();
        await page.Keyboard.TypeAsync(line);
        await page.Keyboard.PressAsync("Enter");
    }

    [Fact]
    public async Task A_reloaded_page_finds_the_same_shell_and_a_second_page_of_the_owner_shares_it()
    {
        var container = containers.Start();
        await using var host = await ProxyHost.StartAsync();
        await host.Manager.EnsureSessionAsync(container, "alice", null, Ct);
        var (playwright, browser) = await Chromium.LaunchAsync();
        using var _ = playwright;
        await using var __ = browser;

        var page = await OpenAsync(browser, host, "alice", $"/terminals/{container}/");
        var screen = page.Locator(".xterm-rows");
        await Assertions.Expect(screen).ToContainTextAsync("#");
        await TypeAsync(page, "X=41; echo marker-$X");
        await Assertions.Expect(screen).ToContainTextAsync("marker-41");

        await page.ReloadAsync();
        screen = page.Locator(".xterm-rows");
        await Assertions.Expect(screen).ToContainTextAsync("marker-41"); // the earlier output, redrawn by tmux
        await TypeAsync(page, "echo $((X+1))");
        await Assertions.Expect(screen).ToContainTextAsync("echo $((X+1))");
        await Assertions.Expect(screen.Locator("div", new() { HasTextRegex = new System.Text.RegularExpressions.Regex(@"^\s*42\s*$") })).ToHaveCountAsync(1);

        // A second page of the owner: what one types appears in the other.
        var second = await OpenAsync(browser, host, "alice", $"/terminals/{container}/");
        var secondScreen = second.Locator(".xterm-rows");
        await Assertions.Expect(secondScreen).ToContainTextAsync("marker-41");
        await TypeAsync(second, "echo from-second-$((X*2))");
        await Assertions.Expect(screen).ToContainTextAsync("from-second-82");
        await TypeAsync(page, "echo from-first-$((X*3))");
        await Assertions.Expect(secondScreen).ToContainTextAsync("from-first-123");
    }

    [Fact]
    public async Task An_observer_page_sees_the_owners_output_cannot_type_into_the_shell_and_others_get_403()
    {
        var container = containers.Start();
        await using var host = await ProxyHost.StartAsync(proxy: o =>
            o.AuthorizeObserver = (context, session) => ValueTask.FromResult(o.UserIdSelector(context.User) is "teacher" || o.UserIdSelector(context.User) == session.UserId));
        var session = await host.Manager.EnsureSessionAsync(container, "alice", null, Ct);
        using var alice = await host.ClientAsync("alice");
        await using var owner = await alice.ConnectAsync(container, host.Origin, Ct);
        await owner.TypeAsync("echo owner-$((6*7))\r", Ct);
        await owner.WaitForAsync("owner-42", Poll.Within(30));

        var (playwright, browser) = await Chromium.LaunchAsync();
        using var _ = playwright;
        await using var __ = browser;
        var watch = await OpenAsync(browser, host, "teacher", $"/terminals/{container}/watch");
        Assert.EndsWith($"/terminals/{container}/watch/", watch.Url, StringComparison.Ordinal);
        var screen = watch.Locator(".xterm-rows");
        await Assertions.Expect(screen).ToContainTextAsync("owner-42");
        await TypeAsync(watch, "touch /tmp/typed-by-observer");
        await owner.TypeAsync("touch /tmp/typed-by-owner; echo owner-done-$((2+2))\r", Ct);
        await Assertions.Expect(screen).ToContainTextAsync("owner-done-4");

        Assert.Equal(0, RealParts.Run(RealParts.DockerClient, "exec", container, "test", "-e", "/tmp/typed-by-owner").ExitCode); // control
        Assert.NotEqual(0, RealParts.Run(RealParts.DockerClient, "exec", container, "test", "-e", "/tmp/typed-by-observer").ExitCode);

        // The teacher may watch but not type: the owner's path stays the owner's (Authorize is separate).
        using var teacher = await host.ClientAsync("teacher");
        Assert.Equal(HttpStatusCode.OK, await teacher.RawGetAsync($"/terminals/{container}/watch/"));
        Assert.Equal(HttpStatusCode.Forbidden, await teacher.RawGetAsync($"/terminals/{container}/"));

        using var bob = await host.ClientAsync("bob");
        Assert.Equal(HttpStatusCode.Forbidden, await bob.RawGetAsync($"/terminals/{container}/watch/"));
        var refused = await Assert.ThrowsAsync<WebSocketException>(() => bob.ConnectAsync(container, host.Origin, Ct, under: "/watch"));
        Assert.Contains("403", refused.Message, StringComparison.Ordinal);
        Assert.NotNull(session);
    }

    [Fact]
    public async Task By_default_only_the_owner_may_watch_and_only_an_allowed_watcher_starts_the_observer()
    {
        var container = containers.Start();
        await using var host = await ProxyHost.StartAsync();
        await host.Manager.EnsureSessionAsync(container, "alice", null, Ct);
        using var alice = await host.ClientAsync("alice");
        using var teacher = await host.ClientAsync("teacher");

        // No observer runs until someone may watch: a refused watcher starts none.
        Assert.Equal(0, host.ObserverCount());
        Assert.Equal(HttpStatusCode.Forbidden, await teacher.RawGetAsync($"/terminals/{container}/watch/"));
        Assert.Equal(0, host.ObserverCount());

        Assert.Equal(HttpStatusCode.OK, await alice.RawGetAsync($"/terminals/{container}/watch/"));
        Assert.Equal(1, host.ObserverCount());
        Assert.Equal(HttpStatusCode.OK, await alice.RawGetAsync($"/terminals/{container}/watch/"));
        Assert.Equal(1, host.ObserverCount()); // the same one again
    }
}
