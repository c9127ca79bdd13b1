// Opens one web terminal per container named on the command line, prints their URLs, and cleans them up on
// Ctrl+C. `--once` checks that each terminal answers and exits at once (for scripts). `--keep` leaves the terminals
// running on exit, for the next run (same InstanceName) to adopt.
using System.Net.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using TtydPorts;

var once = args.Contains("--once");
var keep = args.Contains("--keep");
var containers = args.Where(a => !a.StartsWith("--", StringComparison.Ordinal)).ToArray();
if (containers.Length == 0)
{
    Console.Error.WriteLine("usage: TtydPorts.ConsoleSample [--once] [--keep] [--TtydPorts:OPTION=VALUE...] CONTAINER...");
    return 2;
}

// Options come from configuration too, e.g. --TtydPorts:PortRangeStart=9000 or TtydPorts__InstanceName=lab2.
var builder = Host.CreateApplicationBuilder(args.Where(a => a.StartsWith("--TtydPorts:", StringComparison.Ordinal)).ToArray());
builder.Services.Configure<TtydSessionOptions>(options => options.InstanceName = "console-sample"); // the default, before configuration
builder.Services.AddTtydSessions(builder.Configuration.GetSection(TtydSessionOptions.SectionName));
using var host = builder.Build();
await host.StartAsync();
var manager = host.Services.GetRequiredService<ITtydSessionManager>();

try
{
    foreach (var container in containers)
    {
        var session = await manager.EnsureSessionAsync(container, "demo-user", "demo-topology");
        if (session is null)
        {
            Console.Error.WriteLine($"No free port for {container}.");
            return 1;
        }

        Console.WriteLine($"{container}: {session.GetUrl()} (ttyd pid {session.ProcessId})");
        if (once)
        {
            // A browser signs in with the credential the URL carries; HttpClient needs it as a header.
            using var http = new HttpClient();
            using var request = new HttpRequestMessage(HttpMethod.Get, session.GetUrl());
            if (session.Credential is { } credential)
            {
                request.Headers.TryAddWithoutValidation("Authorization", credential.AuthorizationHeaderValue);
            }

            using var response = await http.SendAsync(request);
            var page = await response.EnsureSuccessStatusCode().Content.ReadAsStringAsync();
            Console.WriteLine($"{container}: terminal page answers ({page.Length} bytes)");
        }
    }

    if (!once)
    {
        Console.WriteLine("Open the URLs in a browser. Press Ctrl+C to stop; the terminals are cleaned up on exit.");
        await host.WaitForShutdownAsync();
    }

    return 0;
}
finally
{
    if (!keep)
    {
        var result = await manager.ClearTopologyAsync("demo-topology");
        Console.WriteLine($"Stopped {result.Stopped.Count} terminal(s).");
    }

    await host.StopAsync();
}
