using Microsoft.Playwright;

namespace TtydPorts.AspNetCore.Tests;

/// <summary>
/// Debian's Chromium (scripts/install-chromium.sh), driven by Playwright for .NET through the Node driver that ships in
/// the Playwright package; no browser is downloaded. Missing: a skip, or a failure under <c>CI=true</c>.
/// </summary>
internal static class Chromium
{
    public const string Path = "/usr/bin/chromium";

    /// <summary>
    /// Turns off Chromium's Local Network Access checks: a page Playwright serves has no address of its own, so Chromium
    /// would take it for a public page and keep any request to 127.0.0.1 out, hiding the proxy's own defence.
    /// </summary>
    public const string WithoutLocalNetworkChecks =
        "--disable-features=LocalNetworkAccessChecks,BlockInsecurePrivateNetworkRequests,PrivateNetworkAccessSendPreflights,PrivateNetworkAccessRespectPreflightResults";

    public static void Require()
    {
        if (File.Exists(Path))
        {
            return;
        }

        var reason = $"{Path} is missing (scripts/install-chromium.sh installs Debian's chromium)";
        if (string.Equals(Environment.GetEnvironmentVariable("CI"), "true", StringComparison.OrdinalIgnoreCase))
        {
            throw new InvalidOperationException($"CI=true and a real part is missing: {reason}.");
        }

        Assert.Skip(reason);
    }

    public static async Task<(IPlaywright Playwright, IBrowser Browser)> LaunchAsync(params string[] extraArguments)
    {
        Require();
        var playwright = await Playwright.CreateAsync();
        try
        {
            var browser = await playwright.Chromium.LaunchAsync(new BrowserTypeLaunchOptions
            {
                ExecutablePath = Path,
                Headless = true,
                Args = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run", .. extraArguments],
            });
            return (playwright, browser);
        }
        catch
        {
            playwright.Dispose();
            throw;
        }
    }

    /// <summary>A page of a new browser context, signed in to <paramref name="host"/> as alice (its cookie set).</summary>
    public static async Task<IPage> SignedInPageAsync(IBrowser browser, ProxyHost host, float timeout = 30_000)
    {
        var page = await (await browser.NewContextAsync()).NewPageAsync();
        page.SetDefaultTimeout(timeout);
        Assert.True((await page.GotoAsync(new Uri(host.BaseAddress, "/login?user=alice").ToString()))!.Ok);
        return page;
    }
}
