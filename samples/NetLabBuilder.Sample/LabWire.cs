using System.Text.Json.Serialization;

namespace NetLabBuilder.Sample;

// The NetLabBuilder wire format: snake_case, "status" on every answer.

/// <summary>One node's terminal in <c>getOwnNodes</c>; <c>port</c> stays for the seed's frontend and is null in proxy mode.</summary>
public sealed record TerminalInfo(string ContainerName, string? Url, int? Port, string Status, string TopologyId);

/// <summary>Answer of <c>getOwnNodes</c>.</summary>
public sealed record OwnNodesResponse(string Status, string UserId, IReadOnlyList<TerminalInfo> Terminals);

/// <summary>Body of <c>POST /api/lab/deploy</c>: the user is the signed-in one, never a field.</summary>
public sealed record DeployRequest(int? Nodes);

/// <summary>Answer of <c>POST /api/lab/deploy</c>.</summary>
public sealed record DeployResponse(string Status, string UserId, string TopologyId, IReadOnlyList<string> Nodes);

/// <summary>A plain answer.</summary>
public sealed record LabMessage(string Status, string Message);

/// <summary>Body of <c>POST /api/login</c>.</summary>
public sealed record LoginRequest(string? User, string? Password);

/// <summary>Answer of <c>GET /api/me</c> and <c>POST /api/login</c>.</summary>
public sealed record MeResponse(string Status, string UserId, string Role);

/// <summary>A node as the page shows it: container and terminal state, and where its terminal is (same origin).</summary>
public sealed record NodeView(string Container, string Node, string State, string Terminal, string? Reason, string? Url, string? WatchUrl);

/// <summary>A topology with its nodes.</summary>
public sealed record TopologyView(string TopologyId, string UserId, IReadOnlyList<NodeView> Nodes);

/// <summary>A deploy in progress: nodes created so far of the total.</summary>
public sealed record DeployProgress(int Created, int Total);

/// <summary>Answer of <c>GET /api/lab/state</c>, which the page polls.</summary>
public sealed record LabStateResponse(string Status, string UserId, string Role, DeployProgress? Deploying, IReadOnlyList<TopologyView> Topologies);

[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.SnakeCaseLower, UnmappedMemberHandling = JsonUnmappedMemberHandling.Disallow)]
[JsonSerializable(typeof(OwnNodesResponse))]
[JsonSerializable(typeof(DeployRequest))]
[JsonSerializable(typeof(DeployResponse))]
[JsonSerializable(typeof(LabMessage))]
[JsonSerializable(typeof(LoginRequest))]
[JsonSerializable(typeof(MeResponse))]
[JsonSerializable(typeof(LabStateResponse))]
internal sealed partial class LabJson : JsonSerializerContext;
