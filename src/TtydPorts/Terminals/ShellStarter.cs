using System.Collections.Immutable;
using System.Diagnostics;
using Microsoft.Extensions.Logging;

namespace TtydPorts;

/// <summary>
/// Starts a persistent session's shell as soon as its ttyd is ready, so that the user's first connection attaches to a
/// shell that is already there: the first prompt then costs a tmux attach, not a <c>docker exec</c> (about 200 ms here).
/// The tmux client runs with ttyd's own environment (its signed markers, no role), so the server it creates is the one
/// ttyd's first client would have created: stop, adoption and the tool find and end it by the same markers.
/// </summary>
/// <remarks>
/// It runs in the background and <c>EnsureSessionAsync</c> does not wait for it: the session is usable either way
/// (a connection that comes first creates the shell itself with <c>new-session -A</c>, and then this one finds it and
/// does nothing), so waiting would only add the tmux client's start to every create. A stop waits for it before its
/// last look for the session's processes, so that a server it creates cannot outlive the session.
/// </remarks>
internal static class ShellStarter
{
    public static Task Start(string container, string tmux, ImmutableArray<string> command, ImmutableDictionary<string, string> environment,
        TimeSpan timeout, ILogger logger) =>
        Task.Run(() => RunAsync(container, tmux, command, environment, timeout, logger));

    private static async Task RunAsync(string container, string tmux, ImmutableArray<string> command, ImmutableDictionary<string, string> environment,
        TimeSpan timeout, ILogger logger)
    {
        var start = new ProcessStartInfo(tmux) { UseShellExecute = false, RedirectStandardInput = true, RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var argument in command.AsSpan()[1..])
        {
            start.ArgumentList.Add(argument);
        }

        // Exactly ttyd's environment, markers first, as its own tmux client would have (ttyd adds TERM for its command).
        start.Environment.Clear();
        foreach (var (name, value) in TtydProcessDiscovery.MarkersFirst(environment))
        {
            start.Environment[name] = value;
        }

        start.Environment["TERM"] = "xterm-256color";
        try
        {
            using var client = Process.Start(start) ?? throw new InvalidOperationException($"tmux '{tmux}' did not start.");
            client.StandardInput.Close();
            using var deadline = new CancellationTokenSource(timeout);
            try
            {
                await client.WaitForExitAsync(deadline.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                // Our own child, the client only (the server it may have forked belongs to the session and goes with it).
                client.Kill(entireProcessTree: false);
                Log.ShellStartFailed(logger, container, $"tmux did not finish within {timeout}");
                return;
            }

            // The client exits before the server closes its copies of the pipes; never wait for those.
            var error = client.ExitCode == 0 ? "" : (await ReadAvailableAsync(client.StandardError).ConfigureAwait(false)).Trim();
            if (error.StartsWith("duplicate session", StringComparison.Ordinal))
            {
                Log.ShellAlreadyStarted(logger, container);
            }
            else if (client.ExitCode != 0)
            {
                Log.ShellStartFailed(logger, container, $"tmux exited with {client.ExitCode}: {error}");
            }
        }
        catch (Exception e) when (e is InvalidOperationException or System.ComponentModel.Win32Exception or IOException)
        {
            Log.ShellStartFailed(logger, container, e.Message);
        }
    }

    private static async Task<string> ReadAvailableAsync(StreamReader reader)
    {
        using var deadline = new CancellationTokenSource(TimeSpan.FromSeconds(1));
        try
        {
            return await reader.ReadToEndAsync(deadline.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            return "(no message)";
        }
    }
}
