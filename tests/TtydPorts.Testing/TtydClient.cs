using System.Net.WebSockets;
using System.Text;

namespace TtydPorts.IntegrationTests;

/// <summary>A minimal client of ttyd's WebSocket protocol: subprotocol <c>tty</c>, a JSON hello, then '0'-prefixed input and output.</summary>
public sealed class TtydClient : IAsyncDisposable
{
    private readonly ClientWebSocket _socket = new();
    private readonly StringBuilder _screen = new();
    private bool _midMessage;
    private bool _outputMessage;

    /// <summary>
    /// Opens the terminal of a page URL as <see cref="TtydSession.GetUrl"/> gives it, as ttyd's page would: the credential the
    /// URL carries (user info), the page's own origin.
    /// </summary>
    public static Task<TtydClient> ConnectAsync(Uri page, CancellationToken cancellationToken)
    {
        var credential = page.UserInfo.Split(':', 2) is [{ Length: > 0 } user, var password]
            ? new TtydCredential(Uri.UnescapeDataString(user), Uri.UnescapeDataString(password))
            : null;
        return ConnectAsync(new Uri($"ws://{page.Authority}{page.AbsolutePath.TrimEnd('/')}/ws"), credential, null, $"{page.Scheme}://{page.Authority}", cancellationToken);
    }

    /// <summary>Opens a terminal over TCP or, with <paramref name="socketPath"/>, over ttyd's Unix socket.</summary>
    public static async Task<TtydClient> ConnectAsync(Uri ws, TtydCredential? credential, string? socketPath, string? origin, CancellationToken cancellationToken)
    {
        var client = new TtydClient();
        client._socket.Options.AddSubProtocol("tty");
        if (credential is not null)
        {
            client._socket.Options.SetRequestHeader("Authorization", credential.AuthorizationHeaderValue);
        }

        if (origin is not null)
        {
            client._socket.Options.SetRequestHeader("Origin", origin);
        }

        if (socketPath is null)
        {
            await client._socket.ConnectAsync(ws, cancellationToken);
        }
        else
        {
            using var handler = UnixSocketHandler(socketPath);
            using var invoker = new HttpMessageInvoker(handler);
            await client._socket.ConnectAsync(ws, invoker, cancellationToken);
        }

        var token = credential is null ? "" : Convert.ToBase64String(Encoding.UTF8.GetBytes($"{credential.UserName}:{credential.Password}"));
        await client.SendAsync($"{{\"AuthToken\":\"{token}\",\"columns\":80,\"rows\":24}}", cancellationToken);
        return client;
    }

    public static SocketsHttpHandler UnixSocketHandler(string socketPath) => new()
    {
        ConnectCallback = async (_, ct) =>
        {
            var socket = new System.Net.Sockets.Socket(System.Net.Sockets.AddressFamily.Unix, System.Net.Sockets.SocketType.Stream, System.Net.Sockets.ProtocolType.Unspecified);
            await socket.ConnectAsync(new System.Net.Sockets.UnixDomainSocketEndPoint(socketPath), ct);
            return new System.Net.Sockets.NetworkStream(socket, ownsSocket: true);
        },
    };

    public string Screen => _screen.ToString();

    public Task TypeAsync(string text, CancellationToken cancellationToken) => SendAsync("0" + text, cancellationToken);

    /// <summary>Resizes the terminal as ttyd's page does when its window changes: <c>'1'</c> and the new size as JSON.</summary>
    public Task ResizeAsync(int columns, int rows, CancellationToken cancellationToken) =>
        SendAsync($"1{{\"columns\":{columns},\"rows\":{rows}}}", cancellationToken);

    private Task SendAsync(string text, CancellationToken cancellationToken) =>
        _socket.SendAsync(Encoding.UTF8.GetBytes(text), WebSocketMessageType.Binary, true, cancellationToken);

    /// <summary>Reads output frames until the screen contains <paramref name="expected"/> (the token bounds the wait).</summary>
    public async Task WaitForAsync(string expected, CancellationToken cancellationToken)
    {
        var buffer = new byte[8192];
        while (!_screen.ToString().Contains(expected, StringComparison.Ordinal))
        {
            var result = await _socket.ReceiveAsync(buffer, cancellationToken);
            if (result.MessageType == WebSocketMessageType.Close)
            {
                throw new InvalidOperationException($"ttyd closed the connection before '{expected}' appeared. Screen: {_screen}");
            }

            // A message longer than the buffer comes in parts: only its first part starts with the command byte.
            var continuation = _midMessage;
            _midMessage = !result.EndOfMessage;
            if (continuation ? _outputMessage : (_outputMessage = result.Count > 0 && buffer[0] == (byte)'0'))
            {
                var skip = continuation ? 0 : 1;
                _screen.Append(Encoding.UTF8.GetString(buffer, skip, result.Count - skip));
            }
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (_socket.State == WebSocketState.Open)
        {
            try
            {
                using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(2));
                await _socket.CloseAsync(WebSocketCloseStatus.NormalClosure, "done", cts.Token);
            }
            catch (Exception e) when (e is WebSocketException or OperationCanceledException)
            {
            }
        }

        _socket.Dispose();
    }
}
