using System.Net;
using System.Net.Sockets;
using System.Text;

namespace TtydPorts;

/// <summary>How a session is doing, as <see cref="SessionHealth"/> sees it.</summary>
internal enum SessionHealthState
{
    /// <summary>Alive, the same process, running, listening on its endpoint: it can be handed out.</summary>
    Healthy,
    /// <summary>Exited, or its PID now belongs to another process.</summary>
    Gone,
    /// <summary>Stopped (SIGSTOP) or traced: its page would never answer.</summary>
    Stopped,
    /// <summary>Nothing listens on its port, or its socket is gone.</summary>
    NotListening,
}

/// <summary>
/// The one answer to "can this session be handed out", shared by the manager (reuse, status, repair), the health check
/// and the <c>ttyd-ports</c> tool, so that they never disagree. The cheap part (<see cref="Check"/>) is a few system
/// calls, or none when its inputs were learnt from the kernel as they changed (status); repair adds <see cref="AnswersAsync"/>, an HTTP round trip that a frozen ttyd fails.
/// </summary>
internal static class SessionHealth
{
    /// <summary>The path repair asks for: ttyd answers it (404, or 401 with credentials), and its log tells it from users' requests.</summary>
    public const string ProbePath = "ttydports-probe";

    /// <summary>
    /// The session's state. <paramref name="isPortListening"/> tells whether something listens on a TCP port. Without
    /// <paramref name="learnt"/> every input is asked of the machine (a few system calls); with it, the inputs the kernel
    /// reports are read from memory instead, the same questions in the same order:
    /// <list type="bullet">
    /// <item>alive: the watch's exit, which the kernel reports (pidfd in an epoll set);</item>
    /// <item>stopped: the watch's state when the kernel reports stops for this process (it is our child); asked otherwise;</item>
    /// <item>listening: taken as proven. The process's own listener accepted before the session was handed out, and ttyd
    /// never closes it while it runs. A socket's path could still be deleted by another party (only
    /// <see cref="RuntimeFolder"/> deletes in the folder, and only for a session that has stopped): reuse and repair
    /// ask without <paramref name="learnt"/>, so such a session is never handed out and repair replaces it; only status
    /// may show it healthy until then.</item>
    /// </list>
    /// </summary>
    public static SessionHealthState Check(TtydSession session, IProcessSupervisor supervisor, Func<int, bool> isPortListening, ProcessWatch? learnt = null)
    {
        if (learnt is null ? !supervisor.IsAlive(session.Process) : learnt.HasExited)
        {
            return SessionHealthState.Gone;
        }

        if (learnt is { ReportsStops: true } ? learnt.IsStopped : supervisor.IsStopped(session.Process))
        {
            return SessionHealthState.Stopped;
        }

        if (learnt is not null)
        {
            return SessionHealthState.Healthy;
        }

        // A socket lives in the runtime folder, where nobody else can put one (RuntimeFolder); a port is probed.
        var listening = session.SocketPath is { } socket ? RuntimeFolder.IsSocket(socket) : isPortListening(session.Port);
        return listening ? SessionHealthState.Healthy : SessionHealthState.NotListening;
    }

    /// <summary>
    /// Whether ttyd answers an HTTP request on its endpoint within <paramref name="timeout"/>. Any status line counts
    /// (a 401 from a ttyd that demands credentials is an answer); silence or a refused connection does not.
    /// </summary>
    public static async Task<bool> AnswersAsync(TtydSession session, IPAddress address, TimeSpan timeout, CancellationToken cancellationToken)
    {
        EndPoint endpoint = session.SocketPath is { } path ? new UnixDomainSocketEndPoint(path)
            : new IPEndPoint(address.Equals(IPAddress.Any) ? IPAddress.Loopback : address.Equals(IPAddress.IPv6Any) ? IPAddress.IPv6Loopback : address, session.Port);
        using var socket = new Socket(endpoint.AddressFamily, SocketType.Stream, endpoint is UnixDomainSocketEndPoint ? ProtocolType.Unspecified : ProtocolType.Tcp);
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        deadline.CancelAfter(timeout);
        try
        {
            await socket.ConnectAsync(endpoint, deadline.Token).ConfigureAwait(false);
            var request = Encoding.ASCII.GetBytes($"GET {session.BasePath}/{ProbePath} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
            await socket.SendAsync(request, SocketFlags.None, deadline.Token).ConfigureAwait(false);
            var buffer = new byte[16];
            var read = 0;
            while (read < 9)
            {
                var n = await socket.ReceiveAsync(buffer.AsMemory(read), SocketFlags.None, deadline.Token).ConfigureAwait(false);
                if (n == 0)
                {
                    break;
                }

                read += n;
            }

            return read >= 9 && buffer.AsSpan(0, 7).SequenceEqual("HTTP/1."u8);
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            return false;
        }
        catch (SocketException)
        {
            return false;
        }
    }
}
