using System.Diagnostics.CodeAnalysis;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using TtydPorts;

namespace Microsoft.Extensions.DependencyInjection;

/// <summary>Registers the ttyd session manager and its parts.</summary>
public static class TtydSessionsServiceCollectionExtensions
{
    /// <summary>
    /// Adds <see cref="ITtydSessionManager"/> with its default parts and the hosted service that adopts the sessions
    /// of an earlier run at start and repairs them. Replace a part with the returned builder's <c>Use…</c> methods.
    /// </summary>
    /// <exception cref="PlatformNotSupportedException">The process does not run on Linux.</exception>
    public static ITtydSessionsBuilder AddTtydSessions(this IServiceCollection services)
    {
        ArgumentNullException.ThrowIfNull(services);
        TtydPlatform.ThrowIfUnsupported();
        AddValidatedOptions(services, Options.Options.DefaultName);
        services.TryAddSingleton(TimeProvider.System);
        services.TryAddSingleton<IPortAllocator, PortAllocator>();
        services.TryAddSingleton<IProcessSupervisor, LinuxProcessSupervisor>();
        services.TryAddSingleton<IContainerRuntime>(ContainerRuntimes.Create);
        services.TryAddSingleton<IContainerInventory>(sp => sp.GetRequiredService<IContainerRuntime>());
        services.TryAddSingleton<ITtydSessionManager, TtydSessionManager>();
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IHostedService, TtydRepairService>());
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

    /// <summary>
    /// Adds <see cref="ITtydSessionManager"/> with options bound from <paramref name="configuration"/>, by convention
    /// the section <see cref="TtydSessionOptions.SectionName"/> (<c>"TtydPorts"</c>):
    /// <c>services.AddTtydSessions(builder.Configuration.GetSection(TtydSessionOptions.SectionName))</c>.
    /// </summary>
    public static ITtydSessionsBuilder AddTtydSessions(this IServiceCollection services, IConfiguration configuration)
    {
        ArgumentNullException.ThrowIfNull(services);
        ArgumentNullException.ThrowIfNull(configuration);
        var builder = services.AddTtydSessions();
        services.AddOptions<TtydSessionOptions>().Bind(configuration);
        return builder;
    }

    /// <summary>
    /// Adds a second (third, …) manager under <paramref name="serviceKey"/>, resolved with
    /// <c>[FromKeyedServices("lab-b")] ITtydSessionManager</c> or <c>GetRequiredKeyedService</c>. It has its own named
    /// options (<paramref name="serviceKey"/> is the options name), port allocator, repair service and, unless set,
    /// <see cref="TtydSessionOptions.InstanceName"/> = the key, so that the managers never see each other's sessions;
    /// the process supervisor and <see cref="TimeProvider"/> of the default registration are shared. Its container runtime is
    /// built from its own options (so one host can drive a local engine and a remote one over TLS), unless the default
    /// registration has a runtime of the host's own (<c>UseContainerRuntime&lt;T&gt;()</c>), which is then shared.
    /// </summary>
    /// <exception cref="PlatformNotSupportedException">The process does not run on Linux.</exception>
    public static IServiceCollection AddKeyedTtydSessions(this IServiceCollection services, string serviceKey, Action<TtydSessionOptions> configure)
    {
        ArgumentNullException.ThrowIfNull(services);
        ArgumentException.ThrowIfNullOrEmpty(serviceKey);
        ArgumentNullException.ThrowIfNull(configure);
        if (!SessionIds.IsValidId(serviceKey))
        {
            throw new ArgumentException($"Service key {SessionIds.Quote(serviceKey)} must match [a-zA-Z0-9][a-zA-Z0-9_.@-]*: it is also the manager's default instance name.", nameof(serviceKey));
        }

        services.AddTtydSessions();
        AddValidatedOptions(services, serviceKey);
        services.Configure<TtydSessionOptions>(serviceKey, options => options.InstanceName = serviceKey);
        services.Configure(serviceKey, configure);
        services.AddKeyedSingleton<IPortAllocator>(serviceKey, (sp, _) =>
            new PortAllocator(Options.Options.Create(sp.GetRequiredService<IOptionsMonitor<TtydSessionOptions>>().Get(serviceKey)), sp.GetRequiredService<TimeProvider>()));
        services.AddKeyedSingleton<IContainerRuntime>(serviceKey, (sp, _) =>
            sp.GetRequiredService<IContainerRuntime>() is EngineRuntime
                ? ContainerRuntimes.Create(sp.GetRequiredService<IOptionsMonitor<TtydSessionOptions>>().Get(serviceKey), sp.GetRequiredService<IProcessSupervisor>(),
                    sp.GetService<ILoggerFactory>()?.CreateLogger("TtydPorts.ContainerRuntime"))
                : sp.GetRequiredService<IContainerRuntime>());
        services.AddKeyedSingleton<ITtydSessionManager>(serviceKey, (sp, _) =>
            new TtydSessionManager(
                sp.GetRequiredKeyedService<IPortAllocator>(serviceKey),
                sp.GetRequiredService<IProcessSupervisor>(),
                sp.GetRequiredKeyedService<IContainerRuntime>(serviceKey),
                Options.Options.Create(sp.GetRequiredService<IOptionsMonitor<TtydSessionOptions>>().Get(serviceKey)),
                sp.GetRequiredService<TimeProvider>(),
                sp.GetService<ILogger<TtydSessionManager>>(),
                sp.GetService<System.Diagnostics.Metrics.IMeterFactory>()));
        services.AddSingleton<IHostedService>(sp =>
            new TtydRepairService(
                sp.GetRequiredKeyedService<ITtydSessionManager>(serviceKey),
                sp.GetRequiredKeyedService<IContainerRuntime>(serviceKey),
                Options.Options.Create(sp.GetRequiredService<IOptionsMonitor<TtydSessionOptions>>().Get(serviceKey)),
                sp.GetRequiredService<TimeProvider>(),
                sp.GetService<ILogger<TtydRepairService>>()));
        return services;
    }

    private static void AddValidatedOptions(IServiceCollection services, string name)
    {
        services.AddOptions<TtydSessionOptions>(name).ValidateOnStart();
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<TtydSessionOptions>, TtydSessionOptionsValidator>());
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<TtydSessionOptions>, TtydSessionOptionsRules>());
    }

    private sealed record TtydSessionsBuilder(IServiceCollection Services) : ITtydSessionsBuilder;
}

/// <summary>Returned by <c>AddTtydSessions</c>: replaces a part of the manager, or lets add-ons extend the registration.</summary>
public interface ITtydSessionsBuilder
{
    /// <summary>The service collection.</summary>
    IServiceCollection Services { get; }
}

/// <summary>Replace a default part of the session manager, as YARP's builder replaces its parts.</summary>
public static class TtydSessionsBuilderExtensions
{
    /// <summary>Uses <typeparamref name="T"/> (a singleton) to hand out ports.</summary>
    public static ITtydSessionsBuilder UsePortAllocator<[DynamicallyAccessedMembers(DynamicallyAccessedMemberTypes.PublicConstructors)] T>(this ITtydSessionsBuilder builder) where T : class, IPortAllocator =>
        Replace<IPortAllocator, T>(builder);

    /// <summary>Uses <typeparamref name="T"/> (a singleton) to start, watch and stop ttyd processes.</summary>
    public static ITtydSessionsBuilder UseProcessSupervisor<[DynamicallyAccessedMembers(DynamicallyAccessedMemberTypes.PublicConstructors)] T>(this ITtydSessionsBuilder builder) where T : class, IProcessSupervisor =>
        Replace<IProcessSupervisor, T>(builder);

    /// <summary>
    /// Uses <typeparamref name="T"/> (a singleton) as the container runtime: it finds containers, opens terminals in them
    /// and ends what those leave behind; it also serves as the <see cref="IContainerInventory"/> of the registration.
    /// </summary>
    public static ITtydSessionsBuilder UseContainerRuntime<[DynamicallyAccessedMembers(DynamicallyAccessedMemberTypes.PublicConstructors)] T>(this ITtydSessionsBuilder builder) where T : class, IContainerRuntime =>
        Replace<IContainerRuntime, T>(builder);

    /// <summary>
    /// Uses Docker (the default): <see cref="TtydSessionOptions.DockerEndpoint"/>, else <c>DOCKER_HOST</c> with
    /// <c>DOCKER_TLS_VERIFY</c> and <c>DOCKER_CERT_PATH</c>, else the local socket. <paramref name="endpoint"/> sets the
    /// endpoint (<c>unix:///…</c> or <c>tcp://host:port</c>) and <paramref name="certificateFolder"/> the TLS folder of a TCP one.
    /// </summary>
    public static ITtydSessionsBuilder UseDocker(this ITtydSessionsBuilder builder, string? endpoint = null, string? certificateFolder = null)
    {
        ArgumentNullException.ThrowIfNull(builder);
        builder.Services.Configure<TtydSessionOptions>(o =>
        {
            o.ContainerRuntime = ContainerRuntimeKind.Docker;
            o.DockerEndpoint = endpoint ?? o.DockerEndpoint;
            o.DockerCertPath = certificateFolder ?? o.DockerCertPath;
        });
        return builder;
    }

    /// <summary>
    /// Uses Podman through its Docker-compatible API service: <paramref name="endpoint"/> (a <c>unix://</c> socket), else
    /// <see cref="TtydSessionOptions.PodmanEndpoint"/>, else <c>CONTAINER_HOST</c>, else the service's default socket.
    /// </summary>
    public static ITtydSessionsBuilder UsePodman(this ITtydSessionsBuilder builder, string? endpoint = null)
    {
        ArgumentNullException.ThrowIfNull(builder);
        builder.Services.Configure<TtydSessionOptions>(o =>
        {
            o.ContainerRuntime = ContainerRuntimeKind.Podman;
            o.PodmanEndpoint = endpoint ?? o.PodmanEndpoint;
        });
        return builder;
    }

    /// <summary>Uses <typeparamref name="T"/> (a singleton) as the session manager itself.</summary>
    public static ITtydSessionsBuilder UseSessionManager<[DynamicallyAccessedMembers(DynamicallyAccessedMemberTypes.PublicConstructors)] T>(this ITtydSessionsBuilder builder) where T : class, ITtydSessionManager =>
        Replace<ITtydSessionManager, T>(builder);

    private static ITtydSessionsBuilder Replace<TService, [DynamicallyAccessedMembers(DynamicallyAccessedMemberTypes.PublicConstructors)] TImplementation>(ITtydSessionsBuilder builder)
        where TService : class
        where TImplementation : class, TService
    {
        ArgumentNullException.ThrowIfNull(builder);
        builder.Services.Replace(ServiceDescriptor.Singleton<TService, TImplementation>());
        return builder;
    }
}
