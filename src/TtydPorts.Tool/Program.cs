using Microsoft.Extensions.Options;
using TtydPorts;
using TtydPorts.Tool.Commands;
using TtydPorts.Tool.Machine;

var supervisor = new LinuxProcessSupervisor();
EngineRuntime inventory;
try
{
    inventory = ContainerRuntimes.Create(new TtydSessionOptions(), supervisor);
}
catch (InvalidOperationException e)
{
    // DOCKER_HOST or DOCKER_CONTEXT names an engine the library cannot reach: say so rather than ask another engine.
    await Console.Error.WriteLineAsync($"ttyd-ports: {e.Message}").ConfigureAwait(false);
    return 2;
}

using var disposeInventory = inventory;
var context = new ToolContext(
    supervisor,
    inventory,
    new LinuxProcessTable(),
    TimeProvider.System,
    Console.Out,
    Console.Error,
    Console.In,
    InputIsTerminal: !Console.IsInputRedirected);
return await ToolApp.RunAsync(args, context).ConfigureAwait(false);
