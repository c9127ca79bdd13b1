using TtydPorts.Tool.Cleanup;
using TtydPorts.Tool.Machine;

namespace TtydPorts.Tool.Commands;

/// <summary>The parts and streams a command works with; the program wires the real ones, unit tests mocks.</summary>
internal sealed record ToolContext(
    IProcessSupervisor Supervisor,
    IContainerInventory Inventory,
    IHostProcessTable Table,
    TimeProvider Time,
    TextWriter Out,
    TextWriter Error,
    TextReader Input,
    bool InputIsTerminal)
{
    public MachineReader Reader => new(Supervisor, Inventory, Table, Time);

    /// <summary>The user the tool runs as (root believes every user's sessions).</summary>
    public uint ToolUid { get; init; } = Native.geteuid();

    public CleanupRunner Runner => new(Supervisor, Inventory as IContainerRuntime, new LeftoverTrust(ToolUid, (Inventory as IContainerRuntime)?.Endpoint, Table));
}
