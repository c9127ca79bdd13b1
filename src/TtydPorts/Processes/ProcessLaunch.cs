using System.Collections.Immutable;
using System.Net;

namespace TtydPorts;

/// <summary>What to start: an argument list (never a shell string), its whole environment, and when it counts as ready.</summary>
/// <param name="FileName">Program, resolved through <c>PATH</c> when it has no slash.</param>
/// <param name="Arguments">Arguments, passed as they are.</param>
/// <param name="Environment">The whole environment of the process: nothing of the starting process's own environment is inherited.</param>
/// <param name="ReadyEndpoint">The process is ready once this endpoint (TCP, or a Unix socket) accepts a connection.</param>
/// <param name="ReadyTimeout">How long to wait for readiness before the process is stopped and the start fails.</param>
/// <param name="LogPath">File that receives the process's standard output and error (appended); <see langword="null"/> discards them.</param>
public sealed record ProcessLaunch(
    string FileName,
    ImmutableArray<string> Arguments,
    ImmutableDictionary<string, string> Environment,
    EndPoint ReadyEndpoint,
    TimeSpan ReadyTimeout,
    string? LogPath)
{
    /// <summary>
    /// Strings the process may print that must never leave it (e.g. ttyd prints its credential at start): the
    /// supervisor replaces each with <c>***</c> in every output it reports, so no exception, log or status shows them.
    /// </summary>
    public ImmutableArray<string> Secrets { get; init; } = [];
}

/// <summary>A running process that carries this library's markers in its environment.</summary>
/// <param name="Process">The process.</param>
/// <param name="ParentProcessId">Its parent's PID (children inherit the markers; the parent tells them apart).</param>
/// <param name="Markers">Its environment variables that start with the marker prefix.</param>
public sealed record MarkedProcess(ProcessIdentity Process, int ParentProcessId, IReadOnlyDictionary<string, string> Markers)
{
    /// <summary>The OS user (uid) the process runs as, or <see langword="null"/> when it could not be read.</summary>
    public uint? OwnerUid { get; init; }

    /// <summary>The canonical path of the program the process runs, or <see langword="null"/> when it could not be read.</summary>
    public string? ExecutablePath { get; init; }
}
