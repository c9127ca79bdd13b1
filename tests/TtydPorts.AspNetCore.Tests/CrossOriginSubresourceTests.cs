using System.Collections.Concurrent;
using System.Net;
using Microsoft.AspNetCore.Http;
using Microsoft.Playwright;
using TtydPorts.IntegrationTests;

namespace TtydPorts.AspNetCore.Tests;

/// <summary>
/// A page of another origin of the same site (another port of the host: the browser sends the user's cookie along) that
/// loads a terminal's parts as an image or a script: it must start nothing (an observer) and get nothing (a token to
/// keep in a cache), while the same loads from the host's own origin, and a navigation, still work. Real Chromium, ttyd,
/// tmux and Docker.
/// </summary>
[System.Runtime.Versioning.SupportedOSPlatform("linux")]
[Collection(RealHostsCollection.Name)]
public sealed class CrossOriginSubresourceTests(ProxyContainers containers) : IClassFixture<ProxyContainers>
{
    private const float Timeout = 30_000;

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task A_sibling_origins_image_or_script_of_a_terminal_is_refused_and_starts_no_observer_while_the_hosts_own_page_starts_one()
    {
        var (playwright, browser) = await Chromium.LaunchAsync(Chromium.WithoutLocalNetworkChecks);
        using var _ = playwright;
        await using var __ = browser;

        var container = containers.Start();
        await using var host = await ProxyHost.StartAsync(o => o.PersistentShells = true);
        await host.Manager.EnsureSessionAsync(container, "alice", null, Ct);
        var terminal = new Uri(host.BaseAddress, $"/terminals/{container}/").ToString();
        string[] parts = [terminal + "watch/", terminal + "token", terminal + "%2ftoken"];

        // Another port of the same host: every part is refused before anything runs, and no observer starts.
        var sibling = await Chromium.SignedInPageAsync(browser, host, Timeout);
        var refused = await LoadPartsAsync(sibling, $"http://127.0.0.1:{(host.BaseAddress.Port == 19996 ? 19995 : 19996)}", parts);
        Assert.All(parts, p => Assert.Equal(StatusCodes.Status403Forbidden, refused[p]));
        Assert.Equal(0, host.ObserverCount());

        // The control: the host's own origin loads the same parts, and the watch page starts the observer.
        var own = await Chromium.SignedInPageAsync(browser, host, Timeout);
        var answered = await LoadPartsAsync(own, host.Origin, parts);
        Assert.Equal(StatusCodes.Status200OK, answered[terminal + "watch/"]);
        Assert.Equal(StatusCodes.Status200OK, answered[terminal + "token"]);
        Assert.Equal(StatusCodes.Status404NotFound, answered[terminal + "%2ftoken"]); // not a plain path, whoever asks
        await Poll.UntilAsync(() => host.ObserverCount() == 1, Poll.Within(30));

        // A navigation the sibling origin's page makes (as a link would) still opens the terminal's page.
        var navigation = await sibling.RunAndWaitForResponseAsync(() => sibling.EvaluateAsync($"location.href = '{terminal}'"), terminal);
        Assert.Equal(StatusCodes.Status200OK, navigation.Status);
    }

    [Fact]
    public async Task A_terminal_path_that_is_not_plain_is_not_forwarded_while_the_plain_one_is()
    {
        var container = containers.Start();
        await using var host = await ProxyHost.StartAsync();
        await host.Manager.EnsureSessionAsync(container, "alice", null, Ct);
        using var alice = await host.ClientAsync("alice");
        foreach (var target in new[] { "%2ftoken", "%2Ftoken", "/token", "watch//token" })
        {
            Assert.Equal(HttpStatusCode.NotFound, await alice.RawGetAsync($"/terminals/{container}/{target}"));
        }

        Assert.Equal(HttpStatusCode.OK, await alice.RawGetAsync($"/terminals/{container}/token"));
        Assert.Equal(HttpStatusCode.OK, await alice.RawGetAsync($"/terminals/{container}/"));
    }

    [Theory]
    [InlineData(null, null, null, true)]
    [InlineData("same-origin", "no-cors", "image", true)]
    [InlineData("none", "navigate", "document", true)]
    [InlineData("cross-site", "navigate", "document", true)]
    [InlineData("same-site", "navigate", "iframe", true)]
    [InlineData("same-site", "no-cors", "image", false)]
    [InlineData("cross-site", "cors", "empty", false)]
    [InlineData("same-site", "no-cors", "script", false)]
    [InlineData("cross-site", "navigate", "object", false)]
    [InlineData("cross-site", "websocket", "websocket", false)]
    public void Fetch_metadata_lets_through_only_the_own_origins_requests_and_navigations_to_a_page_or_frame(string? site, string? mode, string? destination, bool passes)
    {
        var request = new DefaultHttpContext().Request;
        foreach (var (name, value) in new[] { ("Sec-Fetch-Site", site), ("Sec-Fetch-Mode", mode), ("Sec-Fetch-Dest", destination) })
        {
            if (value is not null)
            {
                request.Headers[name] = value;
            }
        }

        var reason = TtydTerminalForwarder.CrossOriginSubresource(request);
        Assert.Equal(passes, reason is null);
    }

    [Theory]
    [InlineData("", true)]
    [InlineData("token", true)]
    [InlineData("ws", true)]
    [InlineData("watch/", true)]
    [InlineData("watch/token", true)]
    [InlineData("index.html", true)]
    [InlineData("/token", false)]
    [InlineData("watch//token", false)]
    [InlineData("%2ftoken", false)]
    [InlineData("x/../token", false)]
    [InlineData("./token", false)]
    [InlineData("watch\\token", false)]
    public void A_plain_path_has_only_plain_segments(string rest, bool plain) => Assert.Equal(plain, TtydTerminalForwarder.IsPlainPath(rest));

    // Serves at origin a page with an image of the first part and scripts of the others; returns each part's status as the
    // browser saw it.
    private static async Task<IReadOnlyDictionary<string, int>> LoadPartsAsync(IPage page, string origin, string[] parts)
    {
        var statuses = new ConcurrentDictionary<string, int>();
        page.Response += (_, response) => statuses.TryAdd(response.Url, response.Status);
        var url = $"{origin}/parts-page.html";
        if (origin != new Uri(page.Url).GetLeftPart(UriPartial.Authority))
        {
            await page.RouteAsync(url, route => route.FulfillAsync(new RouteFulfillOptions { ContentType = "text/html", Body = Html(parts) }));
            await page.GotoAsync(url);
        }
        else
        {
            await page.SetContentAsync(Html(parts));
        }

        await Poll.UntilAsync(() => parts.All(statuses.ContainsKey), Poll.Within(30));
        return statuses;
    }

    private static string Html(string[] parts) =>
        $"""<title>parts</title><img src="{parts[0]}">""" + string.Concat(parts.Skip(1).Select(p => $"""<script src="{p}"></script>"""));
}
