using System.Text.Json.Serialization;

namespace NetLabBuilder.Sample;

// The original NetLabBuilder backend's answers, as its frontend reads them: snake_case, "status" first.

/// <summary>One running node in <c>getOwnNodes</c>: <c>url</c> is its capability URL, <c>port</c> null (there is none); a node whose terminal failed has <c>error</c> and status <c>failed</c> instead.</summary>
public sealed record NetLabTerminal(
    string ContainerName,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] string? Url,
    int? Port,
    string Status,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] string? Error);

/// <summary>Answer of <c>GET /api/ttyd/getOwnNodes?user_id=...</c>.</summary>
public sealed record NetLabNodesResponse(
    string Status,
    string UserId,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] string? Message,
    IReadOnlyList<NetLabTerminal> Terminals);

/// <summary>Body of <c>POST /api/start-topology</c>.</summary>
public sealed record StartTopologyRequest(string? UserId, string? Topology);

/// <summary>Answer of <c>POST /api/start-topology</c> (202), or its refusal (<c>status</c> <c>error</c>, with <c>details</c>).</summary>
public sealed record StartTopologyResponse(
    string Status,
    string UserId,
    string Topology,
    string Message,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] string? Details);

/// <summary>A line of the node's routing table, as <c>netstat -r</c> prints it.</summary>
public sealed record NetLabRoute(string Destination, string Gateway, string Genmask, string Flags, string Mss, string Window, string Irtt, string Iface);

/// <summary>Answer of <c>GET /api/node-routing/{name}</c>.</summary>
public sealed record NodeRoutingResponse(string Status, string NodeId, IReadOnlyList<NetLabRoute> Routes);

[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.SnakeCaseLower, UnmappedMemberHandling = JsonUnmappedMemberHandling.Disallow)]
[JsonSerializable(typeof(NetLabNodesResponse))]
[JsonSerializable(typeof(StartTopologyRequest))]
[JsonSerializable(typeof(StartTopologyResponse))]
[JsonSerializable(typeof(NodeRoutingResponse))]
[JsonSerializable(typeof(LabMessage))]
internal sealed partial class NetLabJson : JsonSerializerContext;
