// Registers the library, validates its options and reads the manager's status: the paths a host takes at start,
// compiled ahead of time. Prints "aot-ok" when they all ran.
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using TtydPorts;

var services = new ServiceCollection().AddLogging();
services.AddTtydSessions(options =>
{
    options.PortRangeStart = 47100;
    options.PortRangeEnd = 47199;
    options.InstanceName = "aot-consumer";
    options.RuntimeDirectory = Path.Combine(Path.GetTempPath(), $"ttydports-aot-{Environment.ProcessId}");
});
await using var provider = services.BuildServiceProvider();

_ = provider.GetRequiredService<IOptions<TtydSessionOptions>>().Value; // runs the source-generated validator

var bad = new ServiceCollection().AddLogging();
bad.AddTtydSessions(options => options.PortRangeStart = 0);
await using (var badProvider = bad.BuildServiceProvider())
{
    try
    {
        _ = badProvider.GetRequiredService<IOptions<TtydSessionOptions>>().Value;
        Console.Error.WriteLine("an invalid option passed validation");
        return 1;
    }
    catch (OptionsValidationException)
    {
    }
}

var manager = provider.GetRequiredService<ITtydSessionManager>();
_ = manager.GetStatus();
Console.WriteLine("aot-ok");
return 0;
