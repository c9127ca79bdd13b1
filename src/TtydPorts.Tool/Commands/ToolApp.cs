using System.CommandLine;

namespace TtydPorts.Tool.Commands;

/// <summary>The command tree and its invocation. Parse errors exit with 2 and name the bad value.</summary>
internal static class ToolApp
{
    public static RootCommand Build(ToolContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        return new RootCommand(
            "ttyd-ports: status, port usage and safe cleanup of the ttyd web terminals that TtydPorts started on this machine. " +
            "Reads the machine itself (process markers, the socket table, the container engine), so it works whether or not the host app runs. " +
            "The engine is Docker's (DOCKER_HOST, DOCKER_TLS_VERIFY, DOCKER_CERT_PATH, else the local socket); 'ttyd-ports --runtime podman COMMAND' reads Podman's. " +
            "Exit codes: 0 done, 1 something could not be stopped (listed), 2 usage error.")
        {
            StatusCommand.Create(context),
            PortsCommand.Create(context),
            CleanupCommand.Create(context),
        };
    }

    public static async Task<int> RunAsync(string[] args, ToolContext context, CancellationToken cancellationToken = default)
    {
        var result = Build(context).Parse(args);
        if (result.Errors.Count > 0)
        {
            foreach (var error in result.Errors)
            {
                await context.Error.WriteLineAsync($"ttyd-ports: {error.Message}").ConfigureAwait(false);
            }

            var command = result.CommandResult.Command is RootCommand ? "" : $" {result.CommandResult.Command.Name}";
            await context.Error.WriteLineAsync($"Run 'ttyd-ports{command} --help' for usage.").ConfigureAwait(false);
            return ExitCodes.Usage;
        }

        if (!OperatingSystem.IsLinux())
        {
            await context.Error.WriteLineAsync("ttyd-ports: reads Linux's /proc, so it runs on Linux only.").ConfigureAwait(false);
            return ExitCodes.Usage;
        }

        return await result.InvokeAsync(new InvocationConfiguration { Output = context.Out, Error = context.Error }, cancellationToken).ConfigureAwait(false);
    }
}
