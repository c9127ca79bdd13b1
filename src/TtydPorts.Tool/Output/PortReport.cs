using System.Globalization;
using System.Net;
using TtydPorts.Tool.Machine;

namespace TtydPorts.Tool.Output;

/// <summary>A port range and a bind address, as given on the command line.</summary>
internal sealed record PortScope(int Start, int End, IPAddress Bind)
{
    public int Count => End - Start + 1;

    public override string ToString() => string.Create(CultureInfo.InvariantCulture, $"{Start}-{End} on {Bind}");
}

/// <summary>How the ports of a range are used: free, held by a session of this library, held by another process.</summary>
internal static class PortReport
{
    public static PortsJson Build(MachineSnapshot snapshot, IReadOnlyList<DiscoveredSession> allSessions, PortScope scope)
    {
        var sessionsByPid = allSessions.ToDictionary(s => s.Session.ProcessId);
        var used = new List<PortUseJson>();
        foreach (var group in snapshot.Listeners
                     .Where(l => l.Port >= scope.Start && l.Port <= scope.End && MachineReader.Conflicts(l.Address, scope.Bind))
                     .GroupBy(l => l.Port)
                     .OrderBy(g => g.Key))
        {
            var owners = group.SelectMany(l => l.Owners).DistinctBy(o => o.ProcessId).ToList();
            var addresses = string.Join(",", group.Select(l => l.Address.ToString()).Distinct());

            // ttyd's children may inherit its socket; the session is the owner that carries the markers.
            var session = owners.Select(o => sessionsByPid.GetValueOrDefault(o.ProcessId)).FirstOrDefault(s => s is not null);
            if (session is not null)
            {
                used.Add(new PortUseJson(group.Key, addresses, "session", session.Session.ProcessId, null, session.InstanceName, session.Session.Container, session.Session.UserId));
            }
            else
            {
                var owner = owners.OrderBy(o => o.ProcessId).FirstOrDefault();
                used.Add(new PortUseJson(group.Key, addresses, "foreign", owner?.ProcessId, owner?.Command ?? "? (owner not readable)", null, null, null));
            }
        }

        return new PortsJson(scope.Start, scope.End, scope.Bind.ToString(), scope.Count - used.Count,
            used.Count(u => u.HeldBy == "session"), used.Count(u => u.HeldBy == "foreign"), used);
    }

    public static void Write(TextWriter output, PortsJson report, string? heading = null)
    {
        output.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"{heading ?? "Ports"} {report.RangeStart}-{report.RangeEnd} on {report.BindAddress}: {report.Free} free, {report.HeldBySessions} held by TtydPorts sessions, {report.HeldByOthers} held by other processes."));
        if (report.Used.Count == 0)
        {
            return;
        }

        Table.Write(output, ["PORT", "HELD BY", "PID", "ADDRESS", "INSTANCE", "CONTAINER / COMMAND"],
            report.Used.Select(u => new[]
            {
                u.Port.ToString(CultureInfo.InvariantCulture),
                u.HeldBy,
                u.ProcessId?.ToString(CultureInfo.InvariantCulture) ?? "?",
                u.Address,
                u.Instance ?? "-",
                u.Container ?? u.Command ?? "-",
            }));
    }
}
