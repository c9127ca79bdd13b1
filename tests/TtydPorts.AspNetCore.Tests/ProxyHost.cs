using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Net.WebSockets;
using System.Security.Claims;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using System.Text.Json;
using Microsoft.AspNetCore.Authentication.Cookies;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using NetLabBuilder.Sample;
using TtydPorts.IntegrationTests;

namespace TtydPorts.AspNetCore.Tests;

/// <summary>Busybox containers named tpx-*, labelled as test containers (hostname = name); removed at the end.</summary>
public sealed class ProxyContainers() : TestContainers("tpx");

/// <summary>
/// A real host on 127.0.0.1 (a free port) in proxy mode: cookie authentication with a "log in as USER" endpoint
/// (<c>/login?user=alice</c>), <c>AddTtydTerminalProxy("/terminals")</c> and <c>MapTtydTerminals()</c>, over a manager of its
/// own instance. Disposing it stops every session and asserts that no ttyd of its instance is left.
/// </summary>
public sealed class ProxyHost : IAsyncDisposable
{
    private readonly WebApplication _app;

    private ProxyHost(WebApplication app, string instance, string runtimeDirectory)
    {
        _app = app;
        Instance = instance;
        RuntimeDirectory = runtimeDirectory;
        BaseAddress = NetLabApp.Addresses(app)[0];
    }

    public string Instance { get; }
    public string RuntimeDirectory { get; }
    public Uri BaseAddress { get; }
    public string Origin => BaseAddress.GetLeftPart(UriPartial.Authority);
    public ITtydSessionManager Manager => _app.Services.GetRequiredService<ITtydSessionManager>();

    public IServiceProvider Services => _app.Services;

    /// <summary>The host's certificate when it serves HTTPS (<c>https</c> given to <see cref="StartAsync"/>), else null.</summary>
    public X509Certificate2? Certificate { get; private init; }

    public static async Task<ProxyHost> StartAsync(
        Action<TtydSessionOptions>? configure = null, Action<TtydTerminalProxyOptions>? proxy = null, Action<IServiceCollection>? services = null,
        X509Certificate2? https = null, Action<WebApplication>? pipeline = null, Action<ListenOptions>? listen = null)
    {
        RealParts.Require();
        var instance = $"tpx-proxy-{Guid.NewGuid().ToString("N")[..8]}";
        var runtime = Path.Combine(Path.GetTempPath(), instance);
        var builder = WebApplication.CreateSlimBuilder();
        if (https is null && listen is null)
        {
            builder.WebHost.UseUrls("http://127.0.0.1:0");
        }
        else
        {
            builder.WebHost.ConfigureKestrel(k => k.Listen(IPAddress.Loopback, 0, l =>
            {
                listen?.Invoke(l);
                if (https is not null)
                {
                    l.UseHttps(https);
                }
            }));
        }

        builder.Logging.SetMinimumLevel(LogLevel.Warning);
        services?.Invoke(builder.Services); // before AddTtydSessions, whose TryAdd* then keep what was registered here
        builder.Services.AddTtydSessions(o =>
        {
            o.PortRangeStart = 19500;
            o.PortRangeEnd = 19509;
            o.InstanceName = instance;
            o.RuntimeDirectory = runtime;
            o.DockerPath = RealParts.DockerClient;
            o.StopGracePeriod = TimeSpan.FromSeconds(2);
            o.ExtraTtydArguments.Add("-t");
            o.ExtraTtydArguments.Add("rendererType=dom");
            configure?.Invoke(o);
        }).AddTtydTerminalProxy("/terminals", proxy);
        builder.Services.AddAuthentication(CookieAuthenticationDefaults.AuthenticationScheme).AddCookie(o =>
        {
            o.LoginPath = "/login";
            o.Events.OnRedirectToAccessDenied = context =>
            {
                context.Response.StatusCode = StatusCodes.Status403Forbidden; // a plain 403 instead of the access-denied page
                return Task.CompletedTask;
            };
        });
        builder.Services.AddAuthorization();
        var app = builder.Build();
        app.UseAuthentication();
        app.UseAuthorization();
        app.MapGet("/login", (string? user) => user is null
            ? Results.Text("log in as ?user=NAME")
            : Results.SignIn(new ClaimsPrincipal(new ClaimsIdentity([new Claim(ClaimTypes.NameIdentifier, user)], CookieAuthenticationDefaults.AuthenticationScheme))));
        pipeline?.Invoke(app); // middleware and endpoints of the test's own, before the terminals
        app.MapTtydTerminals();
        await app.StartAsync(TestContext.Current.CancellationToken);
        return new ProxyHost(app, instance, runtime) { Certificate = https };
    }

    /// <summary>A self-signed certificate for 127.0.0.1, valid for a day, with its private key (Kestrel's HTTPS needs one it can use).</summary>
    public static X509Certificate2 SelfSignedCertificate()
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest("CN=127.0.0.1", key, HashAlgorithmName.SHA256);
        var names = new SubjectAlternativeNameBuilder();
        names.AddIpAddress(IPAddress.Loopback);
        request.CertificateExtensions.Add(names.Build());
        using var created = request.CreateSelfSigned(DateTimeOffset.UtcNow.AddMinutes(-5), DateTimeOffset.UtcNow.AddDays(1));
        return X509CertificateLoader.LoadPkcs12(created.Export(X509ContentType.Pfx), null);
    }

    /// <summary>Accepts exactly this host's certificate when it has one (the client side of <see cref="SelfSignedCertificate"/>).</summary>
    internal bool IsOwnCertificate(X509Certificate? presented) =>
        Certificate is not null && presented is not null && presented.GetCertHashString() == Certificate.GetCertHashString();

    /// <summary>An HTTP client with its own cookies, logged in as <paramref name="user"/> unless it is null; no redirects followed.</summary>
    public async Task<Browserless> ClientAsync(string? user)
    {
        var cookies = new CookieContainer();
        var handler = new SocketsHttpHandler { CookieContainer = cookies, AllowAutoRedirect = false };
        handler.SslOptions.RemoteCertificateValidationCallback = (_, presented, _, _) => IsOwnCertificate(presented);
        var http = new HttpClient(handler) { BaseAddress = BaseAddress, Timeout = TimeSpan.FromSeconds(60) };
        if (user is not null)
        {
            using var login = await http.GetAsync($"/login?user={user}", TestContext.Current.CancellationToken);
            login.EnsureSuccessStatusCode();
            Assert.NotEmpty(cookies.GetCookies(BaseAddress));
        }

        return new Browserless(this, http, cookies);
    }

    /// <summary>This host's observer ttyd processes (not their tmux clients, which inherit the role marker).</summary>
    public int ObserverCount()
    {
        var all = _app.Services.GetRequiredService<IProcessSupervisor>().FindMarkedProcesses(TtydProcessDiscovery.MarkerPrefix, "TTYDPORTS_INSTANCE", Instance);
        var pids = all.Select(m => m.Process.ProcessId).ToHashSet();
        return all.Count(m => m.Markers.GetValueOrDefault(TtydProcessDiscovery.RoleMarker) == TtydProcessDiscovery.ObserverRole && !pids.Contains(m.ParentProcessId));
    }

    /// <summary>Stops the host as its application would (Ctrl+C), leaving the sessions running; disposing cleans them up.</summary>
    public Task StopAsync() => _app.StopAsync(TestContext.Current.CancellationToken);

    public async ValueTask DisposeAsync()
    {
        var supervisor = _app.Services.GetRequiredService<IProcessSupervisor>();
        var result = await Manager.CleanupAllAsync();
        await _app.StopAsync();
        var left = supervisor.FindMarkedProcesses(TtydProcessDiscovery.MarkerPrefix, "TTYDPORTS_INSTANCE", Instance);
        await _app.DisposeAsync();
        if (Directory.Exists(RuntimeDirectory))
        {
            Directory.Delete(RuntimeDirectory, recursive: true);
        }

        Assert.True(result.Succeeded);
        Assert.Empty(left);
    }
}

/// <summary>A scripted client of the proxy: plain HTTP, raw request lines, and ttyd's WebSocket protocol through the proxy.</summary>
public sealed class Browserless(ProxyHost host, HttpClient http, CookieContainer cookies) : IDisposable
{
    public HttpClient Http => http;

    public CookieContainer Cookies => cookies;

    /// <summary>Sends the request line exactly as given (no client-side normalisation of %2F or dots); returns the status.</summary>
    public async Task<HttpStatusCode> RawGetAsync(string target)
    {
        using var tcp = new TcpClient();
        await tcp.ConnectAsync(host.BaseAddress.Host, host.BaseAddress.Port, TestContext.Current.CancellationToken);
        var stream = tcp.GetStream();
        var cookie = cookies.GetCookieHeader(host.BaseAddress);
        var request = $"GET {target} HTTP/1.1\r\nHost: {host.BaseAddress.Authority}\r\nCookie: {cookie}\r\nConnection: close\r\n\r\n";
        await stream.WriteAsync(Encoding.ASCII.GetBytes(request), TestContext.Current.CancellationToken);
        using var reader = new StreamReader(stream, Encoding.ASCII);
        var status = await reader.ReadLineAsync(TestContext.Current.CancellationToken) ?? "";
        var parts = status.Split(' ');
        return parts.Length > 1 && int.TryParse(parts[1], CultureInfo.InvariantCulture, out var code)
            ? (HttpStatusCode)code
            : throw new InvalidOperationException($"No HTTP status line for {target}: '{status}'.");
    }

    /// <summary>
    /// Opens the terminal's WebSocket through the proxy as ttyd's page does: fetch <c>token</c>, connect with subprotocol
    /// <c>tty</c> and this client's cookies, send the hello with the token.
    /// </summary>
    public async Task<ProxiedTerminal> ConnectAsync(string container, string? origin, CancellationToken cancellationToken, bool fetchToken = true, string under = "")
    {
        var token = "";
        if (fetchToken)
        {
            using var tokenResponse = await http.GetAsync($"/terminals/{container}{under}/token", cancellationToken);
            if (tokenResponse.IsSuccessStatusCode)
            {
                token = JsonDocument.Parse(await tokenResponse.Content.ReadAsStringAsync(cancellationToken)).RootElement.GetProperty("token").GetString() ?? "";
            }
        }

        var socket = new ClientWebSocket();
        socket.Options.Cookies = cookies;
        socket.Options.RemoteCertificateValidationCallback = (_, presented, _, _) => host.IsOwnCertificate(presented);
        if (origin is not null)
        {
            socket.Options.SetRequestHeader("Origin", origin);
        }

        var scheme = host.Certificate is null ? "ws" : "wss";
        return await ProxiedTerminal.OpenAsync(socket, new Uri($"{scheme}://{host.BaseAddress.Authority}/terminals/{container}{under}/ws"), token, cancellationToken);
    }

    public void Dispose() => http.Dispose();
}

public sealed class ProxiedTerminal(ClientWebSocket socket) : IAsyncDisposable
{
    private readonly StringBuilder _screen = new();
    private bool _midMessage;
    private bool _outputMessage;

    /// <summary>Connects <paramref name="socket"/> (its headers set by the caller) with ttyd's subprotocol and sends the hello with <paramref name="token"/>; disposes it when that fails.</summary>
    public static async Task<ProxiedTerminal> OpenAsync(ClientWebSocket socket, Uri uri, string? token, CancellationToken cancellationToken)
    {
        try
        {
            socket.Options.AddSubProtocol("tty");
            await socket.ConnectAsync(uri, cancellationToken);
            var terminal = new ProxiedTerminal(socket);
            await terminal.SendAsync($"{{\"AuthToken\":\"{token}\",\"columns\":80,\"rows\":24}}", cancellationToken);
            return terminal;
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }

    public Task TypeAsync(string text, CancellationToken cancellationToken) => SendAsync("0" + text, cancellationToken);

    internal Task SendAsync(string text, CancellationToken cancellationToken) =>
        socket.SendAsync(Encoding.UTF8.GetBytes(text), WebSocketMessageType.Binary, true, cancellationToken);

    /// <summary>The last <paramref name="length"/> characters of the screen (for a failure message).</summary>
    public string Tail(int length) => _screen.Length <= length ? _screen.ToString() : _screen.ToString(_screen.Length - length, length);

    public async Task WaitForAsync(string expected, CancellationToken cancellationToken)
    {
        var buffer = new byte[8192];
        while (!_screen.ToString().Contains(expected, StringComparison.Ordinal))
        {
            var result = await socket.ReceiveAsync(buffer, cancellationToken);
            if (result.MessageType == WebSocketMessageType.Close)
            {
                throw new InvalidOperationException($"The terminal closed before '{expected}' appeared. Screen: {_screen}");
            }

            // A message longer than the buffer comes in parts: only its first part starts with the command byte.
            var continuation = _midMessage;
            _midMessage = !result.EndOfMessage;
            if (continuation ? _outputMessage : (_outputMessage = result.Count > 0 && buffer[0] == (byte)'0'))
            {
                var skip = continuation ? 0 : 1;
                _screen.Append(Encoding.UTF8.GetString(buffer, skip, result.Count - skip));
            }
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (socket.State == WebSocketState.Open)
        {
            try
            {
                using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(2));
                await socket.CloseAsync(WebSocketCloseStatus.NormalClosure, "done", cts.Token);
            }
            catch (Exception e) when (e is WebSocketException or OperationCanceledException)
            {
            }
        }

        socket.Dispose();
    }
}

/// <summary>What a ttyd saw, read from the kernel: connections accepted on its Unix socket, and its children (one per terminal).</summary>
internal static class TtydProbe
{
    /// <summary>Connected sockets bound to <paramref name="socketPath"/> (the server ends of accepted connections; the listener is not counted).</summary>
    public static int Connections(string socketPath) =>
        File.ReadLines("/proc/net/unix").Skip(1)
            .Select(line => line.Split(' ', StringSplitOptions.RemoveEmptyEntries))
            .Count(f => f.Length >= 8 && f[7] == socketPath && f[5] == "03");

    /// <summary>HTTP requests and WebSocket upgrades ttyd handled, from its own log ("HTTP /path - ..." lines), which holds them for good.</summary>
    public static int Requests(TtydSession session)
    {
        // ttyd's standard output is its session log.
        var log = new FileInfo($"/proc/{session.ProcessId}/fd/1").LinkTarget;
        return log is not null && File.Exists(log) ? File.ReadLines(log).Count(line => (line.Contains("N: HTTP ", StringComparison.Ordinal) || line.Contains("N: WS ", StringComparison.Ordinal))
            && !line.Contains("ttydports-probe", StringComparison.Ordinal)) : 0; // repair's health probe is no user request
    }

    public static IReadOnlyList<int> Children(int pid) => LiveProcesses.Children(pid);
}
