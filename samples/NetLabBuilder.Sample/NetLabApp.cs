using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Authentication.Cookies;
using Microsoft.Extensions.FileProviders;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using TtydPorts;

namespace NetLabBuilder.Sample;

/// <summary>Builds the sample host; <c>Program</c> runs it and the tests start it on a free port.</summary>
public static class NetLabApp
{
    /// <summary>Policy of the status and cleanup endpoints, which list and stop every user's terminals.</summary>
    public const string InstructorPolicy = "instructor";

    /// <summary>Policy of deploy, delete and clear: only students own topologies.</summary>
    public const string StudentPolicy = "student";

    /// <summary>The host with its services, endpoints and page. Configuration comes from appsettings.json and <paramref name="args"/>.</summary>
    public static WebApplication Create(string[] args)
    {
        var builder = WebApplication.CreateBuilder(new WebApplicationOptions
        {
            Args = args,
            ContentRootPath = AppContext.BaseDirectory, // appsettings.json is copied to the output
        });

        // The sample's own defaults, then the "TtydPorts" configuration section (appsettings.json, --TtydPorts:X=Y) over them.
        builder.Services.Configure<TtydSessionOptions>(options =>
        {
            options.InstanceName = "netlab-sample";
            options.StopSessionsOnShutdown = true; // a sample leaves nothing running behind it
        });
        builder.Services.AddOptions<LabOptions>().Bind(builder.Configuration.GetSection("Lab")).ValidateDataAnnotations().ValidateOnStart();
        // The library's limits follow the lab's (--Lab:MaxNodesPerUser, --Lab:MaxNodes), so that every node a deploy may create
        // gets its terminal; an explicit --TtydPorts:MaxSessions(PerUser), bound after this, still wins.
        builder.Services.AddOptions<TtydSessionOptions>().Configure<Microsoft.Extensions.Options.IOptions<LabOptions>>((options, lab) =>
        {
            options.MaxSessionsPerUser = lab.Value.MaxNodesPerUser;
            options.MaxSessions = lab.Value.MaxNodes;
        });
        builder.Services.AddSingleton<DemoLab>();
        builder.Services.AddSingleton<LabActivity>();
        builder.Services.AddHostedService<DemoLabLifetime>();
        builder.Services.ConfigureHttpJsonOptions(o => o.SerializerOptions.TypeInfoResolverChain.Insert(0, LabJson.Default));

        var profile = ProfileOf(builder.Configuration);
        if (profile == NetLabProfile.Name)
        {
            NetLabProfile.AddServices(builder);
            var netlab = builder.Build();
            NetLabProfile.Use(netlab);
            return netlab;
        }

        // Proxy mode: terminals are served by this host at /terminals/{container}/ after its own login; ttyd has no port.
        // Only the owner types into a terminal (the default); the instructor may also watch it read-only.
        builder.Services.AddTtydSessions(builder.Configuration.GetSection(TtydSessionOptions.SectionName))
            .AddTtydTerminalProxy(LabEndpoints.TerminalPrefix, proxy => proxy.AuthorizeObserver = (http, session) =>
                ValueTask.FromResult(http.User.IsInRole(DemoUsers.Instructor) || proxy.UserIdSelector(http.User) == session.UserId));
        builder.Services.AddAuthentication(CookieAuthenticationDefaults.AuthenticationScheme).AddCookie(o =>
        {
            o.Cookie.Name = "netlab.auth";
            o.Cookie.SameSite = SameSiteMode.Strict; // never sent with a request another site starts
            o.Cookie.HttpOnly = true;
            o.SlidingExpiration = true;
            o.ExpireTimeSpan = TimeSpan.FromHours(8);
            // The page signs in with its own form; APIs and terminals answer plain 401/403 instead of redirecting.
            o.Events.OnRedirectToLogin = context => Status(context.Response, StatusCodes.Status401Unauthorized);
            o.Events.OnRedirectToAccessDenied = context => Status(context.Response, StatusCodes.Status403Forbidden);
            // A ticket is accepted only while its sign-in lasts: after the sign-out no copy of the cookie opens a new request
            // (a terminal connection already open stays until it is closed: the proxy decides at the handshake).
            o.Events.OnValidatePrincipal = context =>
            {
                if (context.Principal is { } principal && context.HttpContext.RequestServices.GetRequiredService<SignIns>().IsLive(principal))
                {
                    return Task.CompletedTask;
                }

                context.RejectPrincipal();
                return context.HttpContext.SignOutAsync(CookieAuthenticationDefaults.AuthenticationScheme);
            };
        });
        builder.Services.AddAuthorizationBuilder()
            .AddPolicy(InstructorPolicy, p => p.RequireRole(DemoUsers.Instructor))
            .AddPolicy(StudentPolicy, p => p.RequireRole(DemoUsers.Student));
        builder.Services.AddSingleton<DemoUsers>();
        builder.Services.AddSingleton<SignIns>();
        builder.Services.AddHealthChecks().AddTtydSessions();

        var app = builder.Build();
        app.Use((context, next) =>
        {
            // The lab page frames only its own terminals, and no other site may frame it.
            context.Response.Headers.XFrameOptions = "SAMEORIGIN";
            context.Response.Headers.XContentTypeOptions = "nosniff";
            return next(context);
        });
        var page = new EmbeddedFileProvider(typeof(NetLabApp).Assembly, "NetLabBuilder.Sample.wwwroot");
        app.UseDefaultFiles(new DefaultFilesOptions { FileProvider = page });
        app.UseStaticFiles(new StaticFileOptions { FileProvider = page });
        app.UseAuthentication();
        app.UseAuthorization();

        app.MapTtydEndpoints("/api/ttyd").RequireAuthorization(InstructorPolicy); // they stop terminals of every user
        app.MapLabEndpoints();
        app.MapTtydTerminals();
        app.MapHealthChecks("/healthz").RequireAuthorization(InstructorPolicy);
        return app;
    }

    /// <summary>
    /// The profile: <c>Sample:Profile</c>, or <c>--profile NAME</c> on the command line; unset is the default (the lab page
    /// behind a login), <c>netlab</c> the stand-in for the NetLabBuilder backend that its own frontend calls.
    /// </summary>
    /// <exception cref="ArgumentException">Another name.</exception>
    public static string? ProfileOf(IConfiguration configuration)
    {
        var profile = configuration["Sample:Profile"] ?? configuration["profile"];
        return profile switch
        {
            null or "" or "default" => null,
            NetLabProfile.Name => NetLabProfile.Name,
            _ => throw new ArgumentException($"Unknown profile '{profile}': use '{NetLabProfile.Name}', or none for the lab page.", nameof(configuration)),
        };
    }

    private static Task Status(HttpResponse response, int status)
    {
        response.StatusCode = status;
        return Task.CompletedTask;
    }

    /// <summary>The addresses Kestrel listens on, once started (with the real port when 0 was asked for).</summary>
    public static IReadOnlyList<Uri> Addresses(WebApplication app) =>
        [.. (app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()?.Addresses ?? [])
            .Select(a => new Uri(a.Replace("://[::]", "://localhost", StringComparison.Ordinal).Replace("://0.0.0.0", "://localhost", StringComparison.Ordinal)))];
}

/// <summary>Removes the lab's terminals and containers when the host stops.</summary>
internal sealed class DemoLabLifetime(DemoLab lab, LabActivity activity) : IHostedService
{
    public Task StartAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public async Task StopAsync(CancellationToken cancellationToken)
    {
        await activity.SettleAllAsync(); // no terminal start may outlive the removal
        await lab.RemoveAllAsync(CancellationToken.None);
    }
}
