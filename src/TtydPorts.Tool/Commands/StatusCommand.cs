using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using TtydPorts.Tool.Machine;
using TtydPorts.Tool.Output;

namespace TtydPorts.Tool.Commands;

/// <summary><c>ttyd-ports status</c>: the sessions of this library running on the machine.</summary>
internal static class StatusCommand
{
    public static Command Create(ToolContext context)
    {
        var instance = ToolOptions.Instance();
        var json = ToolOptions.Json("the sessions");
        var command = new Command("status", "List the ttyd sessions TtydPorts started on this machine: container, port ('socket' in proxy mode), pid, owner, topology, age, instance, state (ok, orphan, dead, stopped, not-listening) and the command the terminal runs.")
        {
            instance,
            json,
        };
        command.SetAction(async (result, ct) => await RunAsync(context, result.GetValue(instance), result.GetValue(json), ct).ConfigureAwait(false));
        return command;
    }

    private static async Task<int> RunAsync(ToolContext context, string? instance, bool json, CancellationToken cancellationToken)
    {
        var snapshot = await context.Reader.ReadAsync(foreign: false, cancellationToken).ConfigureAwait(false);
        var sessions = snapshot.Sessions.Where(s => instance is null || s.Found.InstanceName == instance).ToList();
        if (json)
        {
            var document = new StatusJson(
                instance,
                sessions.Count,
                sessions.Count(s => s.Healthy && !s.Orphan),
                sessions.Count(s => s.Orphan),
                snapshot.ContainerError,
                [.. sessions.Select(s => ToJson(s, snapshot.TakenAt))]);
            await context.Out.WriteLineAsync(JsonSerializer.Serialize(document, ToolJson.Default.StatusJson)).ConfigureAwait(false);
        }
        else if (sessions.Count == 0)
        {
            await context.Out.WriteLineAsync(instance is null ? "No TtydPorts sessions on this machine." : $"No TtydPorts sessions of instance '{instance}' on this machine.").ConfigureAwait(false);
        }
        else
        {
            Table.Write(context.Out, ["CONTAINER", "PORT", "PID", "USER", "TOPOLOGY", "AGE", "INSTANCE", "STATE", "COMMAND"],
                sessions.Select(s => new[]
                {
                    s.Session.Container,
                    s.Session.SocketPath is null ? s.Session.Port.ToString(CultureInfo.InvariantCulture) : "socket",
                    s.Session.ProcessId.ToString(CultureInfo.InvariantCulture),
                    s.Session.UserId,
                    s.Session.TopologyId ?? "-",
                    Table.Age(snapshot.TakenAt - s.Session.StartedAt),
                    s.Found.InstanceName,
                    s.State,
                    s.Session.Command?.ToString() ?? "-",
                }));
        }

        if (snapshot.ContainerError is { } error)
        {
            await context.Error.WriteLineAsync($"ttyd-ports: warning: cannot tell which containers exist, so orphans are not shown: {TerminalText.Escape(error)}").ConfigureAwait(false);
        }

        await snapshot.WarnRefusedAsync(context.Error, instance).ConfigureAwait(false);

        return ExitCodes.Done;
    }

    private static SessionJson ToJson(SessionView s, DateTimeOffset now) => new(
        s.Found.InstanceName,
        s.Session.Container,
        // A proxy-mode session listens on its Unix socket: it has no port and no address.
        s.Session.SocketPath is null ? s.Session.Port : null,
        s.Session.SocketPath is null ? s.Session.Address.ToString() : null,
        s.Session.SocketPath,
        s.Session.ProcessId,
        s.Session.Process.StartTime,
        s.Session.UserId,
        s.Session.TopologyId,
        s.Session.StartedAt,
        (long)Math.Max(0, (now - s.Session.StartedAt).TotalSeconds),
        s.Alive,
        s.Listening,
        s.Container switch
        {
            ContainerPresence.Running => "running",
            ContainerPresence.NotRunning => "not-running",
            ContainerPresence.Missing => "missing",
            ContainerPresence.OtherEngine => "other-engine",
            _ => "unknown",
        },
        s.State,
        s.Session.Command is { } command
            ? new CommandJson([.. command.Arguments], command.User, command.WorkingDirectory, [.. command.SortedEnvironment().Select(static v => v.Key)])
            : null);
}
