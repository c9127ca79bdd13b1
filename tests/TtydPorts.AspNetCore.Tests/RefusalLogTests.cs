using System.Net;
using System.Text;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Moq;
using TtydPorts.IntegrationTests;

namespace TtydPorts.AspNetCore.Tests;

/// <summary>
/// What a refused request leaves in the log: any page a user opens can send such requests at will (with the user's cookies,
/// from the same site), so they are logged at Debug only, and request text in a line cannot start a line of its own.
/// </summary>
[System.Runtime.Versioning.SupportedOSPlatform("linux")]
[Collection(RealHostsCollection.Name)]
public sealed class RefusalLogTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task An_endpoints_refusals_are_logged_at_debug_and_request_text_in_them_stays_on_one_line()
    {
        var logs = new CapturedLogs();
        var manager = new Mock<ITtydSessionManager>(MockBehavior.Strict);
        manager.Setup(m => m.CleanupAllAsync(It.IsAny<CancellationToken>())).ReturnsAsync(CleanupResult.Empty);
        manager.Setup(m => m.AdoptAsync(It.IsAny<CancellationToken>())).Returns(ValueTask.CompletedTask);
        await using var host = await ApiHost.StartAsync(19090, 19099,
            b =>
            {
                b.Services.AddSingleton(manager.Object);
                Capture(b.Services, logs);
            },
            endpoints => endpoints.Group.MapGet("names/{name}", string (string name) => throw new ArgumentException($"The name '{name}' is not ours.")));

        // A route value arrives decoded: CR, LF and a Unicode line separator, to forge a line of the log.
        using (var response = await host.Client.GetAsync("/api/ttyd/names/x%0D%0AWarning:%20forged%E2%80%A8line", Ct))
        {
            Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        }

        using (var response = await host.Client.PostAsync("/api/ttyd/cleanup", new StringContent("{\"all\":true}", Encoding.UTF8, "text/plain"), Ct))
        {
            Assert.Equal(HttpStatusCode.UnsupportedMediaType, response.StatusCode);
        }

        var text = logs.Text;
        Assert.Contains(@"Debug: Rejected GET /api/ttyd/names/x%0D%0AWarning:%20forged%E2%80%A8line: The name 'x\u000d\u000aWarning: forged\u2028line' is not ours.", text, StringComparison.Ordinal);
        Assert.Contains("Debug: Rejected POST /api/ttyd/cleanup: Cleanup takes only a JSON request", text, StringComparison.Ordinal);
        Assert.DoesNotContain("\nWarning: forged", text, StringComparison.Ordinal);
        Assert.All(text.Split('\n').Where(line => line.Contains("Rejected", StringComparison.Ordinal)), line =>
        {
            Assert.DoesNotContain("\r", line, StringComparison.Ordinal);
            Assert.DoesNotContain("\u2028", line, StringComparison.Ordinal);
        });
        Assert.DoesNotContain("Warning: Rejected", text, StringComparison.Ordinal);
    }

    [Fact]
    public async Task The_proxys_refusals_are_logged_at_debug()
    {
        var logs = new CapturedLogs();
        await using var host = await ProxyHost.StartAsync(services: s => Capture(s, logs));
        using var anonymous = await host.ClientAsync(null);
        using var alice = await host.ClientAsync("alice");

        Assert.Equal(HttpStatusCode.NotFound, await anonymous.RawGetAsync("/terminals/..%2f/"));
        using (var response = await alice.Http.GetAsync("/terminals/no-such-node/", Ct))
        {
            Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
        }

        var text = logs.Text;
        Assert.Contains("Debug: Terminal request GET for container '(invalid name)' refused: no such terminal", text, StringComparison.Ordinal);
        Assert.Contains("Debug: Terminal request GET for container 'no-such-node' refused: no such terminal", text, StringComparison.Ordinal);
        Assert.DoesNotContain("Information: Terminal request", text, StringComparison.Ordinal);
    }

    private static void Capture(IServiceCollection services, CapturedLogs logs)
    {
        services.AddSingleton<ILoggerProvider>(logs);
        // The library's lines only: ASP.NET Core's own request logging (Information) writes the decoded path as it came, which
        // is the host's to keep at Warning.
        services.Configure<LoggerFilterOptions>(o =>
        {
            o.Rules.Add(new LoggerFilterRule(typeof(CapturedLogs).FullName, null, LogLevel.None, null));
            o.Rules.Add(new LoggerFilterRule(typeof(CapturedLogs).FullName, "TtydPorts", LogLevel.Debug, null));
        });
    }
}
