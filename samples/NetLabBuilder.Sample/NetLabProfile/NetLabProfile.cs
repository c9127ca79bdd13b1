using Microsoft.AspNetCore.Cors.Infrastructure;
using TtydPorts;

namespace NetLabBuilder.Sample;

/// <summary>
/// <c>--profile netlab</c>: the sample as a stand-in for the NetLabBuilder backend, so that the NetLab frontend (a Vite app
/// on another origin, calling <c>http://localhost:5050/api</c>) works against it unchanged. Its endpoints and answers are
/// the original's (<see cref="NetLabProfileEndpoints"/>); CORS only for the configured origins; terminals at capability
/// URLs (<see cref="TerminalCapabilities"/>) through the library's proxy. No login, no lab page, no status or cleanup
/// endpoints (they would list and stop every user's terminals).
/// </summary>
public static class NetLabProfile
{
    /// <summary>The profile's name (<c>--profile netlab</c> or <c>Sample:Profile=netlab</c>).</summary>
    public const string Name = "netlab";

    private const string CorsPolicy = "netlab-frontend";

    /// <summary>Services of the profile; <c>NetLabApp</c> has added the lab's own.</summary>
    public static void AddServices(WebApplicationBuilder builder)
    {
        var options = NetLabProfileOptions.From(builder.Configuration);
        builder.Services.AddSingleton(options);
        if (string.IsNullOrEmpty(builder.Configuration["urls"]))
        {
            builder.WebHost.UseUrls(NetLabProfileOptions.DefaultUrl);
        }

        // Nobody watches in this profile: no observer ttyd per session. Configuration may still say otherwise.
        builder.Services.Configure<TtydSessionOptions>(o => o.ObserverTerminals = false);
        builder.Services.PostConfigure<LabOptions>(o => o.NodeNameSeparator = "_");
        builder.Services.AddTtydSessions(builder.Configuration.GetSection(TtydSessionOptions.SectionName))
            .AddTtydTerminalProxy(LabEndpoints.TerminalPrefix, proxy =>
            {
                // The request reached the proxy through this very session's capability URL (see UseCapabilityUrls).
                proxy.Authorize = (http, session) => ValueTask.FromResult(TerminalCapabilities.Grants(http.User, session));
                proxy.AuthorizeObserver = (_, _) => ValueTask.FromResult(false);
            });
        builder.Services.AddSingleton<TerminalCapabilities>();
        builder.Services.AddCors(cors => cors.AddPolicy(CorsPolicy, policy => policy
            .WithOrigins([.. options.AllowedOrigins])
            .WithMethods(HttpMethods.Get, HttpMethods.Post, HttpMethods.Delete)
            .WithHeaders("Content-Type", "Accept")
            .SetPreflightMaxAge(TimeSpan.FromMinutes(10)))); // no credentials: the frontend sends none, and there are none
    }

    /// <summary>The profile's pipeline and endpoints.</summary>
    public static void Use(WebApplication app)
    {
        var options = app.Services.GetRequiredService<NetLabProfileOptions>();
        var frameAncestors = string.Join(' ', ["'self'", .. options.AllowedOrigins]);
        app.Use((context, next) =>
        {
            context.Response.Headers.XContentTypeOptions = "nosniff";
            if (context.Request.Path.StartsWithSegments(TerminalCapabilities.PathPrefix))
            {
                // The frontend frames terminals; only its configured origins may, and a terminal's links leak no URL.
                context.Response.Headers.ContentSecurityPolicy = $"frame-ancestors {frameAncestors}";
                context.Response.Headers["Referrer-Policy"] = "no-referrer";
            }
            else
            {
                context.Response.Headers.XFrameOptions = "DENY";
            }

            return next(context);
        });
        app.UseWhen(c => c.Request.Path.StartsWithSegments("/api"), api =>
        {
            api.Use(RefuseOtherOrigins(options));
            api.UseCors(CorsPolicy);
        });
        app.Use(UseCapabilityUrls(app.Services.GetRequiredService<TerminalCapabilities>()));
        app.UseRouting(); // after the capability rewrite, so that the proxy's route matches the terminal's path

        app.MapNetLabProfileEndpoints();
        app.MapTtydTerminals();
        app.MapGet("/", () => Results.Text("NetLabBuilder sample, NetLab profile: the NetLab frontend's API is under /api.\n"));
    }

    // A browser names the page's origin; one that is neither configured nor this host's own is refused before anything
    // runs (a cross-origin GET needs no preflight, so CORS alone would still let it start terminals unread). Clients that
    // send no Origin (curl, scripts on this machine) pass: CORS restrains browsers only.
    private static Func<HttpContext, RequestDelegate, Task> RefuseOtherOrigins(NetLabProfileOptions options) => (context, next) =>
    {
        // Every answer depends on the Origin (refused, or allowed with or without CORS headers): caches must keep them apart.
        context.Response.OnStarting(() =>
        {
            if (!context.Response.Headers.Vary.Any(v => v?.Contains("Origin", StringComparison.OrdinalIgnoreCase) == true))
            {
                context.Response.Headers.Append("Vary", "Origin");
            }

            return Task.CompletedTask;
        });
        // No Origin: curl, a script, or a browser's no-cors request (an image, a script tag: it names no Origin on a GET).
        // A browser says where such a request comes from in Sec-Fetch-Site; from another site, or another origin of
        // this one, it is refused as any other origin is.
        var origin = context.Request.Headers.Origin;
        var fetchSite = context.Request.Headers["Sec-Fetch-Site"];
        if ((origin.Count == 0 && (fetchSite.Count == 0 || fetchSite[0] is "same-origin" or "none"))
            || (origin.Count == 1 && (options.AllowedOrigins.Contains(origin[0]!, StringComparer.OrdinalIgnoreCase)
                || string.Equals(origin[0], $"{context.Request.Scheme}://{context.Request.Host}", StringComparison.OrdinalIgnoreCase))))
        {
            return next(context);
        }

        return Results.Json(new LabMessage("error", "This origin may not call this API."), NetLabJson.Default.LabMessage, statusCode: StatusCodes.Status403Forbidden)
            .ExecuteAsync(context);
    };

    // /t/{token}/rest -> {terminal prefix}/{container}/rest, as the user the capability makes: the proxy's route, origin
    // check and forwarding are the library's. The proxy's own path is not reachable from outside in this profile.
    private static Func<HttpContext, RequestDelegate, Task> UseCapabilityUrls(TerminalCapabilities capabilities) => (context, next) =>
    {
        if (context.Request.Path.StartsWithSegments(LabEndpoints.TerminalPrefix))
        {
            context.Response.StatusCode = StatusCodes.Status404NotFound;
            return Task.CompletedTask;
        }

        if (!context.Request.Path.StartsWithSegments(TerminalCapabilities.PathPrefix, out var rest) || !rest.HasValue)
        {
            return next(context);
        }

        var value = rest.Value!;
        var slash = value.IndexOf('/', 1);
        var token = slash < 0 ? value[1..] : value[1..slash];
        if (capabilities.Resolve(token) is not { } session)
        {
            context.Response.StatusCode = StatusCodes.Status404NotFound;
            return Task.CompletedTask;
        }

        if (slash < 0)
        {
            // ttyd's page finds its token and WebSocket relative to its folder.
            context.Response.Redirect($"{TerminalCapabilities.PathPrefix}/{token}/{context.Request.QueryString}");
            return Task.CompletedTask;
        }

        context.Request.Path = new PathString($"{LabEndpoints.TerminalPrefix}/{session.Container}{value[slash..]}");
        context.User = TerminalCapabilities.PrincipalFor(session);
        return next(context);
    };
}
