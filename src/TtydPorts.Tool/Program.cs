using Microsoft.Extensions.Options;
using TtydPorts;
using TtydPorts.Tool.Commands;
using TtydPorts.Tool.Machine;

using var inventory = new DockerContainerInventory(Options.Create(new TtydSessionOptions()));
var context = new ToolContext(
    new LinuxProcessSupervisor(),
    inventory,
    new LinuxProcessTable(),
    TimeProvider.System,
    Console.Out,
    Console.Error,
    Console.In,
    InputIsTerminal: !Console.IsInputRedirected);
return await ToolApp.RunAsync(args, context).ConfigureAwait(false);
