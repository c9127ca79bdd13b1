// Starts sessions through the library and exits, leaving them running (as a host that stopped would):
//   TtydPorts.Tool.TestHost --instance NAME --range START-END --runtime DIR [--await-port PORT]
//                           [--docker-endpoint URI] [--print-url] CONTAINER:USER[:TOPOLOGY]...
// Prints "session CONTAINER PORT PID" per session, and with --print-url also "url CONTAINER URL" (the page's URL with
// the session's credential, as TtydSession.GetUrl() gives it). --await-port polls until something accepts on
// 127.0.0.1:PORT (a foreign ttyd the calling script started). --docker-endpoint sets DockerEndpoint (default: DOCKER_HOST
// or the local socket), e.g. a rootless engine's unix:///run/user/UID/docker.sock.
//   TtydPorts.Tool.TestHost --cleanup --instance NAME --range START-END --runtime DIR [--docker-endpoint URI]
// adopts the instance's sessions and stops them all as a host would (CleanupAllAsync: ttyd, its tmux server, and what
// the terminals left inside their containers), then prints "stopped N".
// Exit 0 on success, 1 on any failure, with the reason on stderr.
using System.Globalization;
using System.Net.Sockets;
using Microsoft.Extensions.DependencyInjection;
using TtydPorts;

string? instance = null, runtime = null, dockerEndpoint = null;
int start = 0, end = 0, awaitPort = 0;
bool printUrl = false, cleanup = false;
var specs = new List<string[]>();
for (var i = 0; i < args.Length; i++)
{
    switch (args[i])
    {
        case "--instance": instance = args[++i]; break;
        case "--runtime": runtime = args[++i]; break;
        case "--range":
            var parts = args[++i].Split('-');
            start = int.Parse(parts[0], CultureInfo.InvariantCulture);
            end = int.Parse(parts[1], CultureInfo.InvariantCulture);
            break;
        case "--await-port": awaitPort = int.Parse(args[++i], CultureInfo.InvariantCulture); break;
        case "--docker-endpoint": dockerEndpoint = args[++i]; break;
        case "--print-url": printUrl = true; break;
        case "--cleanup": cleanup = true; break;
        default: specs.Add(args[i].Split(':')); break;
    }
}

if (instance is null || runtime is null || start == 0)
{
    Console.Error.WriteLine("usage: [--cleanup] --instance NAME --range START-END --runtime DIR [--await-port PORT] [--docker-endpoint URI] [--print-url] CONTAINER:USER[:TOPOLOGY]...");
    return 2;
}

using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
if (awaitPort != 0)
{
    while (true)
    {
        try
        {
            using var client = new TcpClient();
            await client.ConnectAsync("127.0.0.1", awaitPort, timeout.Token);
            break;
        }
        catch (SocketException)
        {
            await Task.Delay(5, timeout.Token);
        }
    }
}

await using var provider = new ServiceCollection()
    .AddTtydSessions(o =>
    {
        o.InstanceName = instance;
        o.PortRangeStart = start;
        o.PortRangeEnd = end;
        o.RuntimeDirectory = runtime;
        o.StopSessionsOnShutdown = false;
        if (dockerEndpoint is not null)
        {
            o.DockerEndpoint = dockerEndpoint;
        }
    })
    .Services.BuildServiceProvider();
var manager = provider.GetRequiredService<ITtydSessionManager>();
if (cleanup)
{
    // What the hosted service does as a host starts, then what a host's shutdown with StopSessionsOnShutdown does.
    await manager.AdoptAsync(timeout.Token);
    var result = await manager.CleanupAllAsync(timeout.Token);
    foreach (var failure in result.Failed)
    {
        Console.Error.WriteLine($"not stopped: {failure.Error.Message}");
    }

    Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"stopped {result.Stopped.Count}"));
    return result.Succeeded ? 0 : 1;
}

foreach (var spec in specs)
{
    var session = await manager.EnsureSessionAsync(spec[0], spec[1], spec.Length > 2 ? spec[2] : null, timeout.Token);
    if (session is null)
    {
        Console.Error.WriteLine($"no free port for {spec[0]}");
        return 1;
    }

    Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"session {session.Container} {session.Port} {session.ProcessId}"));
    if (printUrl)
    {
        Console.WriteLine($"url {session.Container} {session.GetUrl()}");
    }
}

return 0;
