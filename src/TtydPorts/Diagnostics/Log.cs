using Microsoft.Extensions.Logging;

namespace TtydPorts;

// Messages read right in both listen modes: {Endpoint} is "port 8001" or "socket /run/.../x.sock" (EndpointOf), never
// "port 0"; {Topology} is "topology t1" or "no topology" (TopologyOf), never "topology (null)".
internal static partial class Log
{
    /// <summary>Where the session's ttyd listens, as log messages and traces name it.</summary>
    public static string EndpointOf(TtydSession session) =>
        session.SocketPath is { } socket ? "socket " + socket : "port " + session.Port.ToString(System.Globalization.CultureInfo.InvariantCulture);

    public static string TopologyOf(string? topologyId) => topologyId is null ? "no topology" : "topology " + topologyId;

    [LoggerMessage(1, LogLevel.Information, "Started ttyd for container {Container} on {Endpoint} (pid {ProcessId}, user {UserId}, {Topology}).")]
    public static partial void SessionStarted(ILogger logger, string container, string endpoint, int processId, string userId, string topology);

    [LoggerMessage(2, LogLevel.Warning, "No free port in {RangeStart}-{RangeEnd} for container {Container}; {Reserved} reserved by this manager.")]
    public static partial void PortsExhausted(ILogger logger, string container, int rangeStart, int rangeEnd, int reserved);

    [LoggerMessage(3, LogLevel.Warning, "ttyd for container {Container} failed to start on {Endpoint} (attempt {Attempt}): {Reason}")]
    public static partial void StartAttemptFailed(ILogger logger, string container, string endpoint, int attempt, string reason);

    [LoggerMessage(4, LogLevel.Information, "Stopped ttyd for container {Container} on {Endpoint} (pid {ProcessId}, reason {Reason}).")]
    public static partial void SessionStopped(ILogger logger, string container, string endpoint, int processId, StopReason reason);

    [LoggerMessage(5, LogLevel.Error, "Could not stop ttyd for container {Container} on {Endpoint} (pid {ProcessId}); the session stays tracked and its endpoint reserved.")]
    public static partial void StopFailed(ILogger logger, Exception exception, string container, string endpoint, int processId);

    [LoggerMessage(6, LogLevel.Information, "Session of container {Container} on {Endpoint} (pid {ProcessId}) was unhealthy ({State}); starting a new one.")]
    public static partial void SessionUnhealthy(ILogger logger, string container, string endpoint, int processId, SessionHealthState state);

    [LoggerMessage(11, LogLevel.Information, "Stopping {Count} process(es) an earlier run left for {Sessions} session(s) whose ttyd is gone: tmux servers with their exec clients, observers.")]
    public static partial void LeftoversStopping(ILogger logger, int count, int sessions);

    [LoggerMessage(99, LogLevel.Debug, "Container {Container} is no longer the running container {GuessedId} it was when last asked: its terminal starts on the engine's answer (what was prepared or started on the guess is undone before it ran anything).")]
    public static partial void ContainerGuessWrong(ILogger logger, string container, string guessedId);

    [LoggerMessage(100, LogLevel.Debug, "Container {Container} was reported started or renamed, and the engine did not answer about it ({Reason}); its first create asks as usual.")]
    public static partial void GuessNotLearnt(ILogger logger, string container, string reason);

    [LoggerMessage(101, LogLevel.Debug, "The engine reports container {Container} ({ContainerId}) {Change}.")]
    public static partial void ContainerChanged(ILogger logger, string container, string containerId, ContainerEventKind change);

    [LoggerMessage(102, LogLevel.Debug, "Asked on its event, the engine answers that container {Container} is {Answer}; a running one is the guess for its next create.")]
    public static partial void GuessLearnt(ILogger logger, string container, string answer);

    [LoggerMessage(98, LogLevel.Information, "Stopping process {ProcessId} of container {Container}'s stopped session, which appeared after the stop's first look.")]
    public static partial void LateProcessStopping(ILogger logger, string container, int processId);

    [LoggerMessage(12, LogLevel.Warning, "Could not stop process {ProcessId} that an earlier run left for session {Token}.")]
    public static partial void LeftoverStopFailed(ILogger logger, Exception exception, int processId, string token);

    [LoggerMessage(7, LogLevel.Information, "Adopted ttyd for container {Container} on {Endpoint} (pid {ProcessId}) from an earlier run.")]
    public static partial void SessionAdopted(ILogger logger, string container, string endpoint, int processId);

    [LoggerMessage(8, LogLevel.Warning, "Could not list containers while cleaning orphans.")]
    public static partial void InventoryFailed(ILogger logger, Exception exception);

    [LoggerMessage(9, LogLevel.Error, "A repair pass failed; the next one runs at the next interval.")]
    public static partial void RepairFailed(ILogger logger, Exception exception);

    [LoggerMessage(30, LogLevel.Warning, "Session of container {Container} (pid {ProcessId}) was started for container id {ContainerId}, which the name no longer means; it is stopped and never handed out again.")]
    public static partial void SessionStale(ILogger logger, string container, int processId, string containerId);

    [LoggerMessage(10, LogLevel.Warning, "Container events are unavailable ({Reason}); repair runs on its interval only until they are back.")]
    public static partial void EventsUnavailable(ILogger logger, string reason);

    [LoggerMessage(120, LogLevel.Information, "Container events are followed again after {Failures} failed attempt(s); what the engine reported in between was asked for again, from the last event or subscription seen.")]
    public static partial void EventsResumed(ILogger logger, int failures);

    [LoggerMessage(121, LogLevel.Debug, "No container event for {Quiet}: the event stream is opened again (from the last event or subscription seen), in case its connection died without a word.")]
    public static partial void EventsQuiet(ILogger logger, TimeSpan quiet);

    [LoggerMessage(103, LogLevel.Warning, "The persistent shell of container {Container}'s terminal is frozen (its process {ProcessId}, outside ttyd, is stopped): connections would wait on it for good; the session is replaced.")]
    public static partial void SessionShellFrozen(ILogger logger, string container, int processId);

    [LoggerMessage(20, LogLevel.Error, "The runtime folder cannot be trusted, so no terminal starts and nothing is adopted: {Reason}")]
    public static partial void RuntimeFolderRefused(ILogger logger, string reason);

    [LoggerMessage(21, LogLevel.Warning, "ttyd for container {Container} (pid {ProcessId}) did not answer an HTTP request within {Timeout}; it is replaced.")]
    public static partial void SessionUnresponsive(ILogger logger, string container, int processId, TimeSpan timeout);

    [LoggerMessage(22, LogLevel.Warning, "ttyd for container {Container} on {Endpoint} (pid {ProcessId}) from an earlier run does not fit today's options (listen mode, base path, credentials, address or range); it is stopped and replaced, never handed out.")]
    public static partial void SessionAdoptedUnfit(ILogger logger, string container, string endpoint, int processId);

    [LoggerMessage(31, LogLevel.Warning, "AllowUnauthenticatedLoopbackTerminals: terminals on {BindAddress} take no credential. Every local user, and any web page opened in a browser on this machine, can get a shell in the containers.")]
    public static partial void UnauthenticatedTerminals(ILogger logger, string bindAddress);

    [LoggerMessage(40, LogLevel.Error, "Could not stop process {ProcessId}, which the terminal of container {Container} left inside it.")]
    public static partial void ExecStopFailed(ILogger logger, Exception exception, string container, int processId);

    [LoggerMessage(150, LogLevel.Warning, "Could not wait for the engine at {Endpoint} to finish starting the execs of stopped terminals (within {Wait}): {Reason}. A shell it starts after the look for leftovers stays in its container until the container stops.")]
    public static partial void ExecStartNotAwaited(ILogger logger, string endpoint, TimeSpan wait, string reason);

    [LoggerMessage(44, LogLevel.Warning, "Could not end what the terminal of container {Container} left inside it, through the engine at {Endpoint}: {Reason}. Those processes end when the container stops.")]
    public static partial void LeftoversNotEnded(ILogger logger, string container, string endpoint, string reason);

    // Decisions, at Debug: what a reader of a "why did my terminal change" question needs, too chatty for Information.

    [LoggerMessage(41, LogLevel.Debug, "Reusing the session of container {Container} on {Endpoint} (pid {ProcessId}).")]
    public static partial void SessionReused(ILogger logger, string container, string endpoint, int processId);

    [LoggerMessage(42, LogLevel.Debug, "Not reusing the session of container {Container} on {Endpoint} (pid {ProcessId}): {Why}; it is stopped and replaced.")]
    public static partial void SessionReplaced(ILogger logger, string container, string endpoint, int processId, string why);

    [LoggerMessage(43, LogLevel.Debug, "No session for container {Container}; starting one for {Topology}.")]
    public static partial void SessionMissing(ILogger logger, string container, string topology);

    [LoggerMessage(60, LogLevel.Warning, "The read-only observer terminal of container {Container} did not start; its owner's terminal runs, watching it answers 404: {Reason}")]
    public static partial void ObserverStartFailed(ILogger logger, string container, string reason);

    [LoggerMessage(61, LogLevel.Debug, "The read-only observer terminal of container {Container} (pid {ProcessId}) had no watcher for a repair interval (or had ended) and was stopped; the next watcher starts another.")]
    public static partial void ObserverIdleStopped(ILogger logger, string container, int processId);

    [LoggerMessage(80, LogLevel.Information, "Recording the terminal of container {Container} to {Path}.")]
    public static partial void RecordingStarted(ILogger logger, string container, string path);

    [LoggerMessage(81, LogLevel.Error, "Recording the terminal of container {Container} failed; the terminal runs on, unrecorded.")]
    public static partial void RecordingFailed(ILogger logger, Exception exception, string container);

    [LoggerMessage(82, LogLevel.Warning, "The recording of container {Container} reached RecordingMaxBytes ({MaxBytes} bytes) and stopped: {Path}.")]
    public static partial void RecordingCapped(ILogger logger, string container, string path, long maxBytes);

    [LoggerMessage(104, LogLevel.Warning, "The tmux server of container {Container}'s terminal accepts no connection on {Socket} (its listen backlog is full: it is frozen or overloaded); the recording waits for it.")]
    public static partial void RecordingServerBusy(ILogger logger, string container, string socket);

    [LoggerMessage(105, LogLevel.Warning, "The recorder of container {Container} (tmux client pid {ProcessId}) did not end within {GracePeriod} of its stop, its tmux server not answering (frozen?); it was killed. The recording keeps what was written: {Path}.")]
    public static partial void RecordingClientKilled(ILogger logger, string container, int processId, TimeSpan gracePeriod, string path);

    [LoggerMessage(106, LogLevel.Error, "The recorder of container {Container} did not end within {Timeout} of its stop; the stop goes on without it. The recording keeps what was written and is closed when the recorder ends: {Path}.")]
    public static partial void RecordingStopAbandoned(ILogger logger, string container, TimeSpan timeout, string path);

    [LoggerMessage(96, LogLevel.Debug, "The terminal of container {Container} runs {Command} (chosen by: {Source}).")]
    public static partial void CommandChosen(ILogger logger, string container, string command, CommandSource source);

    [LoggerMessage(97, LogLevel.Information, "The session of container {Container} runs {Running}, the host asked for {Requested}: it is replaced.")]
    public static partial void CommandReplaced(ILogger logger, string container, string running, string requested);

    [LoggerMessage(90, LogLevel.Warning, "The shell of container {Container} was not started ahead of its first connection ({Reason}); that connection starts it.")]
    public static partial void ShellStartFailed(ILogger logger, string container, string reason);

    [LoggerMessage(91, LogLevel.Debug, "The shell of container {Container} was already started by its first connection.")]
    public static partial void ShellAlreadyStarted(ILogger logger, string container);

    [LoggerMessage(115, LogLevel.Warning, "A cleanup ({Reason}) was cancelled: the {Halted} session(s) whose stop had begun were stopped in full; {Skipped} whose gate it was still waiting for were not touched and stay running and tracked.")]
    public static partial void CleanupCancelled(ILogger logger, StopReason reason, int halted, int skipped);

    [LoggerMessage(116, LogLevel.Information, "The terminal being created for container {Container} lost to {Cleanup}: the create hands nothing out and stops what it started.")]
    public static partial void CreateRevoked(ILogger logger, string container, string cleanup);

    [LoggerMessage(117, LogLevel.Warning, "The create of container {Container} that a cleanup ({Reason}) ended was still under way after {Timeout}; the cleanup returns, and the create stops what it started when it ends.")]
    public static partial void RevokedCreateOutlasted(ILogger logger, string container, StopReason reason, TimeSpan timeout);

    [LoggerMessage(170, LogLevel.Warning, "The terminal of container {Container} lost {Path} (its runtime folder or that file was deleted under it): its clients cannot reach it although ttyd answers; the session is replaced.")]
    public static partial void SessionFileMissing(ILogger logger, string container, string path);

    [LoggerMessage(172, LogLevel.Warning, "The instance key file {Path} is gone and could not be written back ({Reason}); this manager still signs and stops its sessions with the key it holds, but a later run will not adopt them until the file is back.")]
    public static partial void InstanceKeyNotRestored(ILogger logger, string path, string reason);

    [LoggerMessage(171, LogLevel.Warning, "The instance key file {Path} holds another key than the one this manager signed its sessions with (its runtime folder was deleted and recreated by someone else, or another manager started meanwhile); it is not overwritten, and this manager keeps signing and stopping its sessions with its own key. A later run adopts only sessions signed with the file's key, so stop this manager's sessions before it restarts (or set StopSessionsOnShutdown).")]
    public static partial void InstanceKeyForeign(ILogger logger, string path);
}
