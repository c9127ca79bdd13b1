using System.Net;
using System.Net.Sockets;
using TtydPorts.IntegrationTests;

namespace TtydPorts.AspNetCore.Tests;

/// <summary>The proxy forwards only to the session's own ttyd: a listener put in place of its socket gets nothing.</summary>
[System.Runtime.Versioning.SupportedOSPlatform("linux")]
[Collection(RealHostsCollection.Name)]
public sealed class SocketPeerTests(ProxyContainers containers) : IClassFixture<ProxyContainers>
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task A_listener_swapped_in_for_the_session_socket_receives_no_request_and_no_credential()
    {
        var swapped = containers.Start();
        var untouched = containers.Start();
        await using var host = await ProxyHost.StartAsync();
        var session = await host.Manager.EnsureSessionAsync(swapped, "alice", null, Ct);
        await host.Manager.EnsureSessionAsync(untouched, "alice", null, Ct);
        using var alice = await host.ClientAsync("alice");

        // What someone who could rename the folder would do: their own listener at the session's socket path. (Here the
        // test's own process; the proxy must tell it from the session's ttyd all the same.)
        File.Delete(session!.SocketPath!);
        using var impostor = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        impostor.Bind(new UnixDomainSocketEndPoint(session.SocketPath!));
        impostor.Listen();
        var received = ReadFirstConnectionAsync(impostor);
        try
        {
            using var refused = await alice.Http.GetAsync($"/terminals/{swapped}/", Ct);
            using var served = await alice.Http.GetAsync($"/terminals/{untouched}/", Ct);

            Assert.Equal(HttpStatusCode.BadGateway, refused.StatusCode);
            Assert.Equal(HttpStatusCode.OK, served.StatusCode); // positive control: the proxy serves real ttyd sockets
            Assert.Equal("", await received.WaitAsync(TimeSpan.FromSeconds(10), Ct)); // connected, then closed unheard
        }
        finally
        {
            File.Delete(session.SocketPath!);
        }
    }

    private static async Task<string> ReadFirstConnectionAsync(Socket listener)
    {
        using var connection = await listener.AcceptAsync();
        var buffer = new byte[4096];
        var text = new System.Text.StringBuilder();
        int read;
        while ((read = await connection.ReceiveAsync(buffer)) > 0)
        {
            text.Append(System.Text.Encoding.ASCII.GetString(buffer, 0, read));
        }

        return text.ToString();
    }
}
