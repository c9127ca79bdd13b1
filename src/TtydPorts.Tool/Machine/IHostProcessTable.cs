using System.Net;

namespace TtydPorts.Tool.Machine;

/// <summary>A process on this machine, as far as the tool may read it.</summary>
/// <param name="Process">PID and start time (the pair cannot be recycled).</param>
/// <param name="Command">Its command line, arguments separated by spaces (or its name in brackets when unreadable).</param>
internal sealed record HostProcess(ProcessIdentity Process, string Command)
{
    public int ProcessId => Process.ProcessId;
}

/// <summary>A listening TCP socket and the processes that hold it.</summary>
/// <param name="Address">Local address (<c>0.0.0.0</c> or <c>::</c> for every address).</param>
/// <param name="Port">Local port.</param>
/// <param name="Owners">Processes holding the socket; empty when none could be read (another user's process).</param>
internal sealed record Listener(IPAddress Address, int Port, IReadOnlyList<HostProcess> Owners);

/// <summary>What the tool reads from the machine beyond the library's own parts: the socket table and the ttyd processes without markers.</summary>
internal interface IHostProcessTable
{
    /// <summary>Every listening TCP socket (IPv4 and IPv6) with its owners.</summary>
    IReadOnlyList<Listener> ReadListeners();

    /// <summary>Every running ttyd (by executable or name) whose environment carries no TtydPorts marker.</summary>
    IReadOnlyList<HostProcess> FindForeignTtyd();

    /// <summary>This process and its ancestors: never to be stopped by this tool.</summary>
    IReadOnlySet<int> OwnLineage();

    /// <summary>
    /// Every group <paramref name="process"/> has or can switch back to (real, effective, saved and file system group,
    /// supplementary groups), as the kernel keeps them; null when they cannot be read or the PID now names another process.
    /// </summary>
    IReadOnlySet<uint>? ReadGroups(ProcessIdentity process);

    /// <summary>The engine's socket when <paramref name="endpoint"/> is a <c>unix://</c> one on this machine; else, or when it cannot be read, null.</summary>
    EngineSocket? ReadEngineSocket(string endpoint);
}
