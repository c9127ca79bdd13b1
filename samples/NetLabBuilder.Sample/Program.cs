// NetLabBuilder-style sample: students deploy busybox "routers", open their terminals inside the page (proxy mode, behind
// the sample's own login), delete a node, clear a topology; the instructor sees every student's lab and watches read-only.
// `--Lab:DemoUser=NAME` deploys a topology for that student at start-up; `--once` checks through login and proxy that the
// page and every terminal of that demo answer, then exits (for scripts).
// `--profile netlab`: instead, the NetLabBuilder backend's API for the NetLab frontend (no login, CORS for its origins,
// terminals at capability URLs), on http://localhost:5050 unless --urls says otherwise; `--once` checks it as that frontend calls.
using NetLabBuilder.Sample;

var once = args.Contains("--once");
var app = NetLabApp.Create([.. args.Where(a => a != "--once")]);
await app.StartAsync();
var page = NetLabApp.Addresses(app)[0];
if (NetLabApp.ProfileOf(app.Configuration) == NetLabProfile.Name)
{
    var options = app.Services.GetRequiredService<NetLabProfileOptions>();
    Console.WriteLine($"NetLabBuilder sample, NetLab profile, is up: the NetLab frontend's API is {new Uri(page, "/api")}");
    Console.WriteLine($"  pages of these origins may call it and frame its terminals: {string.Join(", ", options.AllowedOrigins)}");
    Console.WriteLine($"  topologies: {string.Join(", ", options.Topologies.Select(t => $"{t.Key} ({t.Value} nodes)"))}");
    return await RunUntilDoneAsync(() => NetLabSmoke.RunAsync(page, options));
}

var demoUser = app.Configuration["Lab:DemoUser"];
if (!string.IsNullOrEmpty(demoUser))
{
    var (topology, nodes) = await app.Services.GetRequiredService<DemoLab>().DeployAsync(demoUser, null, app.Lifetime.ApplicationStopping);
    Console.WriteLine($"Demo topology {topology} for {demoUser}: {string.Join(", ", nodes)}");
}

var users = app.Services.GetRequiredService<DemoUsers>();
Console.WriteLine($"NetLabBuilder sample is up. Open {page} and sign in (passwords are new at every start):");
foreach (var user in users.All)
{
    Console.WriteLine($"  {user.Name,-12} {user.Password}   ({user.Role})");
}

return await RunUntilDoneAsync(() => Smoke.RunAsync(page, users, demoUser ?? "alice"));

// --once: the profile's check, then stop; else serve until Ctrl+C. Either way the lab goes with the host.
async Task<int> RunUntilDoneAsync(Func<Task<int>> check)
{
    var status = 0;
    if (once)
    {
        status = await check();
        await app.StopAsync();
    }
    else
    {
        Console.WriteLine("Ctrl+C stops it; the lab's terminals and containers are removed on exit.");
        await app.WaitForShutdownAsync();
    }

    await app.DisposeAsync();
    return status;
}
