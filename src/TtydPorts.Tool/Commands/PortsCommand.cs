using System.CommandLine;
using System.Text.Json;
using TtydPorts.Tool.Output;

namespace TtydPorts.Tool.Commands;

/// <summary><c>ttyd-ports ports</c>: how the ports of the range are used.</summary>
internal static class PortsCommand
{
    public static Command Create(ToolContext context)
    {
        var range = ToolOptions.Range();
        var bind = ToolOptions.Bind();
        var json = ToolOptions.Json("the port usage");
        var command = new Command("ports", "Show the port range: how many ports are free, and which are held by a TtydPorts session (container, instance) or by another process (pid and command).")
        {
            range,
            bind,
            json,
        };
        command.SetAction(async (result, ct) =>
        {
            var scope = result.GetValue(range)!.On(result.GetValue(bind)!);
            var snapshot = await context.Reader.ReadAsync(foreign: false, ct).ConfigureAwait(false);
            var report = PortReport.Build(snapshot, [.. snapshot.Sessions.Select(s => s.Found)], scope);
            if (result.GetValue(json))
            {
                await context.Out.WriteLineAsync(JsonSerializer.Serialize(report, ToolJson.Default.PortsJson)).ConfigureAwait(false);
            }
            else
            {
                PortReport.Write(context.Out, report);
            }

            return ExitCodes.Done;
        });
        return command;
    }
}
