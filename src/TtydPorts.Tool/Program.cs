using TtydPorts;
using TtydPorts.Tool.Commands;
using TtydPorts.Tool.Machine;
using TtydPorts.Tool.Output;

// The engine is chosen before the command runs, as the library chooses it: Docker from DOCKER_HOST (with
// DOCKER_TLS_VERIFY and DOCKER_CERT_PATH) or the local socket; `--runtime podman` first for Podman (CONTAINER_HOST or
// the service's default socket). The tool only reads the engine's container list.
var options = new TtydSessionOptions();
if (args is ["--runtime", var runtime, .. var rest])
{
    // Names only: Enum.TryParse also takes a number ("1" would be Podman).
    if (!Enum.GetNames<ContainerRuntimeKind>().Contains(runtime, StringComparer.OrdinalIgnoreCase)
        || !Enum.TryParse<ContainerRuntimeKind>(runtime, ignoreCase: true, out var kind))
    {
        await Console.Error.WriteLineAsync($"ttyd-ports: --runtime {SessionIds.Quote(runtime)} is not a runtime: use docker or podman.").ConfigureAwait(false);
        return 2;
    }

    options.ContainerRuntime = kind;
    args = rest;
}

var supervisor = new LinuxProcessSupervisor();
EngineRuntime inventory;
try
{
    inventory = ContainerRuntimes.Create(options, supervisor);
}
catch (InvalidOperationException e)
{
    // DOCKER_HOST, DOCKER_CONTEXT or CONTAINER_HOST names an engine the library cannot reach: say so rather than ask another.
    await Console.Error.WriteLineAsync($"ttyd-ports: {TerminalText.Escape(e.Message)}").ConfigureAwait(false);
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
