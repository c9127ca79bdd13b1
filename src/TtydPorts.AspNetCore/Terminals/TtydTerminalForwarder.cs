using System.Collections.Frozen;
using System.Diagnostics.Metrics;
using System.Net;
using System.Net.Http;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Text;
using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.Http.Timeouts;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Microsoft.Net.Http.Headers;
using Yarp.ReverseProxy.Forwarder;

namespace TtydPorts.AspNetCore;

/// <summary>
/// Forwards a terminal's HTTP traffic (with YARP) and WebSocket upgrades (with <see cref="TerminalRelay"/>) to its
/// session's ttyd over the session's Unix socket, after the checks: a valid container name (else 404), an authenticated
/// user (else a challenge), a session for the container (else 404), the host's authorization decision (else 403), and for
/// a WebSocket an <c>Origin</c> equal to the request's host (else 403).
/// </summary>
internal sealed class TtydTerminalForwarder : IDisposable
{
    private static readonly HttpRequestOptionsKey<string> SocketPathKey = new("TtydPorts.SocketPath");
    private static readonly HttpRequestOptionsKey<int> ProcessIdKey = new("TtydPorts.ProcessId");

    private static readonly ForwarderRequestConfig RequestConfig = new()
    {
        // ttyd speaks HTTP/1.1 (and WebSocket upgrades over it) on its socket.
        Version = HttpVersion.Version11,
        VersionPolicy = HttpVersionPolicy.RequestVersionOrLower,
    };

    /// <summary>
    /// ttyd's response headers that reach the browser: what its page, its token and its WebSocket handshake need. Nothing
    /// else (no <c>Set-Cookie</c>, no authentication challenge, no <c>Server</c>) passes.
    /// </summary>
    internal static readonly FrozenSet<string> PassedResponseHeaders = FrozenSet.ToFrozenSet(
        [
            HeaderNames.ContentType, HeaderNames.ContentLength, HeaderNames.ContentEncoding, HeaderNames.CacheControl,
            HeaderNames.ETag, HeaderNames.LastModified, HeaderNames.Expires, HeaderNames.Vary,
            HeaderNames.Connection, HeaderNames.Upgrade, HeaderNames.SecWebSocketAccept, HeaderNames.SecWebSocketProtocol,
            HeaderNames.SecWebSocketExtensions,
        ],
        StringComparer.OrdinalIgnoreCase);

    private static readonly TimeSpan TtydConnectTimeout = TimeSpan.FromSeconds(10);


    // Who may frame a terminal page when the host says nothing about it: its own origin only. Another origin of the same site
    // (another port, a sibling subdomain) still gets the user's SameSite cookies sent along, and could otherwise put the
    // terminal in a transparent frame and trick the user into typing into it.
    private const string FrameAncestors = "frame-ancestors 'self'";

    private readonly IHttpForwarder _forwarder;
    private readonly ITtydSessionManager _manager;
    private readonly IOptions<TtydTerminalProxyOptions> _options;
    private readonly ILogger<TtydTerminalForwarder> _logger;
    private readonly HttpMessageInvoker _invoker;
    private readonly TerminalRelayMetrics _relayMetrics;

    public TtydTerminalForwarder(
        IHttpForwarder forwarder, ITtydSessionManager manager, IOptions<TtydTerminalProxyOptions> options, ILogger<TtydTerminalForwarder> logger, IMeterFactory? meterFactory = null)
    {
        _relayMetrics = new TerminalRelayMetrics(meterFactory);
        _forwarder = forwarder;
        _manager = manager;
        _options = options;
        _logger = logger;

        // One handler for every session. Each session gets a host name of its own in the request URI (derived from its socket
        // path), so the connection pools, keyed by host, never hand one session's connection to another; the connect callback
        // opens the session's socket and checks that the two agree.
        _invoker = new HttpMessageInvoker(new SocketsHttpHandler
        {
            UseProxy = false,
            AllowAutoRedirect = false,
            AutomaticDecompression = DecompressionMethods.None,
            UseCookies = false,
            ActivityHeadersPropagator = null,
            ConnectTimeout = TtydConnectTimeout,
            // ttyd (libwebsockets) closes an idle keep-alive connection after 5 s, without a Connection: close. A request sent
            // on a pooled connection just as ttyd closes it is reset and would reach the browser as a 502: the pool lets
            // connections go well before that.
            PooledConnectionIdleTimeout = TimeSpan.FromSeconds(3),
            ConnectCallback = ConnectAsync,
        });
    }

    public async Task HandleAsync(HttpContext context)
    {
        var prefix = _options.Value.PathPrefix;
        var container = context.GetRouteValue("container") as string;

        // Route values are the raw segment: an encoded slash stays "%2F" and fails the name rule.
        if (container is null || !SessionIds.IsValidContainerName(container))
        {
            Log.TerminalRejected(_logger, context.Request.Method, "(invalid name)", "no such terminal");
            context.Response.StatusCode = StatusCodes.Status404NotFound;
            return;
        }

        // A page of another origin may navigate to a terminal (a link, a frame the framing headers then judge), never load
        // from it: an image, script or fetch of another site's page would carry the user's cookies and could start an
        // observer, or fetch a token to keep in a cache (Fetch Metadata; browsers that send none are judged as before).
        if (CrossOriginSubresource(context.Request) is { } fetch)
        {
            Log.TerminalRejected(_logger, context.Request.Method, container, fetch);
            context.Response.StatusCode = StatusCodes.Status403Forbidden;
            return;
        }

        // ttyd answers the same for "%2ftoken", "//token" or "x/../token": a path that is not plain could slip past the
        // checks below that look at it (the token's cache rule, the observer's segment); ttyd's own paths are all plain.
        var rest = context.GetRouteValue("rest") as string;
        if (rest is not null && !IsPlainPath(rest))
        {
            Log.TerminalRejected(_logger, context.Request.Method, container, "a path that is not plain");
            context.Response.StatusCode = StatusCodes.Status404NotFound;
            return;
        }

        // Anonymous users are challenged before the lookup, so they cannot learn which containers have a terminal.
        if (context.User.Identity?.IsAuthenticated != true)
        {
            await ChallengeAsync(context);
            return;
        }

        if (_manager.FindSession(container) is not { SocketPath: not null } session)
        {
            Log.TerminalRejected(_logger, context.Request.Method, container, "no such terminal");
            context.Response.StatusCode = StatusCodes.Status404NotFound;
            return;
        }

        // {prefix}/{container}/watch/...: the session's read-only observer ttyd, under its own authorization decision.
        var watch = rest is not null && (rest == TtydLaunchBuilder.ObserverSegment || rest.StartsWith(TtydLaunchBuilder.ObserverSegment + "/", StringComparison.Ordinal));
        if (watch && (session.ObserverSocketPath is null || _manager is not IObserverTerminals))
        {
            Log.TerminalRejected(_logger, context.Request.Method, container, "no observer terminal");
            context.Response.StatusCode = StatusCodes.Status404NotFound;
            return;
        }

        var authorize = watch ? _options.Value.AuthorizeObserver : _options.Value.Authorize;
        var allowed = authorize is null
            ? string.Equals(_options.Value.UserIdSelector(context.User), session.UserId, StringComparison.Ordinal)
            : await authorize(context, session);
        if (!allowed)
        {
            Log.TerminalRejected(_logger, context.Request.Method, container, "not authorized");
            await ForbidAsync(context);
            return;
        }

        if (IsWebSocketRequest(context) && !IsSameOrigin(context.Request))
        {
            Log.TerminalRejected(_logger, context.Request.Method, container, "WebSocket from another origin");
            context.Response.StatusCode = StatusCodes.Status403Forbidden;
            return;
        }

        // /terminals/node1 -> /terminals/node1/: ttyd's page loads its parts relative to the folder.
        if (context.Request.Path.Value is { } path
            && (string.Equals(path, $"{prefix}/{container}", StringComparison.Ordinal) || (watch && string.Equals(path, $"{prefix}/{container}/{TtydLaunchBuilder.ObserverSegment}", StringComparison.Ordinal))))
        {
            context.Response.Redirect($"{context.Request.PathBase}{path}/{context.Request.QueryString}");
            return;
        }

        // The observer ttyd serves under {base}/watch itself: the path goes through unchanged, to its own socket and pid.
        // It is started here, for a watcher already authorized, the first time one comes.
        var (socketPath, processId) = (session.SocketPath, session.ProcessId);
        if (watch)
        {
            ObserverTerminal? observer;
            try
            {
                // May wait for the owner's shell, started with the session moments ago.
                observer = await ((IObserverTerminals)_manager).EnsureObserverAsync(session, context.RequestAborted);
            }
            catch (OperationCanceledException) when (context.RequestAborted.IsCancellationRequested)
            {
                return; // the watcher left
            }

            if (observer is null)
            {
                Log.TerminalRejected(_logger, context.Request.Method, container, "no observer terminal");
                context.Response.StatusCode = StatusCodes.Status404NotFound;
                return;
            }

            (socketPath, processId) = (observer.SocketPath, observer.Process.ProcessId);
        }

        if (_options.Value.RelayWebSockets && TerminalRelay.Handles(context))
        {
            // The relay bounds its own connect and handshake (10 s each), and a terminal lasts as long as its user keeps it:
            // a request timeout of the host must end neither (YARP too turns it off for upgrades).
            context.Features.Get<IHttpRequestTimeoutFeature>()?.DisableTimeout();

            // A host that is stopping would cut a new terminal connection at once; ttyd's page retries later.
            if (context.RequestServices.GetService<IHostApplicationLifetime>()?.ApplicationStopping.IsCancellationRequested == true)
            {
                Log.TerminalRejected(_logger, context.Request.Method, container, "the host is stopping");
                context.Response.StatusCode = StatusCodes.Status503ServiceUnavailable;
                return;
            }

            Socket ttyd;
            using (var connect = CancellationTokenSource.CreateLinkedTokenSource(context.RequestAborted))
            {
                connect.CancelAfter(TtydConnectTimeout);
                try
                {
                    ttyd = await ConnectCheckedAsync(socketPath, processId, connect.Token);
                }
                catch (OperationCanceledException) when (context.RequestAborted.IsCancellationRequested)
                {
                    return; // the browser left
                }
                catch (Exception e) when (e is IOException or SocketException or OperationCanceledException)
                {
                    Log.ForwardFailed(_logger, container, ForwarderError.Request, e);
                    context.Response.StatusCode = e is OperationCanceledException ? StatusCodes.Status504GatewayTimeout : StatusCodes.Status502BadGateway;
                    return;
                }
            }

            using (ttyd)
            {
                await TerminalRelay.RelayAsync(context, container, ttyd, session.Credential?.AuthorizationHeaderValue, _options.Value, _relayMetrics, _logger);
            }

            return;
        }

        // ttyd's /token answer carries the session's credential (its page sends it in the WebSocket's first message): every
        // answer but the page itself is kept out of caches, so that no spelling of the token's path gets around it.
        var page = string.IsNullOrEmpty(rest) || rest == TtydLaunchBuilder.ObserverSegment + "/";
        var error = await _forwarder.SendAsync(context, $"http://{HostKey(socketPath)}", _invoker, RequestConfig, new SessionTransformer(session, socketPath, processId, noStore: !page));
        if (error is ForwarderError.RequestCanceled or ForwarderError.RequestBodyCanceled or ForwarderError.RequestBodyClient
            or ForwarderError.ResponseBodyCanceled or ForwarderError.ResponseBodyClient)
        {
            Log.ForwardEndedByClient(_logger, container, error);
        }
        else if (error != ForwarderError.None)
        {
            Log.ForwardFailed(_logger, container, error, context.Features.Get<IForwarderErrorFeature>()?.Exception);
        }
    }

    public void Dispose()
    {
        _invoker.Dispose();
        _relayMetrics.Dispose();
    }

    private static async Task ChallengeAsync(HttpContext context)
    {
        var schemes = context.RequestServices.GetService<IAuthenticationSchemeProvider>();
        if (schemes is not null && await schemes.GetDefaultChallengeSchemeAsync() is not null)
        {
            await context.ChallengeAsync();
        }
        else
        {
            context.Response.StatusCode = StatusCodes.Status401Unauthorized;
        }
    }

    private static async Task ForbidAsync(HttpContext context)
    {
        var schemes = context.RequestServices.GetService<IAuthenticationSchemeProvider>();
        if (schemes is not null && await schemes.GetDefaultForbidSchemeAsync() is not null)
        {
            await context.ForbidAsync();
        }
        else
        {
            context.Response.StatusCode = StatusCodes.Status403Forbidden;
        }
    }

    // Every request the relay takes passes here (TerminalRelay.Handles uses the same Upgrade test).
    private static bool IsWebSocketRequest(HttpContext context) =>
        TerminalRelay.IsWebSocketUpgrade(context.Request) || context.Features.Get<IHttpExtendedConnectFeature>() is { IsExtendedConnect: true };

    // Fetch Metadata (Sec-Fetch-Site, -Mode, -Dest): a request another site or origin made, other than a navigation to a
    // document or a frame; the reason to log, or null. Without the headers (older browsers, curl) nothing is judged here.
    internal static string? CrossOriginSubresource(HttpRequest request)
    {
        var site = request.Headers["Sec-Fetch-Site"].ToString();
        if (site.Length == 0 || site is "same-origin" or "none")
        {
            return null;
        }

        var mode = request.Headers["Sec-Fetch-Mode"].ToString();
        var destination = request.Headers["Sec-Fetch-Dest"].ToString();
        return mode == "navigate" && destination is "" or "document" or "iframe" or "frame"
            ? null
            : $"a {LogText.OneLine(site)} {LogText.OneLine(mode)} request for {LogText.OneLine(destination)}";
    }

    // Segments of letters, digits and '-', '_', '.', none of them empty (but a last one: "watch/"), "." or "..".
    internal static bool IsPlainPath(string rest)
    {
        var segments = rest.Split('/');
        for (var i = 0; i < segments.Length; i++)
        {
            var segment = segments[i];
            if ((segment.Length == 0 && i != segments.Length - 1) || segment is "." or ".."
                || !segment.All(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_' or '.'))
            {
                return false;
            }
        }

        return true;
    }

    // As ttyd's -O: the Origin's host:port must equal the Host the browser sent (a missing Origin is refused).
    private static bool IsSameOrigin(HttpRequest request) =>
        request.Headers.Origin.Count == 1
        && Uri.TryCreate(request.Headers.Origin[0], UriKind.Absolute, out var origin)
        && (origin.Scheme == Uri.UriSchemeHttp || origin.Scheme == Uri.UriSchemeHttps)
        && request.Host.HasValue
        && Uri.TryCreate($"{request.Scheme}://{request.Host.Value}", UriKind.Absolute, out var host)
        && string.Equals(origin.Authority, host.Authority, StringComparison.OrdinalIgnoreCase);

    private static string HostKey(string socketPath) =>
        "ttyd-" + Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(socketPath)), 0, 16);

    private static async ValueTask<Stream> ConnectAsync(SocketsHttpConnectionContext context, CancellationToken cancellationToken)
    {
        if (!context.InitialRequestMessage.Options.TryGetValue(SocketPathKey, out var path) || !string.Equals(HostKey(path), context.DnsEndPoint.Host, StringComparison.Ordinal)
            || !context.InitialRequestMessage.Options.TryGetValue(ProcessIdKey, out var expected))
        {
            throw new InvalidOperationException($"No ttyd socket for the destination '{context.DnsEndPoint.Host}'.");
        }

        return new NetworkStream(await ConnectCheckedAsync(path, expected, cancellationToken), ownsSocket: true);
    }

    private static async ValueTask<Socket> ConnectCheckedAsync(string path, int expected, CancellationToken cancellationToken)
    {
        var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        try
        {
            await socket.ConnectAsync(new UnixDomainSocketEndPoint(path), cancellationToken);

            // The folder is checked, but whoever listens is checked too, where it matters: the kernel says which process
            // listened on this socket (SO_PEERCRED). Anything but the session's own ttyd, run by this OS user, would
            // receive the session's credential and answer in its name.
            if (PeerOf(socket) is not { } peer || peer.ProcessId != expected || peer.UserId != Native.geteuid())
            {
                throw new IOException($"The socket '{path}' is not served by the session's ttyd (pid {expected}); refusing to forward to it.");
            }

            return socket;
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }

    private static (int ProcessId, uint UserId)? PeerOf(Socket socket)
    {
        // struct ucred { pid_t pid; uid_t uid; gid_t gid; } from getsockopt(SOL_SOCKET, SO_PEERCRED).
        Span<byte> credentials = stackalloc byte[12];
        const int SolSocket = 1, SoPeerCred = 17;
        return socket.GetRawSocketOption(SolSocket, SoPeerCred, credentials) == 12
            ? (BitConverter.ToInt32(credentials), BitConverter.ToUInt32(credentials[4..]))
            : null;
    }

    /// <summary>
    /// YARP's default request transform (path and query kept: ttyd serves under the same base path), then: the Host the
    /// browser sent (ttyd's -O compares the Origin with it), no cookies of the host, and the session's credential instead of
    /// any Authorization the browser sent.
    /// </summary>
    private sealed class SessionTransformer(TtydSession session, string socketPath, int processId, bool noStore) : HttpTransformer
    {
        public override async ValueTask TransformRequestAsync(HttpContext httpContext, HttpRequestMessage proxyRequest, string destinationPrefix, CancellationToken cancellationToken)
        {
            await base.TransformRequestAsync(httpContext, proxyRequest, destinationPrefix, cancellationToken);
            proxyRequest.Headers.Host = httpContext.Request.Host.Value;
            proxyRequest.Headers.Remove(HeaderNames.Cookie);
            proxyRequest.Headers.Remove(HeaderNames.Authorization);
            if (session.Credential is { } credential)
            {
                proxyRequest.Headers.TryAddWithoutValidation(HeaderNames.Authorization, credential.AuthorizationHeaderValue);
            }

            proxyRequest.Options.Set(SocketPathKey, socketPath);
            proxyRequest.Options.Set(ProcessIdKey, processId);
        }

        public override async ValueTask<bool> TransformResponseAsync(HttpContext httpContext, HttpResponseMessage? proxyResponse, CancellationToken cancellationToken)
        {
            // ttyd's own challenge would make the browser ask for ttyd's secret; the proxy supplies it, so a 401 means the
            // session and ttyd disagree: a gateway error, without ttyd's answer.
            if (proxyResponse?.StatusCode == HttpStatusCode.Unauthorized)
            {
                httpContext.Response.StatusCode = StatusCodes.Status502BadGateway;
                return false;
            }

            // Of ttyd's headers only those a terminal page needs pass (PassedResponseHeaders); the host's own stay as they were.
            var headers = httpContext.Response.Headers;
            var before = headers.ToDictionary(h => h.Key, h => h.Value, StringComparer.OrdinalIgnoreCase);
            var proceed = await base.TransformResponseAsync(httpContext, proxyResponse, cancellationToken);
            foreach (var name in headers.Keys.ToList())
            {
                if (PassedResponseHeaders.Contains(name))
                {
                    continue;
                }

                if (before.TryGetValue(name, out var own))
                {
                    headers[name] = own;
                }
                else
                {
                    headers.Remove(name);
                }
            }

            // Framing: only where the host set no policy of its own (its own headers were kept above). A Content-Security-Policy
            // with frame-ancestors is one, and one without still gets X-Frame-Options; X-Frame-Options alone is one too (ours
            // would override it in today's browsers, which take frame-ancestors over X-Frame-Options).
            var ownPolicy = before.TryGetValue(HeaderNames.ContentSecurityPolicy, out var policy);
            if (!ownPolicy && !before.ContainsKey(HeaderNames.XFrameOptions))
            {
                headers.ContentSecurityPolicy = FrameAncestors;
            }

            if (!before.ContainsKey(HeaderNames.XFrameOptions)
                && !(ownPolicy && policy.Any(p => p?.Contains("frame-ancestors", StringComparison.OrdinalIgnoreCase) == true)))
            {
                headers.XFrameOptions = "SAMEORIGIN"; // browsers without frame-ancestors
            }

            // The credential must not stay in the browser's cache (on disk) or in a shared cache on the way; the page itself is
            // ttyd's static page, the same for every session and user, without a secret, and may be cached as ttyd says.
            if (noStore)
            {
                headers.CacheControl = "no-store";
            }

            return proceed;
        }
    }
}
