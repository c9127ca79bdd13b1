using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;
using TtydPorts;

namespace Microsoft.Extensions.DependencyInjection;

/// <summary>Registers the ttyd session manager and its parts.</summary>
public static class TtydSessionsServiceCollectionExtensions
{
    /// <summary>
    /// Adds <see cref="ITtydSessionManager"/> with its default parts. Every part is registered with <c>TryAdd</c>,
    /// so a host can replace any of them by registering its own first.
    /// </summary>
    /// <exception cref="PlatformNotSupportedException">The process does not run on Linux.</exception>
    public static ITtydSessionsBuilder AddTtydSessions(this IServiceCollection services)
    {
        ArgumentNullException.ThrowIfNull(services);
        TtydPlatform.ThrowIfUnsupported();
        services.AddOptions<TtydSessionOptions>().ValidateOnStart();
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<TtydSessionOptions>, TtydSessionOptionsValidator>());
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<TtydSessionOptions>, TtydSessionOptionsRules>());
        services.TryAddSingleton(TimeProvider.System);
        services.TryAddSingleton<IPortAllocator, PortAllocator>();
        services.TryAddSingleton<IProcessSupervisor, LinuxProcessSupervisor>();
        services.TryAddSingleton<IContainerInventory, DockerContainerInventory>();
        services.TryAddSingleton<ITtydSessionManager, TtydSessionManager>();
        services.AddHostedService<TtydRepairService>();
        return new TtydSessionsBuilder(services);
    }

    /// <summary>Adds <see cref="ITtydSessionManager"/> and configures its options.</summary>
    public static ITtydSessionsBuilder AddTtydSessions(this IServiceCollection services, Action<TtydSessionOptions> configure)
    {
        ArgumentNullException.ThrowIfNull(services);
        ArgumentNullException.ThrowIfNull(configure);
        var builder = services.AddTtydSessions();
        services.Configure(configure);
        return builder;
    }

    private sealed record TtydSessionsBuilder(IServiceCollection Services) : ITtydSessionsBuilder;
}

/// <summary>Returned by <c>AddTtydSessions</c>, for add-ons that extend the registration.</summary>
public interface ITtydSessionsBuilder
{
    /// <summary>The service collection.</summary>
    IServiceCollection Services { get; }
}
