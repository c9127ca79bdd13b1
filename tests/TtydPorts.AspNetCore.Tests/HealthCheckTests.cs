using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using TtydPorts.IntegrationTests;

namespace TtydPorts.AspNetCore.Tests;

/// <summary>The health check over the real parts (ttyd on PATH, the Docker engine, the real port allocator).</summary>
[Collection(RealHostsCollection.Name)]
public sealed class HealthCheckTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private static ServiceProvider Services(Action<TtydSessionOptions>? configure = null) =>
        new ServiceCollection()
            .AddLogging()
            .AddTtydSessions(o =>
            {
                o.PortRangeStart = 19100;
                o.PortRangeEnd = 19109;
                o.InstanceName = Unique.Name("health");
                configure?.Invoke(o);
            })
            .Services.AddHealthChecks().AddTtydSessions().Services
            .BuildServiceProvider();

    private static async Task<HealthReportEntry> CheckAsync(ServiceProvider services) =>
        (await services.GetRequiredService<HealthCheckService>().CheckHealthAsync(Ct)).Entries["ttyd"];

    [Fact]
    public async Task Is_healthy_with_ttyd_on_PATH_an_engine_that_answers_and_a_free_range()
    {
        RealParts.Require();
        await using var services = Services();

        var entry = await CheckAsync(services);

        Assert.Equal(HealthStatus.Healthy, entry.Status);
        Assert.Equal(10, entry.Data["ports_total"]);
        Assert.Equal(0, entry.Data["ports_reserved"]);
        Assert.EndsWith("/ttyd", (string)entry.Data["ttyd"], StringComparison.Ordinal);
    }

    [Fact]
    public async Task Is_unhealthy_and_names_the_folder_when_another_user_owns_the_runtime_folder()
    {
        RealParts.Require();
        var planted = Path.Combine(Path.GetTempPath(), Unique.Name("tp-planted"));
        Directory.CreateDirectory(planted);
        try
        {
            // What another user who got there first leaves behind (uid 65534, "nobody", stands in for them).
            var (code, output) = RealParts.Run("chown", "65534", planted);
            Assert.True(code == 0, $"chown needs root: {output}");
            await using var refused = Services(o => o.RuntimeDirectory = planted);
            await using var fine = Services(o => o.RuntimeDirectory = planted + "-own");

            var bad = await CheckAsync(refused);
            var good = await CheckAsync(fine);

            Assert.Equal(HealthStatus.Unhealthy, bad.Status);
            Assert.Contains(planted, bad.Description, StringComparison.Ordinal);
            Assert.Contains("uid 65534", bad.Description, StringComparison.Ordinal);
            Assert.Equal(HealthStatus.Healthy, good.Status); // positive control: a folder of this user
        }
        finally
        {
            Directory.Delete(planted, recursive: true);
            if (Directory.Exists(planted + "-own"))
            {
                Directory.Delete(planted + "-own", recursive: true);
            }
        }
    }

    [Fact]
    public async Task Is_unhealthy_and_names_the_path_when_ttyd_cannot_be_found()
    {
        await using var services = Services(o => o.TtydPath = "/nonexistent/tpa/ttyd");

        var entry = await CheckAsync(services);

        Assert.Equal(HealthStatus.Unhealthy, entry.Status);
        Assert.Contains("'/nonexistent/tpa/ttyd' does not exist", entry.Description, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Is_unhealthy_and_names_the_socket_when_the_engine_does_not_answer()
    {
        var socket = Path.Combine(Path.GetTempPath(), Unique.Name("nosock") + ".sock");
        await using var services = Services(o => o.DockerEndpoint = "unix://" + socket);

        var entry = await CheckAsync(services);

        Assert.Equal(HealthStatus.Unhealthy, entry.Status);
        Assert.Contains(socket, entry.Description, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Turns_degraded_when_nine_of_ten_ports_are_in_use_not_before()
    {
        RealParts.Require();
        await using var services = Services();
        var ports = services.GetRequiredService<IPortAllocator>();
        var taken = new List<int>();
        try
        {
            for (var i = 0; i < 8; i++)
            {
                Assert.True(ports.TryAcquire(out var port));
                taken.Add(port);
            }

            var atEight = await CheckAsync(services);
            Assert.True(ports.TryAcquire(out var ninth));
            taken.Add(ninth);
            var atNine = await CheckAsync(services);

            Assert.Equal(HealthStatus.Healthy, atEight.Status);
            Assert.Equal(HealthStatus.Degraded, atNine.Status);
            Assert.Contains("9 of 10 ports", atNine.Description, StringComparison.Ordinal);
        }
        finally
        {
            taken.ForEach(ports.Release);
        }
    }

    [Fact]
    public async Task In_proxy_mode_reports_no_port_figures_and_is_not_degraded_by_a_full_range()
    {
        RealParts.Require();
        await using var proxy = Services(o => o.ListenMode = TtydListenMode.UnixSocket);
        await using var direct = Services();
        var reservations = new List<(IPortAllocator Ports, int Port)>();
        try
        {
            // Each provider's whole range reserved: what degrades a TCP-mode manager.
            foreach (var ports in new[] { proxy.GetRequiredService<IPortAllocator>(), direct.GetRequiredService<IPortAllocator>() })
            {
                while (ports.TryAcquire(out var port))
                {
                    reservations.Add((ports, port));
                }
            }

            var inProxyMode = await CheckAsync(proxy);
            var inDirectMode = await CheckAsync(direct);

            Assert.Equal(HealthStatus.Degraded, inDirectMode.Status); // positive control: the full range degrades TCP mode
            Assert.Equal("tcp", inDirectMode.Data["listen_mode"]);
            Assert.True(inDirectMode.Data.ContainsKey("port_range"));

            Assert.Equal(HealthStatus.Healthy, inProxyMode.Status);
            Assert.Equal("unix_socket", inProxyMode.Data["listen_mode"]);
            Assert.DoesNotContain(inProxyMode.Data.Keys, k => k.StartsWith("port", StringComparison.Ordinal));
            Assert.DoesNotContain("port", inProxyMode.Description, StringComparison.OrdinalIgnoreCase);
            Assert.Contains("Unix sockets", inProxyMode.Description, StringComparison.Ordinal);
        }
        finally
        {
            reservations.ForEach(r => r.Ports.Release(r.Port));
        }
    }
}
