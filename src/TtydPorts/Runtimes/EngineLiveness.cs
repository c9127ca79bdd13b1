using System.Net.Sockets;

namespace TtydPorts;

/// <summary>
/// How long the engine's connections, and its event stream, may stay silent before they are given up: the values in one
/// place, with why. Docker sends nothing on an idle event stream, so when a remote engine's host reboots or is cut off,
/// or a NAT between forgets the flow, no reset ever arrives: without these the stream would wait for good, and the
/// removal events that make a destroyed container's session stale at once would stop without a word.
/// </summary>
internal static class EngineLiveness
{
    /// <summary>
    /// A connect to the engine. One that is up answers in milliseconds, even across a WAN; one that is down or cut off
    /// never does, and the kernel would send its SYN again for about two minutes.
    /// </summary>
    public static readonly TimeSpan ConnectTimeout = TimeSpan.FromSeconds(10);

    /// <summary>
    /// The answer to an event subscription (its headers, which the engine sends at once, before any event), as long as an
    /// API call may take: the stream itself has no overall timeout.
    /// </summary>
    public static readonly TimeSpan SubscribeTimeout = TimeSpan.FromSeconds(15);

    /// <summary>
    /// TCP keepalive on every connection to a TCP engine: the first probe after this long without traffic. The peer's
    /// kernel answers a probe, not the engine, so a busy engine is never taken for a dead one; a probe is a few dozen
    /// bytes, every few seconds only while a connection is idle.
    /// </summary>
    public static readonly TimeSpan KeepAliveIdle = TimeSpan.FromSeconds(15);

    /// <summary>Between unanswered keepalive probes.</summary>
    public static readonly TimeSpan KeepAliveInterval = TimeSpan.FromSeconds(5);

    /// <summary>Unanswered keepalive probes after which the connection is dropped.</summary>
    public const int KeepAliveCount = 3;

    /// <summary>
    /// <c>TCP_USER_TIMEOUT</c>: a connection whose data stays unacknowledged this long is dropped (a request written into
    /// a partition would otherwise be sent again for about fifteen minutes). Linux lets it decide a keepalive failure too,
    /// so it equals the keepalive's own bound: a dead peer is noticed within 30 s, about one repair interval.
    /// </summary>
    public static readonly TimeSpan UserTimeout = KeepAliveIdle + (KeepAliveCount * KeepAliveInterval);

    /// <summary>
    /// With no event for this long, the follower subscribes again (from the last event's time, so nothing is lost): the
    /// backstop for a stream that keepalive cannot find dead, where something between answers for the engine (a TLS
    /// terminating proxy, an SSH tunnel) or the engine itself hangs. One request every five idle minutes costs nothing.
    /// </summary>
    public static readonly TimeSpan QuietLimit = TimeSpan.FromMinutes(5);

    /// <summary>
    /// A subscription that resumes asks from this much before the last event seen, in nanoseconds: Podman reads
    /// <c>since</c> as a floating-point number of seconds (steps of about 0.24 µs at today's epoch), so the last event's
    /// exact time could skip another of the same instant. An event that comes twice does no harm: a removal marks a
    /// session stale again, a start is asked about again.
    /// </summary>
    public const long ResumeMarginNanoseconds = 1_000;

    private const int IpProtoTcp = 6;
    private const int TcpUserTimeout = 18;

    /// <summary>Sets keepalive and the user timeout on a TCP socket, before it connects.</summary>
    public static void Configure(Socket socket)
    {
        ArgumentNullException.ThrowIfNull(socket);
        socket.SetSocketOption(SocketOptionLevel.Socket, SocketOptionName.KeepAlive, true);
        socket.SetSocketOption(SocketOptionLevel.Tcp, SocketOptionName.TcpKeepAliveTime, (int)KeepAliveIdle.TotalSeconds);
        socket.SetSocketOption(SocketOptionLevel.Tcp, SocketOptionName.TcpKeepAliveInterval, (int)KeepAliveInterval.TotalSeconds);
        socket.SetSocketOption(SocketOptionLevel.Tcp, SocketOptionName.TcpKeepAliveRetryCount, KeepAliveCount);
        socket.SetRawSocketOption(IpProtoTcp, TcpUserTimeout, BitConverter.GetBytes((int)UserTimeout.TotalMilliseconds));
    }

    /// <summary>The engine's <c>since</c> for a subscription that resumes at <paramref name="nanoseconds"/> (Unix time, the engine's clock).</summary>
    public static string Since(long nanoseconds)
    {
        var at = Math.Max(0, nanoseconds - ResumeMarginNanoseconds);
        return string.Create(System.Globalization.CultureInfo.InvariantCulture, $"{at / 1_000_000_000}.{at % 1_000_000_000:D9}");
    }
}
