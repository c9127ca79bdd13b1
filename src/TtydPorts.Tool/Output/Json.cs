using System.Text.Json.Serialization;

namespace TtydPorts.Tool.Output;

/// <summary>One session in <c>status --json</c>: a port and address, or in proxy mode its socket.</summary>
internal sealed record SessionJson(
    string Instance,
    string Container,
    int? Port,
    string? Address,
    string? Socket,
    int ProcessId,
    ulong ProcessStartTime,
    string User,
    string? Topology,
    DateTimeOffset StartedAt,
    long AgeSeconds,
    bool Alive,
    bool Listening,
    string ContainerState,
    string State,
    CommandJson? Command);

/// <summary>What a session's terminal runs in its container (variable names only: their values may be secrets).</summary>
internal sealed record CommandJson(IReadOnlyList<string> Arguments, string? User, string? WorkingDirectory, IReadOnlyList<string> EnvironmentNames);

/// <summary>The document <c>status --json</c> prints.</summary>
internal sealed record StatusJson(string? Instance, int Count, int Healthy, int Orphans, string? ContainerError, IReadOnlyList<SessionJson> Sessions);

/// <summary>One used port in <c>ports --json</c>.</summary>
internal sealed record PortUseJson(int Port, string Address, string HeldBy, int? ProcessId, string? Command, string? Instance, string? Container, string? User);

/// <summary>The document <c>ports --json</c> prints.</summary>
internal sealed record PortsJson(int RangeStart, int RangeEnd, string BindAddress, int Free, int HeldBySessions, int HeldByOthers, IReadOnlyList<PortUseJson> Used);

/// <summary>One process in <c>cleanup --json</c>; <paramref name="LeftoversKept"/> says why what its terminal left in its container was not ended.</summary>
internal sealed record CleanupItemJson(int ProcessId, bool Foreign, string? Instance, string? Container, int? Port, string? User, string? Topology, string? Command, string Reason, string Outcome, string? Error, string? LeftoversKept);

/// <summary>The document <c>cleanup --json</c> prints.</summary>
internal sealed record CleanupJson(bool DryRun, int Stopped, int Failed, IReadOnlyList<CleanupItemJson> Processes, PortsJson PortsBefore, PortsJson? PortsAfter, string? ContainerError);

[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase, WriteIndented = true)]
[JsonSerializable(typeof(StatusJson))]
[JsonSerializable(typeof(PortsJson))]
[JsonSerializable(typeof(CleanupJson))]
internal sealed partial class ToolJson : JsonSerializerContext;
