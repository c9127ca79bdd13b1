using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using NetLabBuilder.Sample;
using TtydPorts.IntegrationTests;

namespace TtydPorts.AspNetCore.Tests;

[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class RealHostsCollection : ICollectionFixture<TestContainers>
{
    public const string Name = "Real hosts over ttyd, Docker and Chromium";
}

internal static class Unique
{
    public static string Name(string role) => $"tpa-{role}-{Guid.NewGuid().ToString("N")[..8]}";
}

/// <summary>Busybox containers named tpa-c-* (or another prefix), labelled as test containers; removed at the end.</summary>
public class TestContainers : IDisposable
{
    private readonly List<string> _names = [];
    private readonly string _prefix;

    public TestContainers()
        : this("tpa-c")
    {
    }

    protected TestContainers(string prefix) => _prefix = prefix;

    public string Start()
    {
        var name = RealParts.StartContainer($"{_prefix}-{Guid.NewGuid().ToString("N")[..8]}");
        lock (_names)
        {
            _names.Add(name);
        }

        return name;
    }

    public void Dispose()
    {
        lock (_names)
        {
            RealParts.RemoveContainers(_names);
        }

        GC.SuppressFinalize(this);
    }
}

/// <summary>
/// A real ASP.NET Core host on 127.0.0.1 (a free port) with <c>MapTtydEndpoints</c> over a manager of its own instance and
/// port range. Disposing it stops every session and asserts that no ttyd of its instance is left.
/// </summary>
public sealed class ApiHost : IAsyncDisposable
{
    private readonly WebApplication _app;

    private ApiHost(WebApplication app, string instance, string runtimeDirectory)
    {
        _app = app;
        Instance = instance;
        RuntimeDirectory = runtimeDirectory;
        Client = new HttpClient { BaseAddress = NetLabApp.Addresses(app)[0], Timeout = TimeSpan.FromSeconds(60) };
    }

    public string Instance { get; }
    public string RuntimeDirectory { get; }
    public HttpClient Client { get; }
    public IServiceProvider Services => _app.Services;
    public ITtydSessionManager Manager => _app.Services.GetRequiredService<ITtydSessionManager>();
    public IProcessSupervisor Supervisor => _app.Services.GetRequiredService<IProcessSupervisor>();

    public static async Task<ApiHost> StartAsync(
        int rangeStart,
        int rangeEnd,
        Action<WebApplicationBuilder>? configureServices = null,
        Action<RouteGroupBuilderHolder>? configureEndpoints = null)
    {
        var instance = Unique.Name("api");
        var runtime = Path.Combine(Path.GetTempPath(), instance);
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        builder.Logging.SetMinimumLevel(LogLevel.Warning);
        builder.Services.AddTtydSessions(o =>
        {
            o.PortRangeStart = rangeStart;
            o.PortRangeEnd = rangeEnd;
            o.InstanceName = instance;
            o.RuntimeDirectory = runtime;
            o.DockerPath = RealParts.DockerClient;
            o.StopGracePeriod = TimeSpan.FromSeconds(2);
        });
        configureServices?.Invoke(builder);
        var app = builder.Build();
        var group = app.MapTtydEndpoints("/api/ttyd");
        configureEndpoints?.Invoke(new RouteGroupBuilderHolder(group));
        await app.StartAsync(TestContext.Current.CancellationToken);
        return new ApiHost(app, instance, runtime);
    }

    public async ValueTask DisposeAsync()
    {
        Client.Dispose();
        var manager = Manager;
        var supervisor = Supervisor;
        var result = await manager.CleanupAllAsync();
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

/// <summary>Wraps the group so that tests can add conventions after mapping.</summary>
public sealed record RouteGroupBuilderHolder(Microsoft.AspNetCore.Routing.RouteGroupBuilder Group);

/// <summary>
/// The NetLabBuilder sample, started as its Program does, on 127.0.0.1 (a free port), with its own instance, port range,
/// container prefix and the test label. Disposing it stops the host and asserts that its terminals and containers are gone.
/// </summary>
public sealed class SampleHost : IAsyncDisposable
{
    private readonly WebApplication _app;
    private bool _stopped;

    private SampleHost(WebApplication app, string instance, string runtimeDirectory)
    {
        _app = app;
        Instance = instance;
        RuntimeDirectory = runtimeDirectory;
        BaseAddress = NetLabApp.Addresses(app)[0];
        Client = new HttpClient { BaseAddress = BaseAddress, Timeout = TimeSpan.FromSeconds(60) };
    }

    public string Instance { get; }
    public string RuntimeDirectory { get; }
    public Uri BaseAddress { get; }
    public HttpClient Client { get; }
    public ITtydSessionManager Manager => _app.Services.GetRequiredService<ITtydSessionManager>();
    public IProcessSupervisor Supervisor => _app.Services.GetRequiredService<IProcessSupervisor>();

    public static async Task<SampleHost> StartAsync(params string[] extraArgs)
    {
        RealParts.Require();
        var instance = Unique.Name("lab");
        var runtime = Path.Combine(Path.GetTempPath(), instance);
        string[] args =
        [
            "--urls", "http://127.0.0.1:0",
            $"--TtydPorts:InstanceName={instance}",
            $"--TtydPorts:RuntimeDirectory={runtime}",
            $"--TtydPorts:DockerPath={RealParts.DockerClient}",
            "--TtydPorts:StopGracePeriod=00:00:02",
            $"--Lab:ContainerPrefix={instance}-",
            $"--Lab:Label={RealParts.TestLabel}",
            "--Lab:NodesPerTopology=2",
            "--TtydPorts:ExtraTtydArguments:0=-t", // a DOM renderer, so the tests read the screen as text
            "--TtydPorts:ExtraTtydArguments:1=rendererType=dom",
            "--Logging:LogLevel:Default=Warning",
            .. extraArgs,
        ];
        var app = NetLabApp.Create(args);
        await app.StartAsync(TestContext.Current.CancellationToken);
        return new SampleHost(app, instance, runtime);
    }

    /// <summary>The demo accounts of this run (random passwords, made at start).</summary>
    public DemoUsers Users => _app.Services.GetRequiredService<DemoUsers>();

    /// <summary>An HTTP client with its own cookies, signed in as <paramref name="user"/> unless it is null; no redirects followed.</summary>
    public async Task<HttpClient> ClientAsync(string? user)
    {
        var http = new HttpClient(new SocketsHttpHandler { CookieContainer = new CookieContainer(), AllowAutoRedirect = false })
        {
            BaseAddress = BaseAddress,
            Timeout = TimeSpan.FromSeconds(60),
        };
        if (user is not null)
        {
            using var login = await http.PostAsJsonAsync("/api/login", new { user, password = Users.All.Single(u => u.Name == user).Password }, TestContext.Current.CancellationToken);
            Assert.Equal(HttpStatusCode.OK, login.StatusCode);
        }

        return http;
    }

    /// <summary>Deploys a topology as the signed-in student of <paramref name="client"/>.</summary>
    public static async Task<JsonElement> DeployAsync(HttpClient client)
    {
        using var response = await client.PostAsJsonAsync("/api/lab/deploy", new { }, TestContext.Current.CancellationToken);
        var body = await response.Content.ReadAsStringAsync(TestContext.Current.CancellationToken);
        Assert.True(response.IsSuccessStatusCode, body);
        return JsonDocument.Parse(body).RootElement.Clone();
    }

    /// <summary>A DELETE as the page sends it: no body, <c>Content-Type: application/json</c>.</summary>
    public static async Task<HttpResponseMessage> DeleteAsync(HttpClient client, string path)
    {
        using var request = new HttpRequestMessage(HttpMethod.Delete, path) { Content = new ByteArrayContent([]) };
        request.Content.Headers.ContentType = new System.Net.Http.Headers.MediaTypeHeaderValue("application/json");
        return await client.SendAsync(request, TestContext.Current.CancellationToken);
    }

    /// <summary><c>getOwnNodes</c> polled until every node has its terminal (they start in the background).</summary>
    public static async Task<JsonElement> ReadyOwnNodesAsync(HttpClient client)
    {
        var within = Poll.Within(60);
        while (true)
        {
            var json = JsonDocument.Parse(await client.GetStringAsync("/api/ttyd/getOwnNodes", within)).RootElement.Clone();
            var terminals = json.GetProperty("terminals").EnumerateArray().ToArray();
            Assert.DoesNotContain(terminals, t => t.GetProperty("status").GetString() is not ("starting" or "running"));
            if (terminals.All(t => t.GetProperty("url").ValueKind == JsonValueKind.String))
            {
                return json;
            }

            await Task.Delay(50, within);
        }
    }

    /// <summary>Names of this lab's containers on the engine, running or not.</summary>
    public IReadOnlyList<string> Containers() =>
        RealParts.Docker("ps", "-a", "--filter", $"label={DemoLab.LabLabel}={Instance}", "--format", "{{.Names}}")
            .Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
            .Order(StringComparer.Ordinal)
            .ToArray();

    /// <summary>ttyd processes of this instance on the machine (children that inherit the markers are not counted).</summary>
    public IReadOnlyList<MarkedProcess> TtydProcesses()
    {
        var marked = new LinuxProcessSupervisor().FindMarkedProcesses(TtydProcessDiscovery.MarkerPrefix, "TTYDPORTS_INSTANCE", Instance);
        var pids = marked.Select(m => m.Process.ProcessId).ToHashSet();
        return [.. marked.Where(m => !pids.Contains(m.ParentProcessId))];
    }

    public async Task StopAsync()
    {
        if (!_stopped)
        {
            _stopped = true;
            Client.Dispose();
            await _app.StopAsync();
            await _app.DisposeAsync();
        }
    }

    public async ValueTask DisposeAsync()
    {
        await StopAsync();
        var containers = Containers();
        var processes = TtydProcesses();
        foreach (var container in containers)
        {
            RealParts.Run(RealParts.DockerClient, "rm", "-f", container); // one at a time: moby#46661 (Engine.RemoveContainers)
        }

        if (Directory.Exists(RuntimeDirectory))
        {
            Directory.Delete(RuntimeDirectory, recursive: true);
        }

        Assert.Empty(containers);
        Assert.Empty(processes);
    }
}
