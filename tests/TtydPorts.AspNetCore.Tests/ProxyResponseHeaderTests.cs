using System.Net;
using System.Net.WebSockets;
using System.Text;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Moq;
using TtydPorts.IntegrationTests;

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
        Assert.Equal("max-age=60", response.Headers.CacheControl?.ToString());
        Assert.False(response.Headers.Contains("Set-Cookie"));
        Assert.False(response.Headers.Contains("X-Upstream-Secret"));
        Assert.DoesNotContain(response.Headers.Server, s => s.Product?.Name == "ttyd-impostor");
        Assert.Equal(1, upstream.Requests); // the request did reach the upstream: the headers were dropped on the way back
    }

    [Fact]
    public async Task Every_answer_may_be_framed_by_its_own_origin_only_whatever_upstream_says_and_the_token_is_never_stored()
    {
        await using var upstream = await Upstream.StartAsync();
        await using var host = await ProxyHost.StartAsync(services: s => s.AddSingleton(upstream.Manager("r1", "alice")));
        using var alice = await host.ClientAsync("alice");

        // Upstream allows any framer and caching of the token for an hour: the browser sees neither. Only the page keeps
        // upstream's caching; every other answer is kept out of caches (the token, by whatever path it is answered).
        foreach (var (path, caching) in new[] { ("/terminals/r1/", "max-age=60"), ("/terminals/r1/token", "no-store"), ("/terminals/r1/asset", "no-store") })
        {
            using var response = await alice.Http.GetAsync(path, Ct);
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            Assert.Equal("frame-ancestors 'self'", Assert.Single(response.Headers.GetValues("Content-Security-Policy")));
            Assert.Equal("SAMEORIGIN", Assert.Single(response.Headers.GetValues("X-Frame-Options")));
            Assert.Equal(caching, response.Headers.CacheControl?.ToString());
        }

        Assert.Equal(3, upstream.Requests);
    }

    [Theory]
    [InlineData("csp", "frame-ancestors 'self' https://lms.example.org", null)]
    [InlineData("csp-without-frame-ancestors", "default-src 'self' 'unsafe-inline'", "SAMEORIGIN")]
    [InlineData("xfo", null, "DENY")]
    public async Task A_framing_policy_of_the_host_is_kept_and_the_proxy_adds_only_what_it_leaves_out(string policy, string? csp, string? xfo)
    {
        await using var upstream = await Upstream.StartAsync();
        await using var host = await ProxyHost.StartAsync(
            services: s => s.AddSingleton(upstream.Manager("r1", "alice")),
            pipeline: app => app.Use((context, next) =>
            {
                // The host's own headers, set before the proxy runs.
                switch (policy)
                {
                    case "csp":
                        context.Response.Headers.ContentSecurityPolicy = "frame-ancestors 'self' https://lms.example.org";
                        break;
                    case "csp-without-frame-ancestors":
                        context.Response.Headers.ContentSecurityPolicy = "default-src 'self' 'unsafe-inline'";
                        break;
                    default:
                        context.Response.Headers.XFrameOptions = "DENY";
                        break;
                }

                return next(context);
            }));
        using var alice = await host.ClientAsync("alice");

        using var response = await alice.Http.GetAsync("/terminals/r1/", Ct);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(csp, response.Headers.TryGetValues("Content-Security-Policy", out var csps) ? Assert.Single(csps) : null);
        Assert.Equal(xfo, response.Headers.TryGetValues("X-Frame-Options", out var xfos) ? Assert.Single(xfos) : null);
        Assert.Equal(1, upstream.Requests);
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

    [Fact]
    public async Task A_websocket_upgrade_takes_only_the_handshake_headers_and_the_sessions_credential_upstream_and_brings_only_the_handshake_answer_back()
    {
        await using var upstream = await Upstream.StartAsync();
        await using var host = await ProxyHost.StartAsync(services: s => s.AddSingleton(upstream.Manager("r1", "alice")));
        using var alice = await host.ClientAsync("alice");
        using var socket = WebSocketOf(alice, host);
        socket.Options.SetRequestHeader("Authorization", "Basic " + Convert.ToBase64String("ttydports:guess"u8.ToArray()));
        socket.Options.SetRequestHeader("X-Browser-Secret", "not for ttyd");

        await socket.ConnectAsync(new Uri($"ws://{host.BaseAddress.Authority}/terminals/r1/ws"), Ct);

        Assert.Equal(HttpStatusCode.SwitchingProtocols, socket.HttpStatusCode);
        Assert.Equal("tty", socket.SubProtocol);
        var answer = socket.HttpResponseHeaders!;
        Assert.DoesNotContain(answer, h => h.Key.Equals("Set-Cookie", StringComparison.OrdinalIgnoreCase) || h.Key.Equals("X-Upstream-Secret", StringComparison.OrdinalIgnoreCase));
        Assert.DoesNotContain(answer, h => h.Value.Any(v => v.Contains("ttyd-impostor", StringComparison.Ordinal)));
        var seen = upstream.Handshake!;
        Assert.Equal("Basic " + Convert.ToBase64String("ttydports:not-checked-here"u8.ToArray()), seen["Authorization"]);
        Assert.Equal(host.Origin, seen["Origin"]);
        Assert.Equal(host.BaseAddress.Authority, seen["Host"]);
        Assert.False(seen.ContainsKey("Cookie"));
        Assert.False(seen.ContainsKey("X-Browser-Secret"));

        // Both ways: what the client sends comes back from upstream.
        await socket.SendAsync("ping"u8.ToArray(), WebSocketMessageType.Binary, true, Ct);
        var buffer = new byte[16];
        var received = await socket.ReceiveAsync(buffer, Ct);
        Assert.Equal("ping", Encoding.ASCII.GetString(buffer, 0, received.Count));
        await socket.CloseAsync(WebSocketCloseStatus.NormalClosure, "done", Ct);
    }

    [Fact]
    public async Task A_401_answer_to_a_websocket_upgrade_reaches_the_client_as_a_502_without_www_authenticate()
    {
        await using var upstream = await Upstream.StartAsync();
        await using var host = await ProxyHost.StartAsync(services: s => s.AddSingleton(upstream.Manager("r1", "alice")));
        using var alice = await host.ClientAsync("alice");

        using var challenged = WebSocketOf(alice, host);
        await Assert.ThrowsAsync<WebSocketException>(() => challenged.ConnectAsync(new Uri($"ws://{host.BaseAddress.Authority}/terminals/r1/ws-challenge"), Ct));
        Assert.Equal(HttpStatusCode.BadGateway, challenged.HttpStatusCode);
        Assert.DoesNotContain(challenged.HttpResponseHeaders ?? new Dictionary<string, IEnumerable<string>>(), h => h.Key.Equals("WWW-Authenticate", StringComparison.OrdinalIgnoreCase));
        Assert.Equal(1, upstream.Requests);

        // Positive control: the same client upgrades where upstream accepts.
        using var accepted = WebSocketOf(alice, host);
        await accepted.ConnectAsync(new Uri($"ws://{host.BaseAddress.Authority}/terminals/r1/ws"), Ct);
        Assert.Equal(HttpStatusCode.SwitchingProtocols, accepted.HttpStatusCode);
    }

    [Fact]
    public async Task An_upstream_that_takes_the_upgrade_and_never_answers_gives_the_client_a_504_and_is_let_go()
    {
        await using var upstream = await Upstream.StartAsync();
        await using var host = await ProxyHost.StartAsync(services: s => s.AddSingleton(upstream.Manager("r1", "alice")));
        using var alice = await host.ClientAsync("alice");

        using var silent = WebSocketOf(alice, host);
        await Assert.ThrowsAsync<WebSocketException>(() => silent.ConnectAsync(new Uri($"ws://{host.BaseAddress.Authority}/terminals/r1/ws-silent"), Ct));
        Assert.Equal(HttpStatusCode.GatewayTimeout, silent.HttpStatusCode);

        // The proxy closed its connection to upstream: the silent handler sees its request aborted.
        await Poll.UntilAsync(() => upstream.SilentAborted, Poll.Within(30));
    }

    private static ClientWebSocket WebSocketOf(Browserless client, ProxyHost host)
    {
        var socket = new ClientWebSocket();
        socket.Options.Cookies = client.Cookies;
        socket.Options.SetRequestHeader("Origin", host.Origin);
        socket.Options.AddSubProtocol("tty");
        socket.Options.CollectHttpResponseDetails = true;
        return socket;
    }

    private sealed class Upstream : IAsyncDisposable
    {
        private readonly WebApplication _app;
        private readonly string _folder;
        private int _requests;
        private Dictionary<string, string>? _handshake;
        private bool _silentAborted;

        private Upstream(WebApplication app, string folder, string socket)
        {
            _app = app;
            _folder = folder;
            Socket = socket;
        }

        public string Socket { get; }
        public int Requests => Volatile.Read(ref _requests);

        /// <summary>The request headers of the last WebSocket handshake that reached upstream (set on a request thread).</summary>
        public Dictionary<string, string>? Handshake
        {
            get => Volatile.Read(ref _handshake);
            private set => Volatile.Write(ref _handshake, value);
        }

        /// <summary>Whether the connection of a request to <c>ws-silent</c>, which upstream never answers, was closed by the proxy.</summary>
        public bool SilentAborted
        {
            get => Volatile.Read(ref _silentAborted);
            private set => Volatile.Write(ref _silentAborted, value);
        }

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
                context.Response.Headers.ContentSecurityPolicy = "frame-ancestors *";
                context.Response.Headers.XFrameOptions = "ALLOWALL";
                await next(context);
            });
            app.MapGet("/terminals/r1/", (HttpContext http) =>
            {
                http.Response.Headers.CacheControl = "max-age=60";
                return Results.Text("upstream page", "text/html");
            });
            app.MapGet("/terminals/r1/token", (HttpContext http) =>
            {
                http.Response.Headers.CacheControl = "max-age=3600";
                return Results.Text("""{"token":"secret"}""", "application/json");
            });
            app.MapGet("/terminals/r1/asset", (HttpContext http) =>
            {
                http.Response.Headers.CacheControl = "max-age=60";
                return Results.Text("asset", "text/plain");
            });
            app.UseWebSockets();
            app.Map("/terminals/r1/ws", async (HttpContext http) =>
            {
                self!.Handshake = http.Request.Headers.ToDictionary(h => h.Key, h => h.Value.ToString(), StringComparer.OrdinalIgnoreCase);
                if (!http.WebSockets.IsWebSocketRequest)
                {
                    http.Response.StatusCode = StatusCodes.Status400BadRequest;
                    return;
                }

                using var socket = await http.WebSockets.AcceptWebSocketAsync("tty");
                var buffer = new byte[4096];
                while (true)
                {
                    var received = await socket.ReceiveAsync(buffer, CancellationToken.None);
                    if (received.MessageType == WebSocketMessageType.Close)
                    {
                        await socket.CloseAsync(WebSocketCloseStatus.NormalClosure, null, CancellationToken.None);
                        return;
                    }

                    await socket.SendAsync(buffer.AsMemory(0, received.Count), received.MessageType, received.EndOfMessage, CancellationToken.None);
                }
            });
            app.Map("/terminals/r1/ws-silent", async (HttpContext http) =>
            {
                try
                {
                    await Task.Delay(Timeout.Infinite, http.RequestAborted);
                }
                catch (OperationCanceledException)
                {
                    self!.SilentAborted = true;
                }
            });
            app.Map("/terminals/r1/ws-challenge", (HttpContext http) =>
            {
                http.Response.Headers.WWWAuthenticate = "Basic realm=\"ttyd realm\"";
                http.Response.StatusCode = StatusCodes.Status401Unauthorized;
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
            try
            {
                await _app.StopAsync();
                await _app.DisposeAsync();
            }
            finally
            {
                Directory.Delete(_folder, recursive: true);
            }
        }
    }
}
