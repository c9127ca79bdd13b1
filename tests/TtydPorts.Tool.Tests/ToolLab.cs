using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net.Sockets;
using Microsoft.Extensions.DependencyInjection;
using TtydPorts.IntegrationTests;

namespace TtydPorts.Tool.Tests;

[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class ToolCollection : ICollectionFixture<ToolLab>
{
    public const string Name = "ttyd-ports against real ttyd and Docker";
}

/// <summary>
/// Test containers (named <c>tpt-*</c>, labelled <c>ttydports.test=1</c>) and foreign ttyd processes, all removed at the end.
/// Ports come from 20000-20499, the range assigned to these tests.
/// </summary>
public sealed class ToolLab : IDisposable
{
    private readonly string _run = Guid.NewGuid().ToString("N")[..8];
    private readonly ConcurrentBag<string> _containers = [];
    private int _next;

    public string StartContainer()
    {
        var name = RealParts.StartContainer($"tpt-{_run}-{Interlocked.Increment(ref _next)}");
        _containers.Add(name);
        return name;
    }

    public static void RemoveContainer(string name) => RealParts.Docker("rm", "-f", name);

    public void Dispose() => RealParts.RemoveContainers(_containers);
}

/// <summary>A ttyd started by the test without any TtydPorts marker: what another user's terminal looks like.</summary>
public sealed class ForeignTtyd : IAsyncDisposable
{
    private readonly Process _process;

    private ForeignTtyd(Process process, int port)
    {
        _process = process;
        Port = port;
    }

    public int Port { get; }

    public int ProcessId => _process.Id;

    public bool IsRunning => !_process.HasExited;

    public static async Task<ForeignTtyd> StartAsync(int port, CancellationToken cancellationToken)
    {
        RealParts.Require();
        var start = new ProcessStartInfo("ttyd", ["-p", port.ToString(System.Globalization.CultureInfo.InvariantCulture), "-i", "127.0.0.1", "sleep", "3600"])
        {
            RedirectStandardError = true,
            RedirectStandardOutput = true,
        };
        foreach (var key in start.Environment.Keys.Where(k => k.StartsWith(TtydProcessDiscovery.MarkerPrefix, StringComparison.Ordinal)).ToList())
        {
            start.Environment.Remove(key);
        }

        var process = Process.Start(start)!;
        process.ErrorDataReceived += static (_, _) => { };
        process.OutputDataReceived += static (_, _) => { };
        process.BeginErrorReadLine();
        process.BeginOutputReadLine();
        var foreign = new ForeignTtyd(process, port);
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        cts.CancelAfter(TimeSpan.FromSeconds(10));
        while (true)
        {
            Assert.False(process.HasExited, $"the foreign ttyd on port {port} exited with {(process.HasExited ? process.ExitCode : 0)}");
            try
            {
                using var client = new TcpClient();
                await client.ConnectAsync("127.0.0.1", port, cts.Token);
                return foreign;
            }
            catch (SocketException)
            {
                await Task.Delay(5, cts.Token);
            }
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (!_process.HasExited)
        {
            _process.Kill();
        }

        await _process.WaitForExitAsync();
        _process.Dispose();
    }
}

/// <summary>Runs the real tool, <c>dotnet ttyd-ports.dll</c>, as a process.</summary>
internal static class TtydPortsTool
{
    public static string Dll { get; } = Path.Combine(AppContext.BaseDirectory, "ttyd-ports.dll");

    public static string TestHostDll { get; } = Path.Combine(AppContext.BaseDirectory, "TtydPorts.Tool.TestHost.dll");

    public static string Dotnet { get; } = Environment.ProcessPath is { } p && Path.GetFileNameWithoutExtension(p) == "dotnet" ? p : "dotnet";

    public static Task<ToolRun> RunAsync(params string[] arguments) => RunAsync(new Dictionary<string, string>(), arguments);

    public static async Task<ToolRun> RunAsync(IReadOnlyDictionary<string, string> environment, params string[] arguments)
    {
        var start = new ProcessStartInfo(Dotnet)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true, // not a terminal: the tool must not wait for an answer
        };
        foreach (var (name, value) in environment)
        {
            start.Environment[name] = value;
        }

        start.ArgumentList.Add(Dll);
        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        using var process = Process.Start(start)!;
        process.StandardInput.Close();
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(TestContext.Current.CancellationToken);
        cts.CancelAfter(TimeSpan.FromSeconds(120));
        await process.WaitForExitAsync(cts.Token);
        return new ToolRun(process.ExitCode, await stdout, await stderr);
    }
}

internal sealed record ToolRun(int ExitCode, string Output, string Error)
{
    public override string ToString() => $"exit {ExitCode}\n--- stdout ---\n{Output}\n--- stderr ---\n{Error}";
}
