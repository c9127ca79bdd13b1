using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using TtydPorts.Tool.Cleanup;
using TtydPorts.Tool.Output;

namespace TtydPorts.Tool.Commands;

/// <summary><c>ttyd-ports cleanup</c>: stops orphaned sessions by default, or the sessions selected, and foreign ttyd only when asked.</summary>
internal static class CleanupCommand
{
    public static Command Create(ToolContext context)
    {
        var all = new Option<bool>("--all") { Description = "Stop every session TtydPorts started (of --instance, when given). Never touches other ttyd processes." };
        var user = ToolOptions.User();
        var topology = ToolOptions.Topology();
        var container = ToolOptions.Container();
        var foreign = new Option<bool>("--foreign")
        {
            Description = "Also stop every other ttyd on this machine (those TtydPorts did not start), as the old cleanup_ttyd.py did. Asks for confirmation unless --yes.",
        };
        var yes = new Option<bool>("--yes", "-y") { Description = "Do not ask before stopping foreign ttyd processes (needed when standard input is not a terminal)." };
        var dryRun = new Option<bool>("--dry-run", "-n") { Description = "Show what would be stopped, and stop nothing." };
        var instance = ToolOptions.Instance();
        var range = ToolOptions.Range();
        var bind = ToolOptions.Bind();
        var grace = ToolOptions.Grace();
        var json = ToolOptions.Json("what was stopped, and the port usage before and after,");
        var command = new Command(
            "cleanup",
            "Stop ttyd processes. By default only orphaned sessions of TtydPorts: their container is gone, or their process is no longer healthy. " +
            "--user, --topology and --container select sessions (all given must match); --all selects every session; --foreign adds every other ttyd. " +
            "Prints the port usage before and after.")
        {
            all, user, topology, container, foreign, yes, dryRun, instance, range, bind, grace, json,
        };
        command.Validators.Add(result =>
        {
            if (result.GetValue(all) && (result.GetValue(user) is not null || result.GetValue(topology) is not null || result.GetValue(container) is not null))
            {
                result.AddError("--all stops every session; it cannot be combined with --user, --topology or --container.");
            }
        });
        command.SetAction(async (result, ct) =>
        {
            var selection = new CleanupSelection(
                result.GetValue(all), result.GetValue(user), result.GetValue(topology), result.GetValue(container), result.GetValue(foreign), result.GetValue(instance));
            var options = new CleanupRun(
                selection,
                result.GetValue(range)!.On(result.GetValue(bind)!),
                TimeSpan.FromSeconds(result.GetValue(grace)),
                result.GetValue(yes),
                result.GetValue(dryRun),
                result.GetValue(json));
            return await RunAsync(context, options, ct).ConfigureAwait(false);
        });
        return command;
    }

    internal sealed record CleanupRun(CleanupSelection Selection, PortScope Scope, TimeSpan Grace, bool Yes, bool DryRun, bool Json);

    internal static async Task<int> RunAsync(ToolContext context, CleanupRun run, CancellationToken cancellationToken)
    {
        var asks = run.Selection.Foreign && !run.Yes && !run.DryRun;
        if (asks && !context.InputIsTerminal)
        {
            await context.Error.WriteLineAsync(
                "ttyd-ports: --foreign stops ttyd processes that TtydPorts did not start, which needs a confirmation; standard input is not a terminal, " +
                "so none can be asked. Add --yes to confirm, or --dry-run to see what would be stopped. Nothing was stopped.").ConfigureAwait(false);
            return ExitCodes.Usage;
        }

        var human = run.Json ? TextWriter.Null : context.Out;
        var snapshot = await context.Reader.ReadAsync(run.Selection.Foreign, cancellationToken).ConfigureAwait(false);
        await snapshot.WarnRefusedAsync(context.Error, run.Selection.Instance).ConfigureAwait(false);
        var before = PortReport.Build(snapshot, [.. snapshot.Sessions.Select(s => s.Found)], run.Scope);
        PortReport.Write(human, before, "Port usage before:");
        human.WriteLine();

        var plan = CleanupPlanner.Plan(snapshot, run.Selection);
        if (plan.ContainersUnknown)
        {
            await context.Error.WriteLineAsync($"ttyd-ports: cannot tell which containers exist, so orphans of removed containers are not stopped: {TerminalText.Escape(snapshot.ContainerError)}").ConfigureAwait(false);
        }

        foreach (var skipped in plan.Skipped)
        {
            await context.Error.WriteLineAsync($"ttyd-ports: not stopping {skipped.Describe()}").ConfigureAwait(false);
        }

        if (plan.Targets.Count == 0)
        {
            human.WriteLine(run.DryRun ? "Dry run: nothing would be stopped." : "Nothing to stop.");
            await WriteJsonAsync(context, run, [], before, null, snapshot.ContainerError).ConfigureAwait(false);
            return plan.Skipped.Count > 0 || plan.ContainersUnknown ? ExitCodes.Incomplete : ExitCodes.Done;
        }

        human.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{(run.DryRun ? "Would stop" : "Stopping")} {plan.Targets.Count} ttyd process{(plan.Targets.Count == 1 ? "" : "es")}:"));
        foreach (var target in plan.Targets)
        {
            human.WriteLine($"  {target.Describe()}");
        }

        if (run.DryRun)
        {
            human.WriteLine("Dry run: nothing was stopped.");
            await WriteJsonAsync(context, run, [.. plan.Targets.Select(t => new StopResult(t, StopOutcome.AlreadyGone, null))], before, null, snapshot.ContainerError, dryRun: true).ConfigureAwait(false);
            return plan.Skipped.Count > 0 || plan.ContainersUnknown ? ExitCodes.Incomplete : ExitCodes.Done;
        }

        var foreignCount = plan.Targets.Count(t => t.IsForeign);
        if (asks && foreignCount > 0)
        {
            await context.Error.WriteAsync(string.Create(CultureInfo.InvariantCulture,
                $"Stop {foreignCount} ttyd process{(foreignCount == 1 ? "" : "es")} that TtydPorts did not start (other users' terminals may be among them)? [y/N] ")).ConfigureAwait(false);
            var answer = (await context.Input.ReadLineAsync(cancellationToken).ConfigureAwait(false))?.Trim();
            if (!string.Equals(answer, "y", StringComparison.OrdinalIgnoreCase) && !string.Equals(answer, "yes", StringComparison.OrdinalIgnoreCase))
            {
                await context.Error.WriteLineAsync("ttyd-ports: not confirmed; nothing was stopped.").ConfigureAwait(false);
                return ExitCodes.Incomplete;
            }
        }

        var results = await context.Runner.RunAsync(plan.Targets, run.Grace, cancellationToken).ConfigureAwait(false);
        var failed = results.Where(r => r.Outcome == StopOutcome.Failed).ToList();
        human.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"Stopped {results.Count(r => r.Outcome == StopOutcome.Stopped)}, already gone {results.Count(r => r.Outcome == StopOutcome.AlreadyGone)}, could not stop {failed.Count}."));
        foreach (var failure in failed)
        {
            await context.Error.WriteLineAsync($"ttyd-ports: could not stop {failure.Target.Describe()}: {TerminalText.Escape(failure.Error)}").ConfigureAwait(false);
        }

        var leftoversKept = results.Where(r => r.LeftoversKept is not null).ToList();
        foreach (var kept in leftoversKept)
        {
            await context.Error.WriteLineAsync(TerminalText.Escape(string.Create(CultureInfo.InvariantCulture,
                $"ttyd-ports: session {kept.Target.Session!.Session.Container} (pid {kept.Target.Process.ProcessId}) was stopped, but what its terminal left in its container was not ended: {kept.LeftoversKept}."))).ConfigureAwait(false);
        }

        var afterSnapshot = await context.Reader.ReadAsync(foreign: false, cancellationToken).ConfigureAwait(false);
        var after = PortReport.Build(afterSnapshot, [.. afterSnapshot.Sessions.Select(s => s.Found)], run.Scope);
        human.WriteLine();
        PortReport.Write(human, after, "Port usage after:");
        await WriteJsonAsync(context, run, results, before, after, snapshot.ContainerError).ConfigureAwait(false);
        return failed.Count > 0 || leftoversKept.Count > 0 || plan.Skipped.Count > 0 || plan.ContainersUnknown ? ExitCodes.Incomplete : ExitCodes.Done;
    }

    private static async Task WriteJsonAsync(
        ToolContext context, CleanupRun run, IReadOnlyList<StopResult> results, PortsJson before, PortsJson? after, string? containerError, bool dryRun = false)
    {
        if (!run.Json)
        {
            return;
        }

        var items = results.Select(r => new CleanupItemJson(
            r.Target.Process.ProcessId,
            r.Target.IsForeign,
            r.Target.Session?.Found.InstanceName,
            r.Target.Session?.Session.Container,
            r.Target.Session?.Session is { SocketPath: null } session ? session.Port : null,
            r.Target.Session?.Session.UserId,
            r.Target.Session?.Session.TopologyId,
            r.Target.Command,
            r.Target.Reason,
            dryRun ? "would-stop" : r.Outcome switch { StopOutcome.Stopped => "stopped", StopOutcome.AlreadyGone => "already-gone", _ => "failed" },
            r.Error,
            r.LeftoversKept)).ToList();
        var document = new CleanupJson(
            run.DryRun,
            dryRun ? 0 : results.Count(r => r.Outcome == StopOutcome.Stopped),
            results.Count(r => r.Outcome == StopOutcome.Failed),
            items,
            before,
            after,
            containerError);
        await context.Out.WriteLineAsync(JsonSerializer.Serialize(document, ToolJson.Default.CleanupJson)).ConfigureAwait(false);
    }
}
