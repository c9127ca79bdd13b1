// NetLabBuilder-style sample: deploy busybox "routers" for a user, list them with their web terminals, delete a node,
// clear a topology. `--Lab:DemoUser=NAME` deploys a topology for NAME at start-up; `--once` checks that the page and every
// terminal of that demo answer, then exits (for scripts).
using NetLabBuilder.Sample;

var once = args.Contains("--once");
var app = NetLabApp.Create([.. args.Where(a => a != "--once")]);
await app.StartAsync();
var demoUser = app.Configuration["Lab:DemoUser"];
var page = NetLabApp.Addresses(app)[0];
if (!string.IsNullOrEmpty(demoUser))
{
    var (topology, nodes) = await app.Services.GetRequiredService<DemoLab>().DeployAsync(demoUser, null, app.Lifetime.ApplicationStopping);
    Console.WriteLine($"Demo topology {topology} for user {demoUser}: {string.Join(", ", nodes)}");
}

var open = new Uri(page, string.IsNullOrEmpty(demoUser) ? "/" : $"/?user_id={Uri.EscapeDataString(demoUser)}");
Console.WriteLine($"NetLabBuilder sample is up. Open {open}");
var status = 0;
if (once)
{
    status = await Smoke.RunAsync(page, demoUser ?? "demo-user");
    await app.StopAsync();
}
else
{
    Console.WriteLine("Ctrl+C stops it; the lab's terminals and containers are removed on exit.");
    await app.WaitForShutdownAsync();
}

await app.DisposeAsync();
return status;
