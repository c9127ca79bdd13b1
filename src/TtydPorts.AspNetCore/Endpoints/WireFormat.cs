using System.Text.Json.Serialization;

namespace TtydPorts.AspNetCore;

// The seed's wire format: snake_case names, a "status" of "success" or "error" on every answer. The names are also
// attributes, so that an OpenAPI document generated with the host's own serializer options shows the wire's names.

internal sealed record StatusResponse(
    [property: JsonPropertyName("status")] string Status,
    [property: JsonPropertyName("data")] StatusData Data);

internal sealed record StatusData(
    [property: JsonPropertyName("active_sessions")] int ActiveSessions,
    [property: JsonPropertyName("container_ports")] int ContainerPorts,
    [property: JsonPropertyName("ttyd_processes")] int TtydProcesses,
    [property: JsonPropertyName("containers")] IReadOnlyList<string> Containers,
    [property: JsonPropertyName("processes")] IReadOnlyList<string> Processes);

internal sealed record MessageResponse(
    [property: JsonPropertyName("status")] string Status,
    [property: JsonPropertyName("message")] string Message);

[JsonSourceGenerationOptions(
    PropertyNamingPolicy = JsonKnownNamingPolicy.SnakeCaseLower,
    DefaultIgnoreCondition = JsonIgnoreCondition.Never)]
[JsonSerializable(typeof(StatusResponse))]
[JsonSerializable(typeof(MessageResponse))]
internal sealed partial class TtydWireJson : JsonSerializerContext;
