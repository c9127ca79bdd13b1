using Microsoft.Extensions.FileProviders;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using TtydPorts;

namespace NetLabBuilder.Sample;

/// <summary>Builds the sample host; <c>Program</c> runs it and the tests start it on a free port.</summary>
public static class NetLabApp
{
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
        builder.Services.AddTtydSessions(builder.Configuration.GetSection(TtydSessionOptions.SectionName));
        builder.Services.AddOptions<LabOptions>().Bind(builder.Configuration.GetSection("Lab")).ValidateDataAnnotations().ValidateOnStart();
        builder.Services.AddSingleton<DemoLab>();
        builder.Services.AddHostedService<DemoLabLifetime>();
        builder.Services.AddHealthChecks().AddTtydSessions();
        builder.Services.ConfigureHttpJsonOptions(o => o.SerializerOptions.TypeInfoResolverChain.Insert(0, LabJson.Default));

        var app = builder.Build();
        var page = new EmbeddedFileProvider(typeof(NetLabApp).Assembly, "NetLabBuilder.Sample.wwwroot");
        app.UseDefaultFiles(new DefaultFilesOptions { FileProvider = page });
        app.UseStaticFiles(new StaticFileOptions { FileProvider = page });

        // A real host adds .RequireAuthorization() here: these endpoints stop terminals of every user.
        var ttyd = app.MapTtydEndpoints("/api/ttyd");
        app.MapLabEndpoints(ttyd);
        app.MapHealthChecks("/healthz");
        return app;
    }

    /// <summary>The addresses Kestrel listens on, once started (with the real port when 0 was asked for).</summary>
    public static IReadOnlyList<Uri> Addresses(WebApplication app) =>
        [.. (app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()?.Addresses ?? [])
            .Select(a => new Uri(a.Replace("://[::]", "://localhost", StringComparison.Ordinal).Replace("://0.0.0.0", "://localhost", StringComparison.Ordinal)))];
}

/// <summary>Removes the lab's terminals and containers when the host stops.</summary>
internal sealed class DemoLabLifetime(DemoLab lab) : IHostedService
{
    public Task StartAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StopAsync(CancellationToken cancellationToken) => lab.RemoveAllAsync(CancellationToken.None);
}
