using TtydPorts.Tool.Machine;

namespace TtydPorts.Tool.Cleanup;

/// <summary>
/// Whether the tool may end what a stopped session's terminal left inside its container. Those processes are found by
/// the session's token alone (machine-wide in <c>/proc</c>, or in the container its markers name), and as root the tool
/// believes every user's sessions, each signed with that user's own key: a user could sign a decoy carrying another
/// session's token (it is on that ttyd's command line) and have root end the other's shell. So another user's session
/// has them ended only when its owner could use the tool's engine itself, by the owner's uid and the groups of the
/// session's running process (which its owner cannot forge): such a user is root-equivalent, so trusting them loses
/// nothing. The tool's own user's and root's sessions are always trusted; a tool not run as root sees only its own.
/// </summary>
/// <param name="toolUid">The user the tool runs as.</param>
/// <param name="engine">The endpoint of the engine the tool talks to (never one from a marker); null when it talks to none.</param>
/// <param name="table">Reads the engine socket's permissions and a process's groups.</param>
internal sealed class LeftoverTrust(uint toolUid, string? engine, IHostProcessTable table)
{
    private readonly Lazy<EngineSocket?> _socket = new(() => engine is null ? null : table.ReadEngineSocket(engine));

    /// <summary>Why the leftovers of <paramref name="view"/> are not to be ended, or null when they are; asked while its process still runs.</summary>
    public string? Refusal(SessionView view)
    {
        ArgumentNullException.ThrowIfNull(view);
        if (view.Found.Folder?.Owner is not { } owner)
        {
            return "its owner is unknown";
        }

        if (owner == toolUid || owner == 0)
        {
            return null;
        }

        if (_socket.Value is not { } socket)
        {
            return $"it belongs to uid {owner}, and the engine {engine} is not a Unix socket on this machine whose permissions could show that uid {owner} may use it";
        }

        if (table.ReadGroups(view.Session.Process) is not { } groups)
        {
            return $"it belongs to uid {owner}, and the groups of its process could not be read to tell whether it may use the engine socket {socket}";
        }

        return socket.Admits(owner, groups) ? null
            : $"it belongs to uid {owner}, who may not use the engine socket {socket}, so its markers are not trusted to name a terminal";
    }
}
