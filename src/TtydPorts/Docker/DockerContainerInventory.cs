using System.Net;
using System.Net.Http.Json;
using System.Net.Sockets;
using System.Text.Json;
using System.Text.Json.Serialization;
using Microsoft.Extensions.Options;

namespace TtydPorts;

/// <summary>
/// Default <see cref="IContainerInventory"/>: a few calls to the Docker Engine HTTP API over its Unix socket.
/// The API version is negotiated with the engine (<c>GET /version</c>), since current engines refuse clients
/// older than 1.44 and older engines (20.10 speaks 1.41) refuse newer ones.
/// </summary>
internal sealed class DockerContainerInventory : IContainerInventory, IContainerEventSource, IDisposable
{
    private readonly HttpClient _http;
    private readonly HttpClient _events;
    private readonly string _socketPath;
    private string? _apiPrefix;

    /// <summary>Creates the inventory for the configured endpoint (<see cref="TtydSessionOptions.DockerEndpoint"/>, else <c>DOCKER_HOST</c>).</summary>
    /// <exception cref="InvalidOperationException">The endpoint is not a Unix socket (start-up validation reports the same).</exception>
    public DockerContainerInventory(IOptions<TtydSessionOptions> options)
    {
        ArgumentNullException.ThrowIfNull(options);
        _socketPath = DockerEndpoints.Resolve(options.Value.DockerEndpoint);
        var handler = new SocketsHttpHandler
        {
            ConnectCallback = async (_, cancellationToken) =>
            {
                var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
                try
                {
                    await socket.ConnectAsync(new UnixDomainSocketEndPoint(_socketPath), cancellationToken).ConfigureAwait(false);
                    return new NetworkStream(socket, ownsSocket: true);
                }
                catch
                {
                    socket.Dispose();
                    throw;
                }
            },
            PooledConnectionIdleTimeout = TimeSpan.FromSeconds(30),
        };
        _http = new HttpClient(handler, disposeHandler: false) { BaseAddress = new Uri("http://docker/"), Timeout = TimeSpan.FromSeconds(15) };
        _events = new HttpClient(handler) { BaseAddress = new Uri("http://docker/"), Timeout = Timeout.InfiniteTimeSpan };
    }

    /// <summary>The Unix socket this inventory talks to.</summary>
    public string SocketPath => _socketPath;

    /// <inheritdoc />
    public async Task<ContainerInfo?> GetContainerAsync(string name, CancellationToken cancellationToken = default)
    {
        SessionIds.ThrowIfInvalidContainerName(name, nameof(name));
        var prefix = await GetApiPrefixAsync(cancellationToken).ConfigureAwait(false);
        using var response = await SendAsync($"{prefix}/containers/{name}/json", cancellationToken).ConfigureAwait(false);
        if (response.StatusCode == HttpStatusCode.NotFound)
        {
            return null;
        }

        var inspect = await ReadAsync(response, DockerJson.Default.ContainerInspect, cancellationToken).ConfigureAwait(false);
        var found = new ContainerInfo { Id = inspect.Id, Name = inspect.Name.TrimStart('/'), State = inspect.State?.Status ?? "unknown", Labels = inspect.Config?.Labels ?? [] };

        // The engine also resolves id prefixes; a terminal is only ever for the container of that exact name.
        return string.Equals(found.Name, name, StringComparison.Ordinal) ? found : null;
    }

    /// <inheritdoc />
    public async Task<IReadOnlyList<ContainerInfo>> ListContainersAsync(CancellationToken cancellationToken = default)
    {
        var prefix = await GetApiPrefixAsync(cancellationToken).ConfigureAwait(false);
        using var response = await SendAsync($"{prefix}/containers/json?all=1", cancellationToken).ConfigureAwait(false);
        var list = await ReadAsync(response, DockerJson.Default.ListContainerArray, cancellationToken).ConfigureAwait(false);
        return [.. list.Select(c => new ContainerInfo { Id = c.Id, Name = (c.Names.FirstOrDefault() ?? c.Id).TrimStart('/'), State = c.State ?? "unknown", Labels = c.Labels ?? [] })];
    }

    /// <inheritdoc />
    public async IAsyncEnumerable<ContainerInfo> WatchRemovedContainersAsync([System.Runtime.CompilerServices.EnumeratorCancellation] CancellationToken cancellationToken)
    {
        var prefix = await GetApiPrefixAsync(cancellationToken).ConfigureAwait(false);
        var filters = Uri.EscapeDataString("{\"type\":[\"container\"],\"event\":[\"destroy\"]}");
        using var request = new HttpRequestMessage(HttpMethod.Get, $"{prefix}/events?filters={filters}");
        HttpResponseMessage response;
        try
        {
            // The stream stays open for as long as we watch; the client's overall timeout must not cut it.
            response = await _events.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception e) when (e is HttpRequestException or SocketException)
        {
            _apiPrefix = null;
            throw new ContainerEngineException($"The Docker engine at unix://{_socketPath} did not answer: {e.Message}", e);
        }

        using (response)
        {
            if (!response.IsSuccessStatusCode)
            {
                throw new ContainerEngineException($"The Docker engine at unix://{_socketPath} answered {(int)response.StatusCode} to the event stream.");
            }

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
                    throw new ContainerEngineException($"The event stream of the Docker engine at unix://{_socketPath} broke: {e.Message}", e);
                }

                if (line is null)
                {
                    throw new ContainerEngineException($"The Docker engine at unix://{_socketPath} closed its event stream.");
                }

                if (line.Length > 0 && JsonSerializer.Deserialize(line, DockerJson.Default.EngineEvent) is { Actor: { Id: { } id, Attributes: { } attributes } }
                    && attributes.TryGetValue("name", out var name))
                {
                    yield return new ContainerInfo { Id = id, Name = name.TrimStart('/'), State = "destroyed", Labels = new Dictionary<string, string>() };
                }
            }
        }
    }

    private async Task<string> GetApiPrefixAsync(CancellationToken cancellationToken)
    {
        if (_apiPrefix is { } known)
        {
            return known;
        }

        using var response = await SendAsync("version", cancellationToken).ConfigureAwait(false);
        var version = await ReadAsync(response, DockerJson.Default.EngineVersion, cancellationToken).ConfigureAwait(false);
        return _apiPrefix = $"v{version.ApiVersion}";
    }

    private async Task<HttpResponseMessage> SendAsync(string path, CancellationToken cancellationToken)
    {
        try
        {
            return await _http.GetAsync(path, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception e) when (e is HttpRequestException or SocketException or TaskCanceledException && !cancellationToken.IsCancellationRequested)
        {
            _apiPrefix = null;
            throw new ContainerEngineException($"The Docker engine at unix://{_socketPath} did not answer: {e.Message}", e);
        }
    }

    private async Task<T> ReadAsync<T>(HttpResponseMessage response, System.Text.Json.Serialization.Metadata.JsonTypeInfo<T> type, CancellationToken cancellationToken)
    {
        if (!response.IsSuccessStatusCode)
        {
            var body = await response.Content.ReadAsStringAsync(cancellationToken).ConfigureAwait(false);
            throw new ContainerEngineException($"The Docker engine at unix://{_socketPath} answered {(int)response.StatusCode} to {response.RequestMessage?.RequestUri?.AbsolutePath}: {body.Trim()}");
        }

        try
        {
            return await response.Content.ReadFromJsonAsync(type, cancellationToken).ConfigureAwait(false)
                ?? throw new ContainerEngineException($"The Docker engine at unix://{_socketPath} sent an empty answer.");
        }
        catch (JsonException e)
        {
            throw new ContainerEngineException($"The Docker engine at unix://{_socketPath} sent an answer that is not the expected JSON.", e);
        }
    }

    /// <inheritdoc />
    public void Dispose()
    {
        _http.Dispose();
        _events.Dispose();
    }
}

internal sealed record EngineVersion(string ApiVersion);

internal sealed record ContainerState(string? Status);

internal sealed record ContainerConfig(Dictionary<string, string>? Labels);

internal sealed record ContainerInspect(string Id, string Name, ContainerState? State, ContainerConfig? Config);

internal sealed record ListContainer(string Id, string[] Names, string? State, Dictionary<string, string>? Labels);

internal sealed record EventActor(string? Id, Dictionary<string, string>? Attributes);

internal sealed record EngineEvent(string? Action, EventActor? Actor);

[JsonSourceGenerationOptions(PropertyNameCaseInsensitive = true)]
[JsonSerializable(typeof(EngineEvent))]
[JsonSerializable(typeof(EngineVersion))]
[JsonSerializable(typeof(ContainerInspect))]
[JsonSerializable(typeof(ListContainer[]))]
internal sealed partial class DockerJson : JsonSerializerContext;
