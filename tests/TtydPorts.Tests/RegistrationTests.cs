using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;
using Moq;

namespace TtydPorts.Tests;

/// <summary>How a host registers and replaces the manager's parts, binds options and runs two managers.</summary>
public sealed class RegistrationTests
{
    public sealed class FixedRuntime : IContainerRuntime
    {
        public string Name => "fixed";

        public string Endpoint => "none";

        public Task<ContainerInfo?> GetContainerAsync(string name, CancellationToken cancellationToken = default) => Task.FromResult<ContainerInfo?>(null);

        public Task<IReadOnlyList<ContainerInfo>> ListContainersAsync(CancellationToken cancellationToken = default) => Task.FromResult<IReadOnlyList<ContainerInfo>>([]);

        public ContainerExec CreateExec(ContainerExecRequest request) => new() { Arguments = ["true"] };

        public Task EndTerminalsAsync(IReadOnlyCollection<ContainerTerminal> terminals, CancellationToken cancellationToken = default) => Task.CompletedTask;
    }

    [Fact]
    public void The_runtime_is_picked_at_registration_and_pins_the_exec_client_to_its_engine()
    {
        using var docker = new ServiceCollection().AddLogging().AddTtydSessions().Services.BuildServiceProvider();
        using var podman = new ServiceCollection().AddLogging().AddTtydSessions().UsePodman("unix:///run/lab/podman.sock").Services.BuildServiceProvider();
        var request = new ContainerExecRequest { ContainerId = new string('a', 64), Command = TerminalCommand.Of("sh"), Marker = new string('0', 32) };

        var podmanRuntime = podman.GetRequiredService<IContainerRuntime>();
        var exec = podmanRuntime.CreateExec(request);

        Assert.Equal(("podman", "unix:///run/lab/podman.sock"), (podmanRuntime.Name, podmanRuntime.Endpoint));
        Assert.Equal(["podman", "--remote", "--url", "unix:///run/lab/podman.sock", "exec", "-it", "-e", $"TTYDPORTS_EXEC={request.Marker}", request.ContainerId, "sh"], exec.Arguments);
        Assert.Equal("unix:///run/lab/podman.sock", exec.Environment["CONTAINER_HOST"]);
        Assert.Same(podmanRuntime, podman.GetRequiredService<IContainerInventory>());
        Assert.Equal("docker", docker.GetRequiredService<IContainerRuntime>().Name); // control: the default stays Docker
    }

    [Fact]
    public void The_builder_replaces_a_part_and_leaves_the_others_at_their_defaults()
    {
        var services = new ServiceCollection().AddLogging();
        services.AddTtydSessions().UseContainerRuntime<FixedRuntime>();
        using var provider = services.BuildServiceProvider();

        Assert.IsType<FixedRuntime>(provider.GetRequiredService<IContainerRuntime>());
        Assert.Same(provider.GetRequiredService<IContainerRuntime>(), provider.GetRequiredService<IContainerInventory>()); // one part finds and opens
        Assert.Single(services, d => d.ServiceType == typeof(IContainerRuntime)); // replaced, not added beside
        Assert.IsType<PortAllocator>(provider.GetRequiredService<IPortAllocator>());
        Assert.IsType<TtydSessionManager>(provider.GetRequiredService<ITtydSessionManager>());
    }

    [Fact]
    public void A_part_registered_before_AddTtydSessions_is_kept()
    {
        var inventory = Mock.Of<IContainerInventory>();
        var services = new ServiceCollection().AddLogging();
        services.AddSingleton(inventory);
        services.AddTtydSessions();
        using var provider = services.BuildServiceProvider();

        Assert.Same(inventory, provider.GetRequiredService<IContainerInventory>());
    }

    [Fact]
    public void Options_bind_from_the_TtydPorts_section_and_a_bad_value_fails_naming_it()
    {
        var good = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["TtydPorts:PortRangeStart"] = "9100", ["TtydPorts:PortRangeEnd"] = "9199", ["TtydPorts:InstanceName"] = "lab-a",
        }).Build();
        var bad = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?> { ["TtydPorts:PortRangeStart"] = "70000" }).Build();

        using var provider = new ServiceCollection().AddLogging().AddTtydSessions(good.GetSection(TtydSessionOptions.SectionName)).Services.BuildServiceProvider();
        using var refused = new ServiceCollection().AddLogging().AddTtydSessions(bad.GetSection(TtydSessionOptions.SectionName)).Services.BuildServiceProvider();

        var options = provider.GetRequiredService<IOptions<TtydSessionOptions>>().Value;
        Assert.Equal((9100, 9199, "lab-a"), (options.PortRangeStart, options.PortRangeEnd, options.InstanceName));
        var error = Assert.Throws<OptionsValidationException>(() => refused.GetRequiredService<IOptions<TtydSessionOptions>>().Value);
        Assert.Contains("PortRangeStart", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Two_managers_in_one_host_have_their_own_options_ports_instance_and_repair()
    {
        var services = new ServiceCollection().AddLogging();
        services.AddTtydSessions(o => (o.PortRangeStart, o.PortRangeEnd) = (9200, 9209));
        services.AddKeyedTtydSessions("lab-b", o => (o.PortRangeStart, o.PortRangeEnd) = (9300, 9309));
        using var provider = services.BuildServiceProvider();

        var first = provider.GetRequiredService<ITtydSessionManager>();
        var second = provider.GetRequiredKeyedService<ITtydSessionManager>("lab-b");
        var monitor = provider.GetRequiredService<IOptionsMonitor<TtydSessionOptions>>();

        Assert.NotSame(first, second);
        Assert.Equal(9200, provider.GetRequiredService<IPortAllocator>().RangeStart);
        Assert.Equal(9300, provider.GetRequiredKeyedService<IPortAllocator>("lab-b").RangeStart);
        Assert.Equal("default", monitor.CurrentValue.InstanceName);
        Assert.Equal("lab-b", monitor.Get("lab-b").InstanceName); // never sees the other manager's sessions
        Assert.Equal(2, provider.GetServices<IHostedService>().OfType<TtydRepairService>().Count());
    }

    [Fact]
    public void A_keyed_manager_gets_the_runtime_its_own_options_name_and_a_hosts_own_runtime_is_shared()
    {
        var services = new ServiceCollection().AddLogging();
        services.AddTtydSessions();
        services.AddKeyedTtydSessions("podman-lab", o => (o.ContainerRuntime, o.PodmanEndpoint) = (ContainerRuntimeKind.Podman, "unix:///run/lab/podman.sock"));
        using var provider = services.BuildServiceProvider();
        var custom = new ServiceCollection().AddLogging();
        custom.AddTtydSessions().UseContainerRuntime<FixedRuntime>();
        custom.AddKeyedTtydSessions("lab-b", o => o.ContainerRuntime = ContainerRuntimeKind.Podman);
        using var customProvider = custom.BuildServiceProvider();

        Assert.Equal("docker", provider.GetRequiredService<IContainerRuntime>().Name);
        Assert.Equal(("podman", "unix:///run/lab/podman.sock"), (provider.GetRequiredKeyedService<IContainerRuntime>("podman-lab").Name, provider.GetRequiredKeyedService<IContainerRuntime>("podman-lab").Endpoint));
        Assert.Same(customProvider.GetRequiredService<IContainerRuntime>(), customProvider.GetRequiredKeyedService<IContainerRuntime>("lab-b"));
    }

    [Fact]
    public void A_keyed_manager_with_bad_options_fails_naming_the_value_and_a_bad_key_is_refused()
    {
        var services = new ServiceCollection().AddLogging();
        services.AddKeyedTtydSessions("lab-b", o => o.PortRangeStart = 0);
        using var provider = services.BuildServiceProvider();

        var error = Assert.Throws<OptionsValidationException>(() => provider.GetRequiredKeyedService<ITtydSessionManager>("lab-b"));
        Assert.Contains("PortRangeStart", error.Message, StringComparison.Ordinal);
        Assert.Contains("'../x'", Assert.Throws<ArgumentException>(() => new ServiceCollection().AddKeyedTtydSessions("../x", _ => { })).Message, StringComparison.Ordinal);
    }
}
