using System.Net;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Moq;

namespace TtydPorts.AspNetCore.Tests;

/// <summary>
/// What the proxy passes back from upstream: a real HTTP server on a Unix socket stands in for a ttyd that answers with
/// cookies, a challenge and headers of its own (ttyd itself sends no cookie); the manager is a Moq mock that points the
/// owner's session at that socket.
/// </summary>
[System.Runtime.Versioning.SupportedOSPlatform("linux")]
[Collection(RealHostsCollection.Name)]
public sealed class ProxyResponseHeaderTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Set_cookie_server_and_other_upstream_headers_do_not_reach_the_client_while_the_page_and_its_content_headers_do()
    {
        await using var upstream = await Upstream.StartAsync();
        await using var host = await ProxyHost.StartAsync(services: s => s.AddSingleton(upstream.Manager("r1", "alice")));
        using var alice = await host.ClientAsync("alice");

        using var response = await alice.Http.GetAsync("/terminals/r1/", Ct);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("upstream page", await response.Content.ReadAsStringAsync(Ct));
        Assert.Equal("text/html", response.Content.Headers.ContentType?.MediaType);
        Assert.Equal("no-store", response.Headers.CacheControl?.ToString());
        Assert.False(response.Headers.Contains("Set-Cookie"));
        Assert.False(response.Headers.Contains("X-Upstream-Secret"));
        Assert.DoesNotContain(response.Headers.Server, s => s.Product?.Name == "ttyd-impostor");
        Assert.Equal(1, upstream.Requests); // the request did reach the upstream: the headers were dropped on the way back
    }

    [Fact]
    public async Task A_401_challenge_from_upstream_reaches_the_client_as_a_502_without_www_authenticate()
    {
        await using var upstream = await Upstream.StartAsync();
        await using var host = await ProxyHost.StartAsync(services: s => s.AddSingleton(upstream.Manager("r1", "alice")));
        using var alice = await host.ClientAsync("alice");

        using var challenged = await alice.Http.GetAsync("/terminals/r1/challenge", Ct);

        Assert.Equal(HttpStatusCode.BadGateway, challenged.StatusCode);
        Assert.False(challenged.Headers.Contains("WWW-Authenticate"));
        Assert.False(challenged.Headers.Contains("Set-Cookie"));
        Assert.DoesNotContain("ttyd realm", await challenged.Content.ReadAsStringAsync(Ct), StringComparison.Ordinal);
        Assert.Equal(1, upstream.Requests);
    }

    private sealed class Upstream : IAsyncDisposable
    {
        private readonly WebApplication _app;
        private readonly string _folder;
        private int _requests;

        private Upstream(WebApplication app, string folder, string socket)
        {
            _app = app;
            _folder = folder;
            Socket = socket;
        }

        public string Socket { get; }
        public int Requests => Volatile.Read(ref _requests);

        public static async Task<Upstream> StartAsync()
        {
            var folder = Directory.CreateTempSubdirectory("tpa-upstream-").FullName;
            var socket = Path.Combine(folder, "u.sock");
            var builder = WebApplication.CreateSlimBuilder();
            builder.WebHost.ConfigureKestrel(k => k.ListenUnixSocket(socket));
            builder.Logging.SetMinimumLevel(LogLevel.Warning);
            var app = builder.Build();
            Upstream? self = null;
            app.Use(async (context, next) =>
            {
                Interlocked.Increment(ref self!._requests);
                context.Response.Headers.SetCookie = "ttyd_session=stolen; Path=/";
                context.Response.Headers.Server = "ttyd-impostor/1.0";
                context.Response.Headers["X-Upstream-Secret"] = "internal";
                await next(context);
            });
            app.MapGet("/terminals/r1/", (HttpContext http) =>
            {
                http.Response.Headers.CacheControl = "no-store";
                return Results.Text("upstream page", "text/html");
            });
            app.MapGet("/terminals/r1/challenge", (HttpContext http) =>
            {
                http.Response.Headers.WWWAuthenticate = "Basic realm=\"ttyd realm\"";
                return Results.Text("ttyd realm wants a password", "text/plain", statusCode: 401);
            });
            await app.StartAsync(Ct);
            self = new Upstream(app, folder, socket);
            return self;
        }

        public ITtydSessionManager Manager(string container, string owner)
        {
            // The upstream listens in this process, so the proxy's SO_PEERCRED check must find this process as the session's.
            var session = new TtydSession
            {
                Container = container,
                Process = new ProcessIdentity(Environment.ProcessId, 1),
                UserId = owner,
                StartedAt = DateTimeOffset.UtcNow,
                SocketPath = Socket,
                Credential = new TtydCredential("ttydports", "not-checked-here"),
                BasePath = $"/terminals/{container}",
            };
            var manager = new Mock<ITtydSessionManager>();
            manager.Setup(m => m.FindSession(container)).Returns(session);
            manager.Setup(m => m.RepairAsync(It.IsAny<CancellationToken>())).ReturnsAsync(CleanupResult.Empty);
            manager.Setup(m => m.CleanupAllAsync(It.IsAny<CancellationToken>())).ReturnsAsync(CleanupResult.Empty);
            return manager.Object;
        }

        public async ValueTask DisposeAsync()
        {
            await _app.StopAsync();
            await _app.DisposeAsync();
            Directory.Delete(_folder, recursive: true);
        }
    }
}
