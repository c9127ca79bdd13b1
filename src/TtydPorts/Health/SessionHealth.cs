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
/// calls; repair adds <see cref="AnswersAsync"/>, an HTTP round trip that a frozen ttyd fails.
/// </summary>
internal static class SessionHealth
{
    /// <summary>The path repair asks for: ttyd answers it (404, or 401 with credentials), and its log tells it from users' requests.</summary>
    public const string ProbePath = "ttydports-probe";

    /// <summary>The session's state. <paramref name="isPortListening"/> tells whether something listens on a TCP port.</summary>
    public static SessionHealthState Check(TtydSession session, IProcessSupervisor supervisor, Func<int, bool> isPortListening)
    {
        if (!supervisor.IsAlive(session.Process))
        {
            return SessionHealthState.Gone;
        }

        if (supervisor.IsStopped(session.Process))
        {
            return SessionHealthState.Stopped;
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
