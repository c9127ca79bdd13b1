using System.Diagnostics;
using System.Runtime.InteropServices;

namespace TtydPorts.IntegrationTests;

/// <summary>
/// Keeps the core's <c>IsAotCompatible</c> true in fact: a small consumer (tests/TtydPorts.AotConsumer) is published
/// with Native AOT, which must pass without a single trim or AOT warning, and the native binary must run.
/// </summary>
[Collection(Name)]
public sealed class AotPublishTests : IDisposable
{
    // Alone: a Native AOT publish takes both cores for a minute, which would skew the timing of other tests.
    public const string Name = "Native AOT publish";

    private readonly string _artifacts = Path.Combine(Path.GetTempPath(), "ttydports-aot-" + Guid.NewGuid().ToString("N")[..8]);

    public void Dispose()
    {
        if (Directory.Exists(_artifacts))
        {
            Directory.Delete(_artifacts, recursive: true);
        }
    }

    [Fact]
    public async Task A_consumer_publishes_with_Native_AOT_without_warnings_and_runs()
    {
        var project = Path.Combine(RepositoryRoot(), "tests", "TtydPorts.AotConsumer", "TtydPorts.AotConsumer.csproj");
        var output = Path.Combine(_artifacts, "out");

        // Its own artifacts folder: nothing of the build the suite runs in (obj, bin, restore state) is touched.
        var (code, text) = await RunAsync("dotnet", [
            "publish", project, "-c", "Release", "-r", RuntimeInformation.RuntimeIdentifier,
            "--artifacts-path", Path.Combine(_artifacts, "build"), "-o", output, "-nologo", "-clp:NoSummary"]);

        Assert.True(code == 0, $"dotnet publish failed ({code}):\n{text}");
        var warnings = text.Split('\n').Where(l => l.Contains(" warning ", StringComparison.Ordinal)).ToList();
        Assert.True(warnings.Count == 0, "the AOT publish warned:\n" + string.Join('\n', warnings));

        var (runCode, runText) = await RunAsync(Path.Combine(output, "TtydPorts.AotConsumer"), []);
        Assert.True(runCode == 0, $"the native consumer failed ({runCode}):\n{runText}");
        Assert.Contains("aot-ok", runText, StringComparison.Ordinal);
    }

    private static string RepositoryRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "TtydPorts.sln")))
            {
                return dir.FullName;
            }
        }

        throw new InvalidOperationException("TtydPorts.sln not found above " + AppContext.BaseDirectory);
    }

    private static async Task<(int Code, string Output)> RunAsync(string file, string[] arguments)
    {
        var start = new ProcessStartInfo(file, arguments) { RedirectStandardOutput = true, RedirectStandardError = true };
        using var process = Process.Start(start)!;
        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(8));
        var stdout = process.StandardOutput.ReadToEndAsync(timeout.Token);
        var stderr = process.StandardError.ReadToEndAsync(timeout.Token);
        await process.WaitForExitAsync(timeout.Token);
        return (process.ExitCode, await stdout + await stderr);
    }
}

[CollectionDefinition(AotPublishTests.Name, DisableParallelization = true)]
public sealed class AotPublishCollection;
