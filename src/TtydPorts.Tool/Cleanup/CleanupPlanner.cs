using System.Globalization;
using TtydPorts.Tool.Machine;
using TtydPorts.Tool.Output;

namespace TtydPorts.Tool.Cleanup;

/// <summary>What <c>cleanup</c> was asked to stop.</summary>
/// <param name="All">Every session of this library (in the instance scope).</param>
/// <param name="User">Only sessions of this owner.</param>
/// <param name="Topology">Only sessions of this topology.</param>
/// <param name="Container">Only the session of this container.</param>
/// <param name="Foreign">Also every ttyd this library did not start.</param>
/// <param name="Instance">Only sessions of this manager instance; <see langword="null"/> for every instance.</param>
internal sealed record CleanupSelection(bool All = false, string? User = null, string? Topology = null, string? Container = null, bool Foreign = false, string? Instance = null)
{
    public bool HasFilter => User is not null || Topology is not null || Container is not null;
}

/// <summary>A process the cleanup stops, and why.</summary>
/// <param name="Process">PID and start time: a recycled PID is never signalled.</param>
/// <param name="Session">The session it serves, or <see langword="null"/> for a foreign ttyd.</param>
/// <param name="Command">For a foreign ttyd, its command line.</param>
/// <param name="Reason">Why it is stopped.</param>
internal sealed record CleanupTarget(ProcessIdentity Process, SessionView? Session, string? Command, string Reason)
{
    public bool IsForeign => Session is null;

    /// <summary>One line for the terminal, escaped (<see cref="TerminalText"/>): markers, paths and command lines are read from the machine.</summary>
    public string Describe() => TerminalText.Escape(Session is { } s
        ? string.Create(CultureInfo.InvariantCulture,
            $"pid {Process.ProcessId}  session {s.Session.Container} ({(s.Session.SocketPath is null ? $"port {s.Session.Port}" : "socket")}, user {s.Session.UserId}, topology {s.Session.TopologyId ?? "-"}, instance {s.Found.InstanceName}): {Reason}")
        : string.Create(CultureInfo.InvariantCulture, $"pid {Process.ProcessId}  foreign ttyd: {Command}"));
}

/// <summary>What a cleanup will do: the processes it stops and those it leaves although they matched.</summary>
internal sealed record CleanupPlan(IReadOnlyList<CleanupTarget> Targets, IReadOnlyList<CleanupTarget> Skipped, bool ContainersUnknown);

/// <summary>Decides what a cleanup stops. Pure: reads only the snapshot.</summary>
internal static class CleanupPlanner
{
    public static CleanupPlan Plan(MachineSnapshot snapshot, CleanupSelection selection)
    {
        ArgumentNullException.ThrowIfNull(snapshot);
        ArgumentNullException.ThrowIfNull(selection);
        var matched = new List<CleanupTarget>();
        foreach (var view in snapshot.Sessions.Where(v => selection.Instance is null || string.Equals(v.Found.InstanceName, selection.Instance, StringComparison.Ordinal)))
        {
            if (ReasonFor(view, selection) is { } reason)
            {
                matched.Add(new CleanupTarget(view.Session.Process, view, null, reason));
            }
        }

        if (selection.Foreign)
        {
            matched.AddRange(snapshot.Foreign.Select(f => new CleanupTarget(f.Process, null, f.Command, "foreign ttyd")));
        }

        // The tool never stops the process it runs in, nor one of its ancestors (e.g. the ttyd serving the terminal it was typed in).
        var skipped = matched.Where(t => snapshot.OwnLineage.Contains(t.Process.ProcessId))
            .Select(t => t with { Reason = "it runs this command (stopping it would end this cleanup); stop it from another terminal" })
            .ToList();
        var targets = matched.Where(t => !snapshot.OwnLineage.Contains(t.Process.ProcessId)).ToList();
        var containersUnknown = !selection.All && !selection.HasFilter && snapshot.ContainerError is not null;
        return new CleanupPlan(targets, skipped, containersUnknown);
    }

    private static string? ReasonFor(SessionView view, CleanupSelection selection)
    {
        var s = view.Session;
        if (selection.All)
        {
            return "--all";
        }

        if (selection.HasFilter)
        {
            var match = (selection.User is null || string.Equals(s.UserId, selection.User, StringComparison.Ordinal))
                && (selection.Topology is null || string.Equals(s.TopologyId, selection.Topology, StringComparison.Ordinal))
                && (selection.Container is null || string.Equals(s.Container, selection.Container, StringComparison.Ordinal));
            return match ? string.Join(", ", new[]
            {
                selection.User is null ? null : $"user {selection.User}",
                selection.Topology is null ? null : $"topology {selection.Topology}",
                selection.Container is null ? null : $"container {selection.Container}",
            }.OfType<string>()) : null;
        }

        return view.Orphan ? "orphan: its container is gone"
            : view.Health switch
            {
                SessionHealthState.Gone => "unhealthy: its process is gone",
                SessionHealthState.Stopped => "unhealthy: its process is stopped (SIGSTOP) and would never answer",
                SessionHealthState.NotListening when s.SocketPath is not null => $"unhealthy: its socket {s.SocketPath} is gone",
                SessionHealthState.NotListening => string.Create(CultureInfo.InvariantCulture, $"unhealthy: nothing of it listens on port {s.Port}"),
                _ => null,
            };
    }
}
