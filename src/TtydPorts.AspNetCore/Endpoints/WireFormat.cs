using System.Text.Json.Serialization;

namespace TtydPorts.AspNetCore;

// The seed's wire format: snake_case names, a "status" of "success" or "error" on every answer.

internal sealed record StatusResponse(string Status, StatusData Data);

internal sealed record StatusData(
    int ActiveSessions,
    int ContainerPorts,
    int TtydProcesses,
    IReadOnlyList<string> Containers,
    IReadOnlyList<string> Processes);

internal sealed record MessageResponse(string Status, string Message);

[JsonSourceGenerationOptions(
    PropertyNamingPolicy = JsonKnownNamingPolicy.SnakeCaseLower,
    DefaultIgnoreCondition = JsonIgnoreCondition.Never)]
[JsonSerializable(typeof(StatusResponse))]
[JsonSerializable(typeof(MessageResponse))]
internal sealed partial class TtydWireJson : JsonSerializerContext;
