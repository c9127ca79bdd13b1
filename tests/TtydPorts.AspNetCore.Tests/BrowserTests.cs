using System.Text.RegularExpressions;
using Microsoft.Playwright;
using TtydPorts.IntegrationTests;

namespace TtydPorts.AspNetCore.Tests;

/// <summary>The sample end to end in a real headless Chromium, over real ttyd and Docker.</summary>
[Collection(RealHostsCollection.Name)]
public sealed partial class BrowserTests
{
    private const float Timeout = 30_000;

    [Fact]
    public async Task A_user_deploys_opens_a_terminal_runs_hostname_deletes_a_node_and_clears_the_topology_in_chromium()
    {
        Chromium.Require();
        await using var sample = await SampleHost.StartAsync(19300, 19309, "--TtydPorts:ExtraTtydArguments:0=-t", "--TtydPorts:ExtraTtydArguments:1=rendererType=dom");
        var (playwright, browser) = await Chromium.LaunchAsync();
        using var _ = playwright;
        await using var __ = browser;
        var page = await browser.NewPageAsync();
        page.SetDefaultTimeout(Timeout);

        // The page lists nothing, then the deployed topology with a terminal per node.
        await page.GotoAsync(new Uri(sample.BaseAddress, "/?user_id=alice-e2e").ToString());
        await Assertions.Expect(page.Locator("#message")).ToHaveTextAsync("0 node(s) of alice-e2e.");
        await page.ClickAsync("#deploy");
        var rows = page.Locator("#nodes tr[data-container]");
        await Assertions.Expect(rows).ToHaveCountAsync(2);
        await Assertions.Expect(page.Locator("#nodes a.open-terminal")).ToHaveCountAsync(2);
        var nodes = await rows.EvaluateAllAsync<string[]>("rs => rs.map(r => r.dataset.container)");
        Assert.Equal(sample.Containers(), nodes);
        var sessions = sample.Manager.GetStatus().Sessions.ToDictionary(s => s.Session.Container, s => s.Session);

        // Open the first node's terminal (ttyd's own page), wait for the shell prompt, type hostname, read it back.
        var link = page.Locator($"#nodes tr[data-container='{nodes[0]}'] a.open-terminal");
        var terminal = await page.RunAndWaitForPopupAsync(() => link.ClickAsync());
        terminal.SetDefaultTimeout(Timeout);
        Assert.Equal(sessions[nodes[0]].GetUrl().ToString(), terminal.Url);
        var screen = terminal.Locator(".xterm-rows");
        await Assertions.Expect(screen).ToContainTextAsync("#");
        await terminal.Locator(".xterm-helper-textarea").FocusAsync();
        await terminal.Keyboard.TypeAsync("hostname");
        await terminal.Keyboard.PressAsync("Enter");
        await Assertions.Expect(screen).ToHaveTextAsync(HostnameOnItsOwnLine(nodes[0]));
        await terminal.CloseAsync();

        // Delete that node: its row goes, its ttyd is gone, the other one still runs.
        await page.Locator($"#nodes tr[data-container='{nodes[0]}'] button.delete-node").ClickAsync();
        await Assertions.Expect(rows).ToHaveCountAsync(1);
        Assert.False(sample.Supervisor.IsAlive(sessions[nodes[0]].Process));
        Assert.True(sample.Supervisor.IsAlive(sessions[nodes[1]].Process));
        Assert.Equal([nodes[1]], sample.Containers());

        // Clear the topology: no session, no ttyd, no container is left.
        await page.Locator("#nodes button.clear-topology").ClickAsync();
        await Assertions.Expect(page.Locator("#nodes")).ToHaveTextAsync("No nodes yet.");
        await Assertions.Expect(page.Locator("#message")).ToContainTextAsync("cleared: 1 terminal(s) stopped, 1 node(s) removed");
        Assert.Empty(sample.Manager.GetStatus().Sessions);
        Assert.Empty(sample.TtydProcesses());
        Assert.Empty(sample.Containers());
    }

    // The command's output: the container's name right after the typed command, not merely the typed text.
    private static Regex HostnameOnItsOwnLine(string container) =>
        new($"hostname\\s*{Regex.Escape(container)}", RegexOptions.None, TimeSpan.FromSeconds(1));
}
