using System.Collections.Immutable;
using System.Globalization;

namespace TtydPorts;

/// <summary>
/// Pure code: the tmux command lines that ttyd runs for a persistent shell. ttyd starts one tmux client per browser
/// connection; the first creates the tmux server (on the session's socket in the runtime folder) and its one session,
/// the others attach to it. The server daemonizes, so it is no child of ttyd: it inherits ttyd's signed markers, by
/// which <see cref="SessionProcesses"/> finds and ends it with the session.
/// </summary>
internal static class TmuxCommand
{
    /// <summary>The one tmux session of a terminal.</summary>
    public const string SessionName = "main";

    /// <summary>
    /// TERM inside the container: what tmux emulates (ttyd's xterm-256color describes the browser, not tmux). Every
    /// ncurses ships it, unlike tmux-256color.
    /// </summary>
    public const string InnerTerm = "screen-256color";

    /// <summary>
    /// tmux as an invisible layer: no status bar, no prefix key (Ctrl-B stays the shell's, router CLIs use it), the pane
    /// follows the size of the latest client, Escape is not delayed (vi), the browser's own scrollback keeps what scrolls
    /// off (no alternate screen for xterm clients), and the server lives exactly as long as its shell.
    /// </summary>
    public static ImmutableArray<string> Settings(int scrollbackLines) =>
    [
        "set-option", "-g", "status", "off", ";",
        "set-option", "-g", "prefix", "None", ";",
        "set-option", "-g", "prefix2", "None", ";",
        "set-option", "-g", "default-terminal", InnerTerm, ";",
        "set-option", "-g", "window-size", "latest", ";",
        "set-option", "-g", "aggressive-resize", "on", ";",
        "set-option", "-g", "escape-time", "0", ";",
        "set-option", "-g", "history-limit", scrollbackLines.ToString(CultureInfo.InvariantCulture), ";",
        "set-option", "-g", "destroy-unattached", "off", ";",
        "set-option", "-g", "exit-unattached", "off", ";",
        "set-option", "-g", "exit-empty", "on", ";",
        "set-option", "-g", "set-titles", "off", ";",
        "set-option", "-ga", "terminal-overrides", ",xterm*:smcup@:rmcup@", ";",
    ];

    /// <summary>
    /// The owner's command: attach to the session's shell, creating it (with <paramref name="shellCommand"/>, an argument
    /// list tmux runs without a shell) when there is none. <c>-u</c>: UTF-8 whatever the host's locale says;
    /// <c>-f /dev/null</c>: no user or system configuration changes the terminal.
    /// </summary>
    public static ImmutableArray<string> Attach(string tmux, string socket, int scrollbackLines, IEnumerable<string> shellCommand) =>
    [
        tmux, "-u", "-f", "/dev/null", "-S", socket, "start-server", ";",
        .. Settings(scrollbackLines),
        // Last, so that an argument of the shell command cannot end another tmux command (the validator refuses a Shell ending in ';').
        "new-session", "-A", "-s", SessionName, "--", .. shellCommand.Select(EscapeTrailingSemicolon),
    ];

    // tmux ends a command at an argument ending in ';' unless it ends in "\;", and then drops that backslash: so a
    // trailing ';' becomes "\;", which tmux turns back into exactly the argument given ("a\;" included). With more than one
    // argument, new-session execs them as they are (no shell); the docker exec line always has many.
    internal static string EscapeTrailingSemicolon(string argument) =>
        argument.EndsWith(';') ? argument[..^1] + "\\;" : argument;

    /// <summary>
    /// The manager's command right after ttyd is ready: create the session's shell detached (80x24 until a client
    /// attaches and resizes it), so that the first connection attaches to a shell that is already up instead of waiting
    /// for <c>docker exec</c>. Same server settings as <see cref="Attach"/>, whichever of the two starts the server.
    /// </summary>
    public static ImmutableArray<string> Create(string tmux, string socket, int scrollbackLines, IEnumerable<string> shellCommand) =>
    [
        tmux, "-u", "-f", "/dev/null", "-S", socket, "start-server", ";",
        .. Settings(scrollbackLines),
        // Escaped as in Attach: unescaped, a last argument ending in ';' would lose it (found by the runtime tests).
        "new-session", "-d", "-x", "80", "-y", "24", "-s", SessionName, "--", .. shellCommand.Select(EscapeTrailingSemicolon),
    ];

    /// <summary>
    /// The observer's command: a read-only client (the tmux server drops its keys) that never resizes the shell of
    /// the owner. It never creates a shell: with none yet, it ends at once.
    /// </summary>
    public static ImmutableArray<string> Watch(string tmux, string socket) =>
        [tmux, "-u", "-f", "/dev/null", "-S", socket, "attach-session", "-f", "read-only,ignore-size", "-t", SessionName];
}
