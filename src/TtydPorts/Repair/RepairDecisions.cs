namespace TtydPorts;

/// <summary>
/// Pure decisions of a repair pass, over the sessions' bookkeeping and what was observed (timestamps of the manager's
/// <see cref="TimeProvider"/>): which sessions had clients, which containers are missing or now mean another container,
/// which sessions are due to stop. No I/O: the manager observes, these decide.
/// </summary>
internal static class RepairDecisions
{
    /// <summary>Sessions with at least one connected client are active at <paramref name="now"/>.</summary>
    public static void MarkActive(IEnumerable<SessionEntry> entries, IReadOnlyDictionary<int, int>? clientsByPort, IReadOnlyDictionary<string, int>? clientsBySocket, long now)
    {
        foreach (var entry in entries)
        {
            var clients = entry.Session.SocketPath is { } socket ? clientsBySocket?.GetValueOrDefault(socket) : clientsByPort?.GetValueOrDefault(entry.Session.Port);
            if (clients > 0)
            {
                entry.LastActive = now;
            }
        }
    }

    /// <summary>
    /// Marks the observers with a client on their socket (a watcher's WebSocket, or a pooled proxy connection) as used at
    /// <paramref name="now"/>, and returns the sessions whose observer has not been used for <paramref name="idleAfter"/>,
    /// to be stopped: a watcher who left does not keep an idle ttyd per session for the session's lifetime. Time, not a
    /// count of passes: passes also run back to back (a container's removal wakes one).
    /// </summary>
    public static List<SessionEntry> IdleObservers(IEnumerable<SessionEntry> entries, IReadOnlyDictionary<string, int> clientsBySocket, long now, long frequency, TimeSpan idleAfter)
    {
        var due = new List<SessionEntry>();
        foreach (var entry in entries)
        {
            if (entry.Observer is not { } observer)
            {
                continue;
            }

            if (clientsBySocket.GetValueOrDefault(observer.SocketPath) > 0)
            {
                entry.ObserverUsed = now;
            }
            else if (IsObserverIdle(entry, now, frequency, idleAfter))
            {
                due.Add(entry);
            }
        }

        return due;
    }

    /// <summary>Whether the session's observer has not been started, handed out or watched for <paramref name="idleAfter"/>.</summary>
    public static bool IsObserverIdle(SessionEntry entry, long now, long frequency, TimeSpan idleAfter) =>
        Elapsed(entry.ObserverUsed, now, frequency) >= idleAfter;

    /// <summary>
    /// From a listing of the engine (id by name): a name that now means another container makes its session stale at
    /// once; a missing name starts (or keeps) the session's missing clock, since one listing may miss a container
    /// being recreated; a present one stops it.
    /// </summary>
    public static void MarkPresence(IEnumerable<SessionEntry> entries, IReadOnlyDictionary<string, string> idsByName, long now)
    {
        foreach (var entry in entries)
        {
            if (idsByName.TryGetValue(entry.Session.Container, out var id))
            {
                entry.MissingSince = 0;
                if (!string.Equals(id, entry.Session.ContainerId, StringComparison.Ordinal))
                {
                    entry.Stale = true;
                }
            }
            else if (entry.MissingSince == 0)
            {
                entry.MissingSince = now;
            }
        }
    }

    /// <summary>Whether the session's container has been missing for the grace period (a stale one goes its own way).</summary>
    public static bool IsOrphanDue(SessionEntry entry, long now, long frequency, TimeSpan gracePeriod) =>
        !entry.Stale && entry.MissingSince != 0 && Elapsed(entry.MissingSince, now, frequency) >= gracePeriod;

    /// <summary>Whether the session has had no client for <paramref name="idleTimeout"/>.</summary>
    public static bool IsIdleDue(SessionEntry entry, long now, long frequency, TimeSpan idleTimeout) =>
        Elapsed(entry.LastActive, now, frequency) >= idleTimeout;

    private static TimeSpan Elapsed(long since, long now, long frequency) =>
        TimeSpan.FromTicks((long)((now - since) * ((double)TimeSpan.TicksPerSecond / frequency)));
}
