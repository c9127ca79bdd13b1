using System.Security.Claims;
using Microsoft.AspNetCore.Http;

namespace TtydPorts.AspNetCore;

/// <summary>Settings of the terminal proxy (<c>AddTtydTerminalProxy</c>, <c>MapTtydTerminals</c>).</summary>
public sealed class TtydTerminalProxyOptions
{
    /// <summary>
    /// Path every terminal is served under, followed by the container name (<c>/terminals/node1/</c>). Set by
    /// <c>AddTtydTerminalProxy(prefix)</c>, which gives ttyd the same base path. Default <c>/terminals</c>.
    /// </summary>
    public string PathPrefix { get; set; } = "/terminals";

    /// <summary>
    /// The id of the signed-in user, compared with <see cref="TtydSession.UserId"/> by the default authorization. Default:
    /// the <see cref="ClaimTypes.NameIdentifier"/> claim, else <c>Identity.Name</c>.
    /// </summary>
    public Func<ClaimsPrincipal, string?> UserIdSelector { get; set; } = DefaultUserId;

    /// <summary>
    /// Decides whether an authenticated user may reach a session's terminal; <see langword="false"/> answers 403 and forwards
    /// nothing. Anonymous users never get here: they are challenged. Default <see langword="null"/>: only the session's owner
    /// (<see cref="UserIdSelector"/> equals <see cref="TtydSession.UserId"/>, ordinal).
    /// </summary>
    public Func<HttpContext, TtydSession, ValueTask<bool>>? Authorize { get; set; }

    /// <summary>
    /// Decides whether an authenticated user may watch a session read-only at <c>{prefix}/{container}/watch/</c> (an
    /// instructor looking over a student's shoulder); <see langword="false"/> answers 403. The observer's terminal is
    /// read-only on the server side (a ttyd without <c>-W</c> running a read-only tmux client): its keystrokes never reach
    /// the shell. Default <see langword="null"/>: only the session's owner. Independent of <see cref="Authorize"/>, so that
    /// watching never grants typing and typing is never needed to watch.
    /// </summary>
    public Func<HttpContext, TtydSession, ValueTask<bool>>? AuthorizeObserver { get; set; }

    /// <summary>
    /// Whether a terminal's output is written straight to the browser's connection socket, once the browser has answered
    /// the WebSocket upgrade, instead of through Kestrel's output pipe, which hands every chunk to another thread before it
    /// is sent: a keystroke's echo comes back sooner. Only ever where the socket carries exactly the bytes ttyd sends:
    /// HTTP/1.1 on Kestrel's socket transport with no connection middleware (Kestrel's HTTPS, connection logging or one of
    /// the host's own each replace the connection's pipe, which the relay sees, and then it writes through Kestrel).
    /// Default <see langword="true"/>.
    /// </summary>
    public bool DirectSocketOutput { get; set; } = true;

    /// <summary>
    /// How long a terminal's output may wait for a browser that reads none of it (a frozen browser, a client whose machine
    /// went away without closing) before the proxy closes that connection, which ends its relay and frees its thread. A
    /// terminal with nothing to send is never closed for being idle. Default 100 seconds (YARP's activity timeout); must be
    /// positive.
    /// </summary>
    public TimeSpan StalledClientTimeout { get; set; } = TimeSpan.FromSeconds(100);

    /// <summary>
    /// How long the relay waits, after reading a large piece of a terminal's output (2 KiB or more: a command printing,
    /// never a keystroke's echo), before it reads again. ttyd sends output in frames of one pty read (about 4 KiB); what it
    /// sends meanwhile then goes to the browser in one write instead of one per frame, which saves this process and the
    /// browser a wake-up per frame: through the relay, bulk output comes faster than straight from ttyd on a busy machine.
    /// Only output that follows a large read can wait, at most this long. <see cref="TimeSpan.Zero"/>: read again at
    /// once. Default 1 ms; at most 100 ms.
    /// </summary>
    public TimeSpan BulkOutputDelay { get; set; } = TimeSpan.FromMilliseconds(1);

    /// <summary>
    /// Whether HTTP/1.1 WebSocket upgrades (a terminal's keystrokes and output) go through the library's relay, which
    /// brings a keystroke's echo back sooner (<see cref="DirectSocketOutput"/>) and disconnects stalled browsers
    /// (<see cref="StalledClientTimeout"/>). <see langword="false"/>: through YARP's forwarder, as every other request.
    /// Default <see langword="true"/>.
    /// </summary>
    public bool RelayWebSockets { get; set; } = true;

    /// <summary>The default <see cref="UserIdSelector"/>: <see cref="ClaimTypes.NameIdentifier"/>, else <c>Identity.Name</c>.</summary>
    /// <param name="user">The signed-in user.</param>
    /// <returns>The user id, or <see langword="null"/>.</returns>
    public static string? DefaultUserId(ClaimsPrincipal user)
    {
        ArgumentNullException.ThrowIfNull(user);
        return user.FindFirst(ClaimTypes.NameIdentifier)?.Value ?? user.Identity?.Name;
    }
}
