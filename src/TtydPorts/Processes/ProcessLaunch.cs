using System.Collections.Immutable;
using System.Net;

namespace TtydPorts;

/// <summary>What to start: an argument list (never a shell string), its whole environment, and when it counts as ready.</summary>
public sealed record ProcessLaunch
{
    /// <summary>Program, resolved through <c>PATH</c> when it has no slash.</summary>
    public required string FileName { get; init; }

    /// <summary>Arguments, passed as they are.</summary>
    public ImmutableArray<string> Arguments { get; init; } = [];

    /// <summary>The whole environment of the process: nothing of the starting process's own environment is inherited.</summary>
    public ImmutableDictionary<string, string> Environment { get; init; } = ImmutableDictionary<string, string>.Empty;

    /// <summary>The process is ready once this endpoint (TCP, or a Unix socket) accepts a connection.</summary>
    public required EndPoint ReadyEndpoint { get; init; }

    /// <summary>How long to wait for readiness before the process is stopped and the start fails. Default 10 s.</summary>
    public TimeSpan ReadyTimeout { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>File that receives the process's standard output and error (appended); <see langword="null"/> discards them.</summary>
    public string? LogPath { get; init; }

    /// <summary>
    /// Strings the process may print that must never leave it (e.g. ttyd prints its credential at start): the
    /// supervisor replaces each with <c>***</c> in every output it reports, so no exception, log or status shows them.
    /// </summary>
    public ImmutableArray<string> Secrets { get; init; } = [];
}

/// <summary>A running process that carries this library's markers in its environment.</summary>
public sealed record MarkedProcess
{
    /// <summary>The process.</summary>
    public required ProcessIdentity Process { get; init; }

    /// <summary>Its parent's PID (children inherit the markers; the parent tells them apart).</summary>
    public int ParentProcessId { get; init; }

    /// <summary>Its environment variables that start with the marker prefix.</summary>
    public required IReadOnlyDictionary<string, string> Markers { get; init; }

    /// <summary>
    /// The OS user (uid) the process runs as: its real, effective and saved uids (and gids) all equal; <see langword="null"/>
    /// when they differ (a set-user-ID or set-group-ID program, which is never taken for a session) or could not be read.
    /// </summary>
    public uint? OwnerUid { get; init; }

    // The mount namespace it lives in (the inode of /proc/PID/ns/mnt), where a path in its markers means what it means to
    // the process; null when unknown. Read by the tool run as root, which believes a root session only where that path
    // means the same to both (SessionAdoption).
    internal ulong? MountNamespace { get; init; }

    /// <summary>The canonical path of the program the process runs, or <see langword="null"/> when it could not be read.</summary>
    public string? ExecutablePath { get; init; }
}
