using System.Net;
using System.Text.RegularExpressions;
using Microsoft.Playwright;
using TtydPorts.IntegrationTests;

namespace TtydPorts.AspNetCore.Tests;

/// <summary>The sample's lab page end to end in a real headless Chromium, over real ttyd, tmux and Docker, in proxy mode.</summary>
[Collection(RealHostsCollection.Name)]
public sealed class BrowserTests
{
    private const float Timeout = 30_000;

    // Terminals start in the background (ttyd, tmux, docker exec): wait for them as long as for any page action.
    public BrowserTests() => Assertions.SetDefaultExpectTimeout(Timeout);

    [Fact]
    public async Task A_student_deploys_sees_nodes_ready_types_in_a_terminal_tab_opens_all_deletes_a_node_and_clears_in_chromium()
    {
        Chromium.Require();
        await using var sample = await SampleHost.StartAsync();
        var (playwright, browser) = await Chromium.LaunchAsync();
        using var _ = playwright;
        await using var __ = browser;
        var page = await SignInAsync(browser, sample, "alice", 1280, 800);

        // A double click on Deploy makes one topology; its nodes turn ready without a reload.
        await Assertions.Expect(page.Locator("#empty")).ToHaveTextAsync("No topology yet: deploy one.");
        await page.Locator("#deploy").DblClickAsync();
        await Assertions.Expect(page.Locator("#deploy")).ToBeDisabledAsync();
        var nodes = page.Locator("#topologies li[data-container]");
        await Assertions.Expect(nodes).ToHaveCountAsync(2);
        await Assertions.Expect(page.Locator("#topologies .state.ready")).ToHaveCountAsync(2);
        await Assertions.Expect(page.Locator("#deploy")).ToBeEnabledAsync();
        await Assertions.Expect(page.Locator("#topologies section.topology")).ToHaveCountAsync(1);
        var containers = await nodes.EvaluateAllAsync<string[]>("ls => ls.map(l => l.dataset.container)");
        Assert.Equal(sample.Containers(), containers);
        Assert.DoesNotMatch(new Regex(@"\b19[0-9]{3}\b|ttydports:|/run/", RegexOptions.None, TimeSpan.FromSeconds(1)), await page.Locator("body").InnerTextAsync());

        // Open r1: a tab titled with the node's name, its terminal inside the page, keyboard focus in it; type a command.
        await page.Locator($"li[data-container='{containers[0]}'] button.open").ClickAsync();
        await Assertions.Expect(page.Locator($".tab[data-container='{containers[0]}'] .title")).ToHaveTextAsync("r1");
        var frame = page.FrameLocator($".panel[data-container='{containers[0]}'] iframe");
        var screen = frame.Locator(".xterm-rows");
        await Assertions.Expect(screen).ToContainTextAsync("#");
        await Assertions.Expect(frame.Locator(".xterm-helper-textarea")).ToBeFocusedAsync();
        await page.Keyboard.TypeAsync("hostname");
        await page.Keyboard.PressAsync("Enter");
        await Assertions.Expect(screen).ToHaveTextAsync(new Regex($"hostname\\s*{Regex.Escape(containers[0])}", RegexOptions.None, TimeSpan.FromSeconds(1)));
        Assert.Equal($"/terminals/{containers[0]}/", new Uri(await page.Locator($".panel[data-container='{containers[0]}'] iframe").GetAttributeAsync("src") ?? "", UriKind.Relative).ToString());
        await ScreenshotAsync(page, "sample.png");

        // Open all terminals of the topology in one click: a tab per node, each with its shell.
        await page.Locator("section.topology button.open-all").ClickAsync();
        await Assertions.Expect(page.Locator(".tab")).ToHaveTextAsync(["r1×", "r2×"]);
        await page.Locator($".tab[data-container='{containers[1]}'] .title").ClickAsync();
        await Assertions.Expect(page.FrameLocator($".panel[data-container='{containers[1]}'] iframe").Locator(".xterm-rows")).ToContainTextAsync("#");

        // Delete r1: cancelling keeps it; confirming removes it and its tab says so instead of a dead prompt.
        await page.Locator($"li[data-container='{containers[0]}'] button.delete-node").ClickAsync();
        await page.Locator("#confirm button[value=cancel]").ClickAsync();
        await Assertions.Expect(nodes).ToHaveCountAsync(2);
        Assert.Equal(containers, sample.Containers());
        await page.Locator($"li[data-container='{containers[0]}'] button.delete-node").ClickAsync();
        await Assertions.Expect(page.Locator("#confirm-text")).ToContainTextAsync("Delete node r1");
        await page.Locator("#confirm-ok").ClickAsync();
        await Assertions.Expect(nodes).ToHaveCountAsync(1);
        await Assertions.Expect(page.Locator($".tab[data-container='{containers[0]}'] .title")).ToHaveTextAsync("r1 (deleted)");
        await page.Locator($".tab[data-container='{containers[0]}'] .title").ClickAsync();
        await Assertions.Expect(page.Locator($".panel[data-container='{containers[0]}']")).ToHaveTextAsync("Node r1 was deleted; its terminal is closed.");
        Assert.Equal([containers[1]], sample.Containers());
        Assert.Null(sample.Manager.FindSession(containers[0]));

        // Clear the topology after confirming: nothing is left, and the open tab says so too.
        await page.Locator("section.topology button.clear-topology").ClickAsync();
        await page.Locator("#confirm-ok").ClickAsync();
        await Assertions.Expect(page.Locator("#empty")).ToBeVisibleAsync();
        await Assertions.Expect(page.Locator($".tab[data-container='{containers[1]}'] .title")).ToHaveTextAsync("r2 (deleted)");
        Assert.Empty(sample.Manager.GetStatus().Sessions);
        Assert.Empty(sample.TtydProcesses());
        Assert.Empty(sample.Containers());
    }

    [Fact]
    public async Task Another_student_sees_nothing_and_gets_403_while_the_instructor_sees_both_and_watches_read_only_in_chromium()
    {
        Chromium.Require();
        await using var sample = await SampleHost.StartAsync();
        using var aliceApi = await sample.ClientAsync("alice");
        using var bobApi = await sample.ClientAsync("bob");
        var alices = (await SampleHost.DeployAsync(aliceApi)).GetProperty("nodes").EnumerateArray().Select(n => n.GetString()!).ToArray();
        var bobs = (await SampleHost.DeployAsync(bobApi)).GetProperty("nodes").EnumerateArray().Select(n => n.GetString()!).ToArray();
        await SampleHost.ReadyOwnNodesAsync(aliceApi); // her terminals run, so a 403 below is a refusal, not a missing session
        var (playwright, browser) = await Chromium.LaunchAsync();
        using var _ = playwright;
        await using var __ = browser;

        // Bob's page lists his nodes and none of Alice's; her terminal and its observer answer him 403.
        var bob = await SignInAsync(browser, sample, "bob", 1280, 800);
        await Assertions.Expect(bob.Locator("#topologies li[data-container]")).ToHaveCountAsync(2);
        Assert.Equal(bobs, await bob.Locator("#topologies li[data-container]").EvaluateAllAsync<string[]>("ls => ls.map(l => l.dataset.container)"));
        foreach (var path in new[] { $"/terminals/{alices[0]}/", $"/terminals/{alices[0]}/watch/" })
        {
            var response = await bob.Context.APIRequest.GetAsync(new Uri(sample.BaseAddress, path).ToString());
            Assert.Equal((int)HttpStatusCode.Forbidden, response.Status);
        }

        // Alice types into her terminal in her page.
        var alice = await SignInAsync(browser, sample, "alice", 1280, 800);
        await alice.Locator($"li[data-container='{alices[0]}'] button.open").ClickAsync();
        var aliceScreen = alice.FrameLocator("iframe").Locator(".xterm-rows");
        await Assertions.Expect(aliceScreen).ToContainTextAsync("#");
        await Assertions.Expect(alice.FrameLocator("iframe").Locator(".xterm-helper-textarea")).ToBeFocusedAsync();
        await alice.Keyboard.TypeAsync("echo from-$((6*7))");
        await alice.Keyboard.PressAsync("Enter");
        await Assertions.Expect(aliceScreen).ToContainTextAsync("from-42");

        // The instructor sees both students' topologies, watches Alice's terminal (the same screen) and cannot type in it.
        var instructor = await SignInAsync(browser, sample, "instructor", 1280, 800);
        await Assertions.Expect(instructor.Locator("#topologies section.topology")).ToHaveCountAsync(2);
        Assert.Equal(["alice", "bob"], await instructor.Locator("#topologies section.topology").EvaluateAllAsync<string[]>("ss => ss.map(s => s.dataset.user)"));
        await Assertions.Expect(instructor.Locator("#deploy")).ToBeHiddenAsync();
        await Assertions.Expect(instructor.Locator("button.delete-node")).ToHaveCountAsync(0);
        await instructor.Locator($"li[data-container='{alices[0]}'] button.open").ClickAsync();
        await Assertions.Expect(instructor.Locator(".tab .title")).ToHaveTextAsync("r1 (alice, read-only)");
        Assert.EndsWith($"/terminals/{alices[0]}/watch/", await instructor.Locator("iframe").GetAttributeAsync("src"), StringComparison.Ordinal);
        var watched = instructor.FrameLocator("iframe").Locator(".xterm-rows");
        await Assertions.Expect(watched).ToContainTextAsync("from-42");
        await instructor.Keyboard.TypeAsync("echo by-$((100+23))");
        await instructor.Keyboard.PressAsync("Enter");
        await alice.Keyboard.TypeAsync("echo still-$((2*21))");
        await alice.Keyboard.PressAsync("Enter");
        await Assertions.Expect(watched).ToContainTextAsync("still-42"); // the owner's later line arrives...
        Assert.DoesNotContain("by-123", await aliceScreen.InnerTextAsync(), StringComparison.Ordinal); // ...the observer's never did
        var ownerPath = await instructor.Context.APIRequest.GetAsync(new Uri(sample.BaseAddress, $"/terminals/{alices[0]}/").ToString());
        Assert.Equal((int)HttpStatusCode.Forbidden, ownerPath.Status);
    }

    [Fact]
    public async Task A_cross_site_form_post_with_the_students_cookie_changes_nothing_while_the_page_itself_can_deploy()
    {
        Chromium.Require();
        await using var sample = await SampleHost.StartAsync();
        var (playwright, browser) = await Chromium.LaunchAsync();
        using var _ = playwright;
        await using var __ = browser;
        var page = await SignInAsync(browser, sample, "alice", 1280, 800);
        await Assertions.Expect(page.Locator("#empty")).ToBeVisibleAsync();

        // Another site (served by the test, in the same browser) posts a form to the sample, as text/plain JSON and as a form.
        var target = new Uri(sample.BaseAddress, "/api/lab/deploy");
        await page.Context.RouteAsync(url => url.StartsWith("http://evil.test/", StringComparison.Ordinal), route => route.FulfillAsync(new RouteFulfillOptions
        {
            ContentType = "text/html",
            Body = $$"""
                <form id="plain" method="post" action="{{target}}" enctype="text/plain"><input name='{"nodes":1,"x":"' value='"}'></form>
                <form id="url" method="post" action="{{target}}"><input name="nodes" value="1"></form>
                """,
        }));
        foreach (var form in new[] { "plain", "url" })
        {
            // A page of its own per form: the previous form's answer may still be loading (and then fail) in the old one.
            var evil = await page.Context.NewPageAsync();
            await evil.GotoAsync("http://evil.test/");
            var response = await evil.RunAndWaitForResponseAsync(() => evil.EvaluateAsync($"document.getElementById('{form}').submit()"), target.ToString());
            Assert.Contains(response.Status, new[] { 401, 415 }); // the Strict cookie stays home (401); were it sent, JSON only (415)
        }

        Assert.Empty(sample.Containers());
        await page.Locator("#deploy").ClickAsync(); // the positive control: the page's own JSON request deploys
        await Assertions.Expect(page.Locator("#topologies li[data-container]")).ToHaveCountAsync(2);
        Assert.Equal(2, sample.Containers().Count);
    }

    [Fact]
    public async Task The_page_fits_a_narrow_window_with_the_terminal_open()
    {
        Chromium.Require();
        await using var sample = await SampleHost.StartAsync();
        using var aliceApi = await sample.ClientAsync("alice");
        await SampleHost.DeployAsync(aliceApi);
        var (playwright, browser) = await Chromium.LaunchAsync();
        using var _ = playwright;
        await using var __ = browser;

        foreach (var (width, height) in new[] { (1280, 800), (390, 800) })
        {
            var page = await SignInAsync(browser, sample, "alice", width, height);
            await Assertions.Expect(page.Locator("#topologies .state.ready")).ToHaveCountAsync(2);
            await page.Locator("section.topology button.open-all").ClickAsync();
            await Assertions.Expect(page.FrameLocator(".panel:not([hidden]) iframe").Locator(".xterm-rows")).ToContainTextAsync("#");
            // Nothing wider than the window, and the terminal gets a usable share of it.
            Assert.True(await page.EvaluateAsync<bool>("document.documentElement.scrollWidth <= window.innerWidth"), $"horizontal overflow at {width}px");
            var box = await page.Locator(".panel:not([hidden]) iframe").BoundingBoxAsync();
            Assert.NotNull(box);
            Assert.InRange(box.Width, width * 0.7, width);
            Assert.True(box.Height >= 300, $"terminal only {box.Height}px high at {width}x{height}");
            await Assertions.Expect(page.Locator("button.open-all")).ToBeInViewportAsync();
            await ScreenshotAsync(page, $"sample-{width}.png");
        }
    }

    private static async Task<IPage> SignInAsync(IBrowser browser, SampleHost sample, string user, int width, int height)
    {
        var context = await browser.NewContextAsync(new BrowserNewContextOptions { ViewportSize = new ViewportSize { Width = width, Height = height } });
        var page = await context.NewPageAsync();
        page.SetDefaultTimeout(Timeout);
        await page.GotoAsync(sample.BaseAddress.ToString());
        await Assertions.Expect(page.Locator("#login-user")).ToBeFocusedAsync();
        await page.Locator("#login-user").FillAsync(user);
        await page.Locator("#login-password").FillAsync("wrong");
        await page.Locator("#login-form button[type=submit]").ClickAsync();
        await Assertions.Expect(page.Locator("#login-error")).ToHaveTextAsync("Wrong user name or password.");
        await page.Locator("#login-password").FillAsync(sample.Users.All.Single(u => u.Name == user).Password);
        await page.Locator("#login-form button[type=submit]").ClickAsync();
        await Assertions.Expect(page.Locator("#who-name")).ToHaveTextAsync(user);
        return page;
    }

    // TTYDPORTS_SCREENSHOTS=docs/images keeps the screenshots (the README's is docs/images/sample.png); otherwise none is written.
    private static async Task ScreenshotAsync(IPage page, string name)
    {
        var folder = Environment.GetEnvironmentVariable("TTYDPORTS_SCREENSHOTS");
        if (!string.IsNullOrEmpty(folder))
        {
            await page.ScreenshotAsync(new PageScreenshotOptions { Path = Path.Combine(Path.GetFullPath(folder), name) });
        }
    }
}
