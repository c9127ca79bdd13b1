using System.Text.Json.Serialization;

namespace NetLabBuilder.Sample;

// The NetLabBuilder wire format: snake_case, "status" on every answer.

/// <summary>One node's terminal in <c>getOwnNodes</c>.</summary>
public sealed record TerminalInfo(string ContainerName, string? Url, int? Port, string Status, string TopologyId);

/// <summary>Answer of <c>getOwnNodes</c>.</summary>
public sealed record OwnNodesResponse(string Status, string UserId, IReadOnlyList<TerminalInfo> Terminals);

/// <summary>Body of <c>POST /api/lab/deploy</c>.</summary>
public sealed record DeployRequest(string? UserId, int? Nodes);

/// <summary>Answer of <c>POST /api/lab/deploy</c>.</summary>
public sealed record DeployResponse(string Status, string UserId, string TopologyId, IReadOnlyList<string> Nodes);

/// <summary>A plain answer.</summary>
public sealed record LabMessage(string Status, string Message);

[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.SnakeCaseLower, UnmappedMemberHandling = JsonUnmappedMemberHandling.Disallow)]
[JsonSerializable(typeof(OwnNodesResponse))]
[JsonSerializable(typeof(DeployRequest))]
[JsonSerializable(typeof(DeployResponse))]
[JsonSerializable(typeof(LabMessage))]
internal sealed partial class LabJson : JsonSerializerContext;
