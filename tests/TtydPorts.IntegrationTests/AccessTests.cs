using System.Net;
using System.Net.WebSockets;

namespace TtydPorts.IntegrationTests;

[Collection(RealPartsCollection.Name)]
public sealed class AccessTests(ContainerLab lab)
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;


    /// <summary>
    /// One request on a connection of its own: after a 401 ttyd (libwebsockets) reads nothing more on that connection and
    /// resets it 5 s later, without saying so, so a client that reuses it loses its next request.
    /// </summary>
    private static async Task<HttpStatusCode> GetAsync(string? socketPath, Uri uri, TtydCredential? credential)
    {
        using var http = new HttpClient(socketPath is null ? new SocketsHttpHandler() : TtydClient.UnixSocketHandler(socketPath));
        using var request = new HttpRequestMessage(HttpMethod.Get, uri);
        if (credential is not null)
        {
            request.Headers.TryAddWithoutValidation("Authorization", credential.AuthorizationHeaderValue);
        }

        using var response = await http.SendAsync(request, Ct);
        return response.StatusCode;
    }

    [Fact]
    public async Task In_socket_mode_ttyd_listens_on_no_port_in_a_private_folder_and_refuses_clients_without_the_secret()
    {
        var container = lab.StartContainer();
        await using var sut = new ManagerUnderTest(18300, 18304, o => (o.ListenMode, o.BasePath, o.CheckOrigin) = (TtydListenMode.UnixSocket, "/terminals", true));

        var session = await sut.Manager.EnsureSessionAsync(container, "alice", null, Ct);

        Assert.NotNull(session!.SocketPath);
        Assert.Equal(0, session.Port);
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute, File.GetUnixFileMode(Path.GetDirectoryName(session.SocketPath)!));
        Assert.Equal(0, sut.Ports.ReservedCount);
        Assert.Throws<InvalidOperationException>(() => session.GetUrl());
        var page = new Uri($"http://localhost/terminals/{container}/");
        Assert.Equal(HttpStatusCode.Unauthorized, await GetAsync(session.SocketPath, page, null));
        Assert.Equal(HttpStatusCode.Unauthorized, await GetAsync(session.SocketPath, page, new TtydCredential("ttydports", "guess")));
        Assert.Equal(HttpStatusCode.OK, await GetAsync(session.SocketPath, page, session.Credential));

        var ws = new Uri($"ws://localhost/terminals/{container}/ws");
        await Assert.ThrowsAsync<WebSocketException>(() => TtydClient.ConnectAsync(ws, null, session.SocketPath, "http://localhost", Ct));
        await using var client = await TtydClient.ConnectAsync(ws, session.Credential, session.SocketPath, "http://localhost", Ct);
        await client.TypeAsync("echo via-socket-$((2*21))\r", Ct);
        await client.WaitForAsync("via-socket-42", Poll.Within(30));
    }

    [Fact]
    public async Task By_default_a_websocket_from_another_origin_is_refused_even_with_the_credential()
    {
        var container = lab.StartContainer();
        await using var sut = new ManagerUnderTest(18305, 18309);
        var session = await sut.Manager.EnsureSessionAsync(container, "alice", null, Ct);
        var ws = new Uri($"ws://127.0.0.1:{session!.Port}/ws");

        await Assert.ThrowsAsync<WebSocketException>(() => TtydClient.ConnectAsync(ws, session.Credential, null, "http://evil.example", Ct));
        await Assert.ThrowsAsync<WebSocketException>(() => TtydClient.ConnectAsync(ws, null, null, $"http://127.0.0.1:{session.Port}", Ct));
        await using var client = await TtydClient.ConnectAsync(ws, session.Credential, null, $"http://127.0.0.1:{session.Port}", Ct);
        await client.TypeAsync("echo same-origin\r", Ct);
        await client.WaitForAsync("same-origin", Poll.Within(30));
    }

    [Fact]
    public async Task Remote_access_is_an_explicit_opt_in_and_then_every_session_demands_its_own_credential()
    {
        var container = lab.StartContainer();
        var other = lab.StartContainer();
        await using var sut = new ManagerUnderTest(18310, 18314, o => (o.BindAddress, o.AllowRemoteAccess) = ("0.0.0.0", true));

        var session = await sut.Manager.EnsureSessionAsync(container, "alice", null, Ct);
        var second = await sut.Manager.EnsureSessionAsync(other, "alice", null, Ct);

        Assert.NotNull(session!.Credential);
        Assert.NotEqual(session.Credential.Password, second!.Credential!.Password);
        Assert.DoesNotContain(session.Credential.Password, session.ToString(), StringComparison.Ordinal);
        var page = new Uri($"http://127.0.0.1:{session.Port}/");
        Assert.Equal(HttpStatusCode.Unauthorized, await GetAsync(null, page, null));
        Assert.Equal(HttpStatusCode.Unauthorized, await GetAsync(null, page, second.Credential));
        Assert.Equal(HttpStatusCode.OK, await GetAsync(null, page, session.Credential));
    }

    [Fact]
    public async Task A_fifth_concurrent_client_of_a_terminal_is_refused_at_the_handshake_while_four_work()
    {
        var container = lab.StartContainer();
        await using var sut = new ManagerUnderTest(18315, 18319);
        var session = await sut.Manager.EnsureSessionAsync(container, "alice", null, Ct);
        var page = session!.GetUrl();
        var clients = new List<TtydClient>();
        try
        {
            for (var i = 0; i < 4; i++)
            {
                var client = await TtydClient.ConnectAsync(page, Ct);
                clients.Add(client);
                await client.TypeAsync($"echo client-$((40+{i}))\r", Ct);
                await client.WaitForAsync($"client-{40 + i}", Poll.Within(30));
            }

            // The fifth gets no 101: ttyd drops the connection during the handshake, and starts no shell for it.
            var refused = await Assert.ThrowsAsync<WebSocketException>(() => TtydClient.ConnectAsync(page, Ct));
            Assert.Equal(WebSocketError.Faulted, refused.WebSocketErrorCode);
            Assert.Equal(4, ChildrenOf(session.ProcessId));

            // A slot freed by a client that leaves is taken by the next one.
            await clients[0].DisposeAsync();
            clients.RemoveAt(0);
            await Poll.UntilAsync(() => ChildrenOf(session.ProcessId) == 3, Poll.Within(30));
            var next = await TtydClient.ConnectAsync(page, Ct);
            clients.Add(next);
            await next.TypeAsync("echo fifth-$((6*7))\r", Ct);
            await next.WaitForAsync("fifth-42", Poll.Within(30));
        }
        finally
        {
            foreach (var client in clients)
            {
                await client.DisposeAsync();
            }
        }
    }

    // ttyd forks one child per connected terminal client.
    private static int ChildrenOf(int pid) => LiveProcesses.Children(pid).Count;
}
