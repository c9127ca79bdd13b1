using Microsoft.Extensions.DependencyInjection;

namespace TtydPorts.Tests;

public sealed class PlatformTests
{
    [Fact]
    public void Registering_on_another_OS_than_Linux_says_the_library_runs_on_Linux_only()
    {
        var services = new ServiceCollection();

        PlatformNotSupportedException error;
        using (TtydPlatform.Simulate(isLinux: false))
        {
            error = Assert.Throws<PlatformNotSupportedException>(() => services.AddTtydSessions());
        }

        Assert.Contains("Linux only", error.Message, StringComparison.Ordinal);
        Assert.Empty(services); // nothing half-registered
    }

    [Fact]
    public void Registering_on_Linux_adds_the_manager()
    {
        var services = new ServiceCollection();

        using (TtydPlatform.Simulate(isLinux: true))
        {
            services.AddTtydSessions();
        }

        Assert.Contains(services, d => d.ServiceType == typeof(ITtydSessionManager));
    }
}
