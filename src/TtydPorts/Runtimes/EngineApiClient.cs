using System.Net;
using System.Net.Http.Json;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Authentication;
using System.Security.Cryptography.X509Certificates;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace TtydPorts;

/// <summary>
/// The Docker Engine HTTP API, as Docker serves it and as Podman's compatible service does, over a Unix socket or over
/// TCP with TLS verified both ways. The API version is negotiated with the engine (<c>GET /version</c>), since current
/// engines refuse clients older than 1.44 and older engines (20.10 speaks 1.41) refuse newer ones.
/// </summary>
internal sealed class EngineApiClient : IDisposable
{
    private readonly Lazy<(HttpClient Calls, HttpClient Events)> _clients;
    private readonly string _name;
    private string? _apiPrefix;

    /// <summary>Creates the client. Nothing is read or connected until the first call.</summary>
    public EngineApiClient(EngineEndpoint endpoint, string runtimeName)
    {
        ArgumentNullException.ThrowIfNull(endpoint);
        Endpoint = endpoint;
        _name = $"The {runtimeName} engine at {endpoint.Uri}";

        // The TLS files are read at the first call, not here: a failure is then a ContainerEngineException of that call
        // (naming the files), retried at the next one rather than remembered.
        _clients = new Lazy<(HttpClient, HttpClient)>(CreateClients, LazyThreadSafetyMode.PublicationOnly);
    }

    public EngineEndpoint Endpoint { get; }

    /// <summary>How long an event subscription may wait for the engine's answer (tests shorten it).</summary>
    internal TimeSpan SubscribeTimeout { get; init; } = EngineLiveness.SubscribeTimeout;

    /// <summary>Called with each new TCP connection's socket once it is connected (tests read its options).</summary>
    internal Action<Socket>? TcpConnected { get; init; }

    private int _eventWatches;

    /// <summary>How many event watches the engine has accepted (a test waits for one before it changes a container).</summary>
    internal int EventWatches => Volatile.Read(ref _eventWatches);
    private int _disposed;

    private HttpClient Http => _clients.Value.Calls;

    private (HttpClient Calls, HttpClient Events) CreateClients()
    {
        var endpoint = Endpoint;

        // Podman's service closes idle connections after twice its --time (5 s by default, so 10 s): a call sent just as the
        // service closes its connection would be reset, so the pool lets connections go before that. The connect is bounded
        // for the event stream too, which has no overall timeout.
        var handler = new SocketsHttpHandler { PooledConnectionIdleTimeout = TimeSpan.FromSeconds(4), ConnectTimeout = EngineLiveness.ConnectTimeout };
        Uri baseAddress;
        if (endpoint.SocketPath is { } socketPath)
        {
            handler.ConnectCallback = async (_, cancellationToken) =>
            {
                var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
                try
                {
                    await socket.ConnectAsync(new UnixDomainSocketEndPoint(socketPath), cancellationToken).ConfigureAwait(false);
                    return new NetworkStream(socket, ownsSocket: true);
                }
                catch
                {
                    socket.Dispose();
                    throw;
                }
            };
            baseAddress = new Uri("http://engine/");
        }
        else
        {
            // As the handler connects by itself (a dual-mode socket, each address in turn, no Nagle), with keepalive and a
            // user timeout: a remote engine that goes away without a reset is noticed (EngineLiveness).
            var connected = TcpConnected;
            handler.ConnectCallback = async (context, cancellationToken) =>
            {
                var socket = new Socket(SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
                try
                {
                    EngineLiveness.Configure(socket);
                    await socket.ConnectAsync(context.DnsEndPoint, cancellationToken).ConfigureAwait(false);
                    connected?.Invoke(socket);
                    return new NetworkStream(socket, ownsSocket: true);
                }
                catch
                {
                    socket.Dispose();
                    throw;
                }
            };
            handler.SslOptions = TlsOptions(endpoint);
            baseAddress = new UriBuilder("https", endpoint.Host, endpoint.Port).Uri;
        }

        return (new HttpClient(handler, disposeHandler: false) { BaseAddress = baseAddress, Timeout = TimeSpan.FromSeconds(15) },
            new HttpClient(handler) { BaseAddress = baseAddress, Timeout = Timeout.InfiniteTimeSpan });
    }

    /// <summary>The container named <paramref name="name"/>, or <see langword="null"/>.</summary>
    public async Task<ContainerInfo?> GetContainerAsync(string name, CancellationToken cancellationToken)
    {
        SessionIds.ThrowIfInvalidContainerName(name, nameof(name));
        var prefix = await GetApiPrefixAsync(cancellationToken).ConfigureAwait(false);
        using var response = await SendAsync(HttpMethod.Get, $"{prefix}/containers/{name}/json", null, cancellationToken).ConfigureAwait(false);
        if (response.StatusCode == HttpStatusCode.NotFound)
        {
            return null;
        }

        var inspect = await ReadAsync(response, EngineJson.Default.ContainerInspect, cancellationToken).ConfigureAwait(false);
        var found = new ContainerInfo { Id = inspect.Id, Name = inspect.Name.TrimStart('/'), State = inspect.State?.Status ?? "unknown", Labels = inspect.Config?.Labels ?? [] };

        // The engine also resolves id prefixes; a terminal is only ever for the container of that exact name.
        return string.Equals(found.Name, name, StringComparison.Ordinal) ? found : null;
    }

    public async Task<IReadOnlyList<ContainerInfo>> ListContainersAsync(CancellationToken cancellationToken)
    {
        var prefix = await GetApiPrefixAsync(cancellationToken).ConfigureAwait(false);
        using var response = await SendAsync(HttpMethod.Get, $"{prefix}/containers/json?all=1", null, cancellationToken).ConfigureAwait(false);
        var list = await ReadAsync(response, EngineJson.Default.ListContainerArray, cancellationToken).ConfigureAwait(false);
        return [.. list.Select(c => new ContainerInfo { Id = c.Id, Name = (c.Names?.FirstOrDefault() ?? c.Id).TrimStart('/'), State = c.State ?? "unknown", Labels = c.Labels ?? [] })];
    }

    /// <summary>Containers as the engine destroys them, until cancelled.</summary>
    public async IAsyncEnumerable<ContainerInfo> WatchRemovedContainersAsync([System.Runtime.CompilerServices.EnumeratorCancellation] CancellationToken cancellationToken)
    {
        await foreach (var e in WatchEventsAsync(null, cancellationToken).ConfigureAwait(false))
        {
            if (e.Kind == ContainerEventKind.Removed)
            {
                yield return new ContainerInfo { Id = e.Id, Name = e.Name, State = "destroyed", Labels = new Dictionary<string, string>() };
            }
        }
    }

    // Docker says "destroy" when a container is removed; Podman's compatible service says "remove". Podman 4 filters on
    // its own name for a death ("died") and reports it as "die"; Docker ignores names it does not know. A rename is
    // reported by id and the new name (Podman does not give the old one).
    private static readonly string EventFilter = Uri.EscapeDataString(
        "{\"type\":[\"container\"],\"event\":[\"destroy\",\"remove\",\"start\",\"unpause\",\"rename\",\"die\",\"died\",\"stop\",\"pause\"]}");

    /// <summary>
    /// What the engine reports about its containers until cancelled: removals, starts, renames, stops and pauses, each as
    /// the kind of change, the id and the container's name at that moment, and its time. First a
    /// <see cref="ContainerEventKind.Subscribed"/> with the engine's time of the subscription, where a later one can resume.
    /// </summary>
    /// <param name="since">Also what happened from this time on (Unix nanoseconds, the engine's clock), before the stream
    /// goes on: a subscription that resumes after the last event or subscription seen loses nothing in between.</param>
    /// <param name="cancellationToken">Ends the stream.</param>
    public async IAsyncEnumerable<ContainerEvent> WatchEventsAsync(long? since, [System.Runtime.CompilerServices.EnumeratorCancellation] CancellationToken cancellationToken)
    {
        var prefix = await GetApiPrefixAsync(cancellationToken).ConfigureAwait(false);
        var from = since is { } resume ? "&since=" + EngineLiveness.Since(resume) : "";
        using var request = new HttpRequestMessage(HttpMethod.Get, $"{prefix}/events?filters={EventFilter}{from}");
        HttpResponseMessage response;
        using (var answer = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken))
        {
            // The stream stays open for as long as we watch, so the client has no overall timeout; the answer is bounded.
            answer.CancelAfter(SubscribeTimeout);
            try
            {
                response = await _clients.Value.Events.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, answer.Token).ConfigureAwait(false);
            }
            catch (Exception e) when (e is HttpRequestException or SocketException)
            {
                _apiPrefix = null;
                throw Unreachable(e);
            }
            catch (OperationCanceledException e) when (!cancellationToken.IsCancellationRequested)
            {
                _apiPrefix = null;
                throw new ContainerEngineException($"{_name} did not answer the event subscription within {SubscribeTimeout}.", e);
            }
        }

        using (response)
        {
            if (!response.IsSuccessStatusCode)
            {
                throw new ContainerEngineException($"{_name} answered {(int)response.StatusCode} to the event stream.");
            }

            Interlocked.Increment(ref _eventWatches);

            // The engine's clock (HTTP's Date, whole seconds, written before the subscription takes effect): no event reported
            // after the subscription is older, so a later one that resumes from here loses none of them.
            yield return new ContainerEvent(ContainerEventKind.Subscribed, "", "")
            {
                TimeNano = response.Headers.Date is { } date ? (date - DateTimeOffset.UnixEpoch).Ticks * 100 : 0,
            };

            var stream = await response.Content.ReadAsStreamAsync(cancellationToken).ConfigureAwait(false);
            using var reader = new StreamReader(stream);
            while (true)
            {
                string? line;
                try
                {
                    line = await reader.ReadLineAsync(cancellationToken).ConfigureAwait(false);
                }
                catch (IOException e)
                {
                    throw new ContainerEngineException($"The event stream of {_name[4..]} broke: {e.Message}", e);
                }

                if (line is null)
                {
                    throw new ContainerEngineException($"{_name} closed its event stream.");
                }

                if (Parse(line) is { } change)
                {
                    yield return change;
                }
            }
        }
    }

    // One line of the stream; a line that is not an event we follow (or not JSON at all) is skipped, not the stream's end.
    private static ContainerEvent? Parse(string line)
    {
        try
        {
            return line.Length > 0 && JsonSerializer.Deserialize(line, EngineJson.Default.EngineEvent) is { Action: { } action, Actor: { Id: { } id, Attributes: { } attributes } } e
                && attributes.TryGetValue("name", out var name) && KindOf(action) is { } kind
                ? new ContainerEvent(kind, id, name.TrimStart('/')) { TimeNano = e.TimeNano ?? (e.Time * 1_000_000_000 ?? 0) }
                : null;
        }
        catch (JsonException)
        {
            return null;
        }
    }

    private static ContainerEventKind? KindOf(string action) => action switch
    {
        "destroy" or "remove" => ContainerEventKind.Removed,
        "start" or "unpause" or "rename" => ContainerEventKind.Running,
        "die" or "died" or "stop" or "pause" => ContainerEventKind.Stopped,
        _ => null,
    };

    /// <summary>
    /// How many execs of the container the engine is starting right now: their start was asked (running) and their process
    /// does not exist yet (no pid) or, where <paramref name="stillStarting"/> can tell by the pid, has not yet become the
    /// command (the runtime's init still sets it up). A client killed meanwhile does not stop it: the command runs once the
    /// engine is done. A container that is gone has none.
    /// </summary>
    public async Task<int> CountExecsStartingAsync(string containerId, Func<int, bool>? stillStarting, CancellationToken cancellationToken)
    {
        var prefix = await GetApiPrefixAsync(cancellationToken).ConfigureAwait(false);
        string[] execs;
        using (var response = await SendAsync(HttpMethod.Get, $"{prefix}/containers/{containerId}/json", null, cancellationToken).ConfigureAwait(false))
        {
            if (response.StatusCode == HttpStatusCode.NotFound)
            {
                return 0;
            }

            execs = (await ReadAsync(response, EngineJson.Default.ContainerInspect, cancellationToken).ConfigureAwait(false)).ExecIDs ?? [];
        }

        var starting = 0;
        foreach (var id in execs.Where(SessionIds.IsValidContainerId)) // the engine's ids are 64 hex digits, as a container's
        {
            using var response = await SendAsync(HttpMethod.Get, $"{prefix}/exec/{id}/json", null, cancellationToken).ConfigureAwait(false);
            if (response.StatusCode != HttpStatusCode.NotFound
                && await ReadAsync(response, EngineJson.Default.ExecInspect, cancellationToken).ConfigureAwait(false) is { Running: true } exec
                && (exec.Pid == 0 || stillStarting?.Invoke(exec.Pid) == true))
            {
                starting++;
            }
        }

        return starting;
    }

    /// <summary>
    /// Runs <paramref name="command"/> in the container through the engine's exec API (no terminal), as
    /// <paramref name="user"/>, waits for it and returns its exit code and output. The process is the engine's, inside the
    /// container, with the container's confinement; nothing runs on this machine.
    /// </summary>
    public async Task<(int ExitCode, string Output)> RunAsync(string containerId, IReadOnlyList<string> command, string? user, CancellationToken cancellationToken)
    {
        var prefix = await GetApiPrefixAsync(cancellationToken).ConfigureAwait(false);
        var create = new ExecCreate { Cmd = [.. command], User = user, AttachStdout = true, AttachStderr = true };
        string id;
        using (var created = await SendAsync(HttpMethod.Post, $"{prefix}/containers/{containerId}/exec", JsonContent.Create(create, EngineJson.Default.ExecCreate), cancellationToken).ConfigureAwait(false))
        {
            id = (await ReadAsync(created, EngineJson.Default.IdResponse, cancellationToken).ConfigureAwait(false)).Id;
        }

        string output;
        using (var started = await SendAsync(HttpMethod.Post, $"{prefix}/exec/{id}/start", JsonContent.Create(new ExecStart(), EngineJson.Default.ExecStart), cancellationToken).ConfigureAwait(false))
        {
            if (!started.IsSuccessStatusCode)
            {
                await ReadAsync(started, EngineJson.Default.IdResponse, cancellationToken).ConfigureAwait(false);
            }

            // Without a terminal the engine multiplexes stdout and stderr in 8-byte-headed frames; the body ends with the process.
            output = Demultiplex(await started.Content.ReadAsByteArrayAsync(cancellationToken).ConfigureAwait(false));
        }

        using var inspected = await SendAsync(HttpMethod.Get, $"{prefix}/exec/{id}/json", null, cancellationToken).ConfigureAwait(false);
        var state = await ReadAsync(inspected, EngineJson.Default.ExecInspect, cancellationToken).ConfigureAwait(false);
        return (state.ExitCode ?? -1, output);
    }

    private static string Demultiplex(byte[] body)
    {
        var text = new System.Text.StringBuilder();
        var offset = 0;
        while (offset + 8 <= body.Length && body[offset] <= 2)
        {
            var length = (body[offset + 4] << 24) | (body[offset + 5] << 16) | (body[offset + 6] << 8) | body[offset + 7];
            if (length < 0 || offset + 8 + length > body.Length)
            {
                break;
            }

            text.Append(System.Text.Encoding.UTF8.GetString(body, offset + 8, length));
            offset += 8 + length;
        }

        return offset == 0 && body.Length > 0 ? System.Text.Encoding.UTF8.GetString(body) : text.ToString();
    }

    private async Task<string> GetApiPrefixAsync(CancellationToken cancellationToken)
    {
        if (_apiPrefix is { } known)
        {
            return known;
        }

        using var response = await SendAsync(HttpMethod.Get, "version", null, cancellationToken).ConfigureAwait(false);
        var version = await ReadAsync(response, EngineJson.Default.EngineVersion, cancellationToken).ConfigureAwait(false);
        return _apiPrefix = $"v{version.ApiVersion}";
    }

    private async Task<HttpResponseMessage> SendAsync(HttpMethod method, string path, HttpContent? content, CancellationToken cancellationToken)
    {
        using var request = new HttpRequestMessage(method, path) { Content = content };
        try
        {
            return await Http.SendAsync(request, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception e) when (e is HttpRequestException or SocketException or TaskCanceledException && !cancellationToken.IsCancellationRequested)
        {
            _apiPrefix = null;
            throw Unreachable(e);
        }
    }

    private ContainerEngineException Unreachable(Exception e)
    {
        // A refused or untrusted TLS handshake is a configuration error, not an engine that is down: say which files.
        var tls = e.InnerException as AuthenticationException ?? e as AuthenticationException ?? e.InnerException?.InnerException as AuthenticationException;
        return tls is not null || (Endpoint.CertificateFolder is not null && e.InnerException is IOException)
            ? new ContainerEngineException(
                $"{_name} refused the TLS connection or could not be verified with the certificates in {SessionIds.Quote(Endpoint.CertificateFolder)} " +
                $"(ca.pem must have signed the engine's certificate for {Endpoint.Host}, and the engine must trust cert.pem): {(tls ?? e).Message}", e)
            : Endpoint.SocketPath is { } socket && Native.LStat(socket) is null
                // connect(2) says ENOENT, which .NET words as "Cannot assign requested address": name the missing socket instead.
                ? new ContainerEngineException($"{_name} did not answer: its socket {SessionIds.Quote(socket)} does not exist (is the engine running?).", e)
                : new ContainerEngineException($"{_name} did not answer: {e.Message}", e);
    }

    private async Task<T> ReadAsync<T>(HttpResponseMessage response, System.Text.Json.Serialization.Metadata.JsonTypeInfo<T> type, CancellationToken cancellationToken)
    {
        if (!response.IsSuccessStatusCode)
        {
            var body = await response.Content.ReadAsStringAsync(cancellationToken).ConfigureAwait(false);
            throw new ContainerEngineException($"{_name} answered {(int)response.StatusCode} to {response.RequestMessage?.RequestUri?.AbsolutePath}: {body.Trim()}");
        }

        try
        {
            return await response.Content.ReadFromJsonAsync(type, cancellationToken).ConfigureAwait(false)
                ?? throw new ContainerEngineException($"{_name} sent an empty answer.");
        }
        catch (JsonException e)
        {
            throw new ContainerEngineException($"{_name} sent an answer that is not the expected JSON.", e);
        }
    }

    // TLS as docker --tlsverify does it: the engine's certificate must chain to ca.pem alone (not the machine's roots) and
    // name the host we dialled; we show cert.pem with key.pem.
    private static SslClientAuthenticationOptions TlsOptions(EngineEndpoint endpoint)
    {
        X509Certificate2Collection authorities = [];
        X509Certificate2 client;
        try
        {
            authorities.ImportFromPemFile(endpoint.CaFile);
            client = X509Certificate2.CreateFromPemFile(endpoint.CertFile, endpoint.KeyFile);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or System.Security.Cryptography.CryptographicException)
        {
            throw new ContainerEngineException($"The TLS files in {SessionIds.Quote(endpoint.CertificateFolder)} for {endpoint.Uri} cannot be used: {e.Message}", e);
        }

        return new SslClientAuthenticationOptions
        {
            TargetHost = endpoint.Host,
            ClientCertificates = [client],
            EnabledSslProtocols = SslProtocols.Tls12 | SslProtocols.Tls13,
            RemoteCertificateValidationCallback = (_, certificate, _, errors) =>
            {
                if (certificate is null || (errors & (SslPolicyErrors.RemoteCertificateNameMismatch | SslPolicyErrors.RemoteCertificateNotAvailable)) != 0)
                {
                    return false;
                }

                using var chain = new X509Chain();
                chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
                chain.ChainPolicy.CustomTrustStore.AddRange(authorities);
                chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
                return chain.Build(certificate as X509Certificate2 ?? X509CertificateLoader.LoadCertificate(certificate.GetRawCertData()));
            },
        };
    }

    /// <inheritdoc />
    public void Dispose()
    {
        if (_clients.IsValueCreated && Interlocked.Exchange(ref _disposed, 1) == 0)
        {
            _clients.Value.Calls.Dispose();
            _clients.Value.Events.Dispose();
        }
    }
}

internal sealed record EngineVersion(string ApiVersion);

internal sealed record ContainerState(string? Status);

internal sealed record ContainerConfig(Dictionary<string, string>? Labels);

internal sealed record ContainerInspect(string Id, string Name, ContainerState? State, ContainerConfig? Config, string[]? ExecIDs = null);

internal sealed record ListContainer(string Id, string[]? Names, string? State, Dictionary<string, string>? Labels);

internal sealed record EventActor(string? Id, Dictionary<string, string>? Attributes);

internal sealed record EngineEvent(string? Action, EventActor? Actor, long? Time, long? TimeNano);

internal sealed record IdResponse(string Id);

internal sealed record ExecInspect(bool Running, int? ExitCode, int Pid = 0);

internal sealed record ExecCreate
{
    public string[] Cmd { get; init; } = [];

    public string? User { get; init; }

    public bool AttachStdout { get; init; }

    public bool AttachStderr { get; init; }
}

internal sealed record ExecStart
{
    public bool Detach { get; init; }

    public bool Tty { get; init; }
}

[JsonSourceGenerationOptions(PropertyNameCaseInsensitive = true, DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull)]
[JsonSerializable(typeof(EngineEvent))]
[JsonSerializable(typeof(EngineVersion))]
[JsonSerializable(typeof(ContainerInspect))]
[JsonSerializable(typeof(ListContainer[]))]
[JsonSerializable(typeof(IdResponse))]
[JsonSerializable(typeof(ExecInspect))]
[JsonSerializable(typeof(ExecCreate))]
[JsonSerializable(typeof(ExecStart))]
internal sealed partial class EngineJson : JsonSerializerContext;
