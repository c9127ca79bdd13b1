using System.Collections.Concurrent;
using System.Globalization;
using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;

namespace TtydPorts.Tests;

/// <summary>
/// The engine client's event stream against a TCP engine with TLS both ways, played by a fake engine in the test on
/// loopback: what the client's connections carry, what a subscription asks for and what it answers, and the bound on
/// an engine that does not answer.
/// </summary>
public sealed class EngineEventStreamTests : IAsyncLifetime
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    // 2023-11-14T22:13:20Z: the fake engine's clock in its Date header.
    private const long EngineNow = 1_700_000_000L * 1_000_000_000;

    private readonly DirectoryInfo _certificates = Directory.CreateTempSubdirectory("tp-engine-tls-");
    private FakeEngine _engine = null!;

    public ValueTask InitializeAsync()
    {
        _engine = new FakeEngine(_certificates.FullName);
        return ValueTask.CompletedTask;
    }

    public async ValueTask DisposeAsync()
    {
        await _engine.DisposeAsync();
        _certificates.Delete(recursive: true);
    }

    private EngineEndpoint Endpoint => new()
    {
        Uri = $"tcp://127.0.0.1:{_engine.Port}",
        Host = "127.0.0.1",
        Port = _engine.Port,
        CertificateFolder = _certificates.FullName,
    };

    // Keepalive and TCP_USER_TIMEOUT are what notice a remote engine gone without a reset (Docker sends nothing while
    // idle): read back from the kernel on the connection the client made. The subscription resumes from the time asked
    // (with its margin), and answers first with the engine's time of the subscription, then the events with theirs.
    [Fact]
    public async Task A_TCP_engines_connections_have_keepalive_and_a_user_timeout_and_a_subscription_resumes_from_the_time_asked()
    {
        _engine.OnEvents = async (stream, ct) =>
        {
            await stream.WriteAsync(Encoding.ASCII.GetBytes(
                "HTTP/1.1 200 OK\r\nDate: Tue, 14 Nov 2023 22:13:20 GMT\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"), ct);
            var line = $$$"""{"Type":"container","Action":"destroy","Actor":{"ID":"{{{ManagerHarness.IdOf("gone")}}}","Attributes":{"name":"gone"}},"time":1700000001,"timeNano":1700000001000000042}""" + "\n";
            await stream.WriteAsync(Encoding.ASCII.GetBytes($"{Encoding.UTF8.GetByteCount(line):x}\r\n{line}\r\n"), ct);
            await stream.FlushAsync(ct);
            await Task.Delay(Timeout.Infinite, ct); // then silent, as an idle engine is
        };
        var sockets = new ConcurrentQueue<Socket>();
        using var api = new EngineApiClient(Endpoint, "Docker") { TcpConnected = sockets.Enqueue };

        var events = new List<ContainerEvent>();
        using var watch = CancellationTokenSource.CreateLinkedTokenSource(Ct);
        watch.CancelAfter(TimeSpan.FromSeconds(30));
        await foreach (var change in api.WatchEventsAsync(1_700_000_000_123_456_789, watch.Token))
        {
            events.Add(change);
            if (events.Count == 2)
            {
                break;
            }
        }

        Assert.Equal(
            [new ContainerEvent(ContainerEventKind.Subscribed, "", "") { TimeNano = EngineNow }, new ContainerEvent(ContainerEventKind.Removed, ManagerHarness.IdOf("gone"), "gone") { TimeNano = 1_700_000_001_000_000_042 }],
            events);
        Assert.Contains("&since=1700000000.123455789", Assert.Single(_engine.Requests, r => r.Contains("/events?", StringComparison.Ordinal)), StringComparison.Ordinal);

        Assert.NotEmpty(sockets);
        foreach (var socket in sockets)
        {
            Assert.Equal(1, (int)socket.GetSocketOption(SocketOptionLevel.Socket, SocketOptionName.KeepAlive)!);
            Assert.Equal(15, (int)socket.GetSocketOption(SocketOptionLevel.Tcp, SocketOptionName.TcpKeepAliveTime)!);
            Assert.Equal(5, (int)socket.GetSocketOption(SocketOptionLevel.Tcp, SocketOptionName.TcpKeepAliveInterval)!);
            Assert.Equal(3, (int)socket.GetSocketOption(SocketOptionLevel.Tcp, SocketOptionName.TcpKeepAliveRetryCount)!);
            var userTimeout = new byte[4];
            Assert.Equal(4, socket.GetRawSocketOption(6 /* IPPROTO_TCP */, 18 /* TCP_USER_TIMEOUT */, userTimeout));
            Assert.Equal(30_000, BitConverter.ToInt32(userTimeout));
        }
    }

    // An engine that takes the subscription and never answers it (hung, or something between that answers for it): the
    // stream has no overall timeout, so the answer has a bound of its own, and the follower retries.
    [Fact]
    public async Task An_event_subscription_the_engine_does_not_answer_fails_within_its_bound()
    {
        _engine.OnEvents = (_, ct) => Task.Delay(Timeout.Infinite, ct);
        using var api = new EngineApiClient(Endpoint, "Docker") { SubscribeTimeout = TimeSpan.FromSeconds(1) };

        var error = await Assert.ThrowsAsync<ContainerEngineException>(async () =>
        {
            await foreach (var _ in api.WatchEventsAsync(null, Ct).WithCancellation(Ct))
            {
            }
        }).WaitAsync(TimeSpan.FromSeconds(30), Ct);

        Assert.Contains("did not answer the event subscription within 00:00:01", error.Message, StringComparison.Ordinal);
    }

    /// <summary>
    /// An engine on 127.0.0.1 with a certificate of a CA of its own (written with our client certificate as
    /// <c>DOCKER_CERT_PATH</c> has them): answers <c>/version</c>, and hands each event subscription to <see cref="OnEvents"/>.
    /// </summary>
    private sealed class FakeEngine : IAsyncDisposable
    {
        private readonly TcpListener _listener = new(IPAddress.Loopback, 0);
        private readonly X509Certificate2 _certificate;
        private readonly CancellationTokenSource _stop = new();
        private readonly Task _accepting;

        public FakeEngine(string certificateFolder)
        {
            var now = DateTimeOffset.UtcNow;
            using var caKey = ECDsa.Create(ECCurve.NamedCurves.nistP256);
            var caRequest = new CertificateRequest("CN=ttydports test engine CA", caKey, HashAlgorithmName.SHA256);
            caRequest.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, false, 0, true));
            caRequest.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign, true));
            using var ca = caRequest.CreateSelfSigned(now.AddHours(-1), now.AddDays(1));

            X509Certificate2 Issue(string name, string usage, byte serial)
            {
                using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
                var request = new CertificateRequest($"CN={name}", key, HashAlgorithmName.SHA256);
                var san = new SubjectAlternativeNameBuilder();
                san.AddIpAddress(IPAddress.Loopback);
                request.CertificateExtensions.Add(san.Build());
                request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([new Oid(usage)], false));
                using var issued = request.Create(ca, now.AddHours(-1), now.AddDays(1), [serial]);
                return issued.CopyWithPrivateKey(key);
            }

            _certificate = Issue("127.0.0.1", "1.3.6.1.5.5.7.3.1", 1);
            using var client = Issue("client", "1.3.6.1.5.5.7.3.2", 2);
            File.WriteAllText(Path.Combine(certificateFolder, "ca.pem"), ca.ExportCertificatePem());
            File.WriteAllText(Path.Combine(certificateFolder, "cert.pem"), client.ExportCertificatePem());
            using var clientKey = client.GetECDsaPrivateKey()!;
            File.WriteAllText(Path.Combine(certificateFolder, "key.pem"), clientKey.ExportPkcs8PrivateKeyPem());

            _listener.Start();
            _accepting = AcceptAsync();
        }

        public int Port => ((IPEndPoint)_listener.LocalEndpoint).Port;

        /// <summary>Each request's target, as received.</summary>
        public ConcurrentQueue<string> Requests { get; } = new();

        /// <summary>Answers an event subscription on the connection's TLS stream (headers included).</summary>
        public Func<Stream, CancellationToken, Task> OnEvents { get; set; } = (_, _) => Task.CompletedTask;

        private async Task AcceptAsync()
        {
            var connections = new List<Task>();
            try
            {
                while (true)
                {
                    var client = await _listener.AcceptTcpClientAsync(_stop.Token);
                    connections.Add(ServeAsync(client));
                }
            }
            catch (Exception e) when (e is OperationCanceledException or SocketException or ObjectDisposedException)
            {
            }

            await Task.WhenAll(connections);
        }

        private async Task ServeAsync(TcpClient client)
        {
            using (client)
            {
                try
                {
                    await using var tls = new SslStream(client.GetStream());
                    await tls.AuthenticateAsServerAsync(new SslServerAuthenticationOptions
                    {
                        ServerCertificate = _certificate,
                        ClientCertificateRequired = true,
                        RemoteCertificateValidationCallback = (_, certificate, _, _) => certificate is not null,
                    }, _stop.Token);
                    while (await ReadRequestTargetAsync(tls, _stop.Token) is { } target)
                    {
                        Requests.Enqueue(target);
                        if (target.Contains("/events?", StringComparison.Ordinal))
                        {
                            await OnEvents(tls, _stop.Token);
                            return;
                        }

                        var body = target == "/version" ? """{"ApiVersion":"1.41"}""" : "{}";
                        await tls.WriteAsync(Encoding.ASCII.GetBytes(
                            $"HTTP/1.1 {(target == "/version" ? "200 OK" : "404 Not Found")}\r\nContent-Type: application/json\r\nContent-Length: {body.Length}\r\n\r\n{body}"), _stop.Token);
                        await tls.FlushAsync(_stop.Token);
                    }
                }
                catch (Exception e) when (e is OperationCanceledException or IOException or System.Security.Authentication.AuthenticationException)
                {
                    // the test is over, or the client went away
                }
            }
        }

        // The target of the next request (a GET: no body), or null when the client closed the connection.
        private static async Task<string?> ReadRequestTargetAsync(Stream stream, CancellationToken cancellationToken)
        {
            var head = new StringBuilder();
            var one = new byte[1];
            while (!head.ToString().EndsWith("\r\n\r\n", StringComparison.Ordinal))
            {
                if (await stream.ReadAsync(one, cancellationToken) == 0)
                {
                    return null;
                }

                head.Append((char)one[0]);
            }

            return head.ToString().Split(' ')[1];
        }

        public async ValueTask DisposeAsync()
        {
            await _stop.CancelAsync();
            _listener.Stop();
            await _accepting;
            _certificate.Dispose();
            _stop.Dispose();
        }
    }
}

/// <summary>What the engine client says when a Unix-socket engine is not there at all.</summary>
public sealed class EngineSocketMissingTests
{
    [Fact]
    public async Task An_engine_socket_that_does_not_exist_is_named_as_missing_rather_than_as_an_address_error()
    {
        var socket = Path.Combine(Path.GetTempPath(), "tp-no-engine-" + Guid.NewGuid().ToString("N")[..8] + ".sock");
        using var api = new EngineApiClient(new EngineEndpoint { Uri = "unix://" + socket, SocketPath = socket }, "Docker");

        var error = await Assert.ThrowsAsync<ContainerEngineException>(() => api.GetContainerAsync("r1", TestContext.Current.CancellationToken));

        Assert.Equal($"The Docker engine at unix://{socket} did not answer: its socket '{socket}' does not exist (is the engine running?).", error.Message);
    }
}
