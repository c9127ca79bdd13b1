using System.Diagnostics;
using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using Microsoft.Extensions.DependencyInjection;
using TtydPorts.IntegrationTests;

namespace TtydPorts.AspNetCore.Tests;

/// <summary>
/// The "done when" of the 1.0 issue: an app that knows the library only as packages. The two packages are packed into a
/// temporary feed, a consumer project restores them from it (and everything else from the machine's own NuGet sources),
/// is built, registers from an appsettings.json section, maps the endpoints and opens a terminal in a real container.
/// </summary>
[Collection(RealHostsCollection.Name)]
public sealed class PackedConsumerTests(TestContainers containers) : IDisposable
{
    // Pack, restore, build and run on a 2-core machine: minutes, not hours, whatever goes wrong.
    private static readonly TimeSpan StepTimeout = TimeSpan.FromMinutes(6);

    private readonly string _root = Path.Combine(Path.GetTempPath(), Unique.Name("consumer"));

    public void Dispose()
    {
        if (Directory.Exists(_root))
        {
            Directory.Delete(_root, recursive: true);
        }
    }

    [Fact]
    public async Task A_consumer_built_from_the_packed_packages_registers_from_configuration_maps_the_endpoints_and_opens_a_terminal()
    {
        RealParts.Require();
        var ct = TestContext.Current.CancellationToken;
        var repo = RepositoryRoot();
        var feed = Path.Combine(_root, "feed");
        var app = Path.Combine(_root, "app");
        Directory.CreateDirectory(app);

        // Release, so that the Debug outputs the tests run from are not rebuilt under them.
        foreach (var project in new[] { "src/TtydPorts/TtydPorts.csproj", "src/TtydPorts.AspNetCore/TtydPorts.AspNetCore.csproj" })
        {
            await RunAsync(repo, ct, "pack", Path.Combine(repo, project), "-c", "Release", "-o", feed, "--nologo", "-v:q", "--disable-build-servers");
        }

        var package = Assert.Single(Directory.GetFiles(feed, "TtydPorts.AspNetCore.*.nupkg"));
        var version = Path.GetFileNameWithoutExtension(package)["TtydPorts.AspNetCore.".Length..];
        Assert.Single(Directory.GetFiles(feed, $"TtydPorts.{version}.nupkg"));

        var instance = Unique.Name("pkg");
        var runtime = Path.Combine(_root, "run");
        WriteConsumer(app, feed, version, instance, runtime);
        await RunAsync(app, ct, "build", "-c", "Release", "--nologo", "-v:q", "--disable-build-servers");

        // The consumer used the packages, not the repository's projects.
        var assets = await File.ReadAllTextAsync(Path.Combine(app, "obj", "project.assets.json"), ct);
        Assert.Contains($"\"TtydPorts/{version}\"", assets, StringComparison.Ordinal);
        Assert.Contains($"\"TtydPorts.AspNetCore/{version}\"", assets, StringComparison.Ordinal);
        Assert.DoesNotContain("\"type\": \"project\"", assets, StringComparison.Ordinal);

        var container = containers.Start();
        using var consumer = Start(app, Path.Combine(app, "bin", "Release", "net10.0", "Consumer.dll"));
        try
        {
            var address = await ReadListeningAddressAsync(consumer, ct);
            using var client = new HttpClient { BaseAddress = address, Timeout = TimeSpan.FromSeconds(60) };

            using var before = await client.GetAsync("/api/ttyd/status", ct);
            Assert.Equal(0, (await JsonAsync(before, ct)).GetProperty("data").GetProperty("active_sessions").GetInt32());

            using var opened = await client.PostAsync($"/open/{container}", null, ct);
            var terminal = new Uri((await JsonAsync(opened, ct)).GetProperty("url").GetString()!);
            Assert.InRange(terminal.Port, 19700, 19709); // the range of the appsettings.json section, not the default 8000-9000

            using var status = await client.GetAsync("/api/ttyd/status", ct);
            var data = (await JsonAsync(status, ct)).GetProperty("data");
            Assert.Equal(1, data.GetProperty("active_sessions").GetInt32());
            Assert.Equal([container], data.GetProperty("containers").EnumerateArray().Select(c => c.GetString()));

            // The terminal's page answers with its credential, and refuses without it.
            using var ttyd = new HttpClient { Timeout = TimeSpan.FromSeconds(30) };
            var page = new Uri(terminal.GetLeftPart(UriPartial.Path));
            using var anonymous = await ttyd.GetAsync(page, ct);
            using var request = new HttpRequestMessage(HttpMethod.Get, page);
            request.Headers.Authorization = new AuthenticationHeaderValue("Basic", Convert.ToBase64String(Encoding.UTF8.GetBytes(Uri.UnescapeDataString(terminal.UserInfo))));
            using var signedIn = await ttyd.SendAsync(request, ct);
            Assert.Equal(HttpStatusCode.Unauthorized, anonymous.StatusCode);
            Assert.Equal(HttpStatusCode.OK, signedIn.StatusCode);
            Assert.Contains("ttyd", await signedIn.Content.ReadAsStringAsync(ct), StringComparison.OrdinalIgnoreCase);

            using var cleanup = await client.PostAsync("/api/ttyd/cleanup", new StringContent("""{"all":true}""", Encoding.UTF8, "application/json"), ct);
            Assert.Equal("Stopped 1 terminal(s) of all users.", (await JsonAsync(cleanup, ct)).GetProperty("message").GetString());

            consumer.StandardInput.Close(); // the consumer stops its host when its input ends
            using var exit = CancellationTokenSource.CreateLinkedTokenSource(ct);
            exit.CancelAfter(TimeSpan.FromSeconds(30));
            await consumer.WaitForExitAsync(exit.Token);
            Assert.Equal(0, consumer.ExitCode);
        }
        finally
        {
            if (!consumer.HasExited)
            {
                consumer.Kill(entireProcessTree: true);
                await consumer.WaitForExitAsync(CancellationToken.None);
            }

            // Whatever happened above, no ttyd of the consumer's instance is left.
            await using var services = new ServiceCollection().AddLogging().AddTtydSessions().Services.BuildServiceProvider();
            var left = services.GetRequiredService<IProcessSupervisor>().FindMarkedProcesses(TtydProcessDiscovery.MarkerPrefix, "TTYDPORTS_INSTANCE", instance);
            foreach (var process in left)
            {
                await services.GetRequiredService<IProcessSupervisor>().StopAsync(process.Process, TimeSpan.FromSeconds(2), CancellationToken.None);
            }

            Assert.Empty(left);
        }
    }

    private static void WriteConsumer(string app, string feed, string version, string instance, string runtime)
    {
        // The temporary feed is added to the machine's NuGet configuration, which NuGet reads after this file: no source
        // is named here but the folder. Packages go to a folder of their own (no stale TtydPorts in the machine's cache),
        // the rest comes from the machine's global packages folder when it is there.
        var machinePackages = Environment.GetEnvironmentVariable("NUGET_PACKAGES")
            ?? Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".nuget", "packages");
        File.WriteAllText(Path.Combine(app, "nuget.config"), $"""
            <?xml version="1.0" encoding="utf-8"?>
            <configuration>
              <config>
                <add key="globalPackagesFolder" value="{Path.Combine(app, "packages")}" />
              </config>
              <packageSources>
                <add key="ttydports-packed" value="{feed}" />
              </packageSources>
              <fallbackPackageFolders>
                <add key="machine" value="{machinePackages}" />
              </fallbackPackageFolders>
            </configuration>
            """);
        File.WriteAllText(Path.Combine(app, "Consumer.csproj"), $"""
            <Project Sdk="Microsoft.NET.Sdk.Web">
              <PropertyGroup>
                <TargetFramework>net10.0</TargetFramework>
                <Nullable>enable</Nullable>
                <ImplicitUsings>enable</ImplicitUsings>
                <TreatWarningsAsErrors>true</TreatWarningsAsErrors>
              </PropertyGroup>
              <ItemGroup>
                <PackageReference Include="TtydPorts.AspNetCore" Version="[{version}]" />
              </ItemGroup>
            </Project>
            """);
        File.WriteAllText(Path.Combine(app, "appsettings.json"), JsonSerializer.Serialize(new Dictionary<string, object>
        {
            ["TtydPorts"] = new Dictionary<string, object>
            {
                ["PortRangeStart"] = 19700,
                ["PortRangeEnd"] = 19709,
                ["InstanceName"] = instance,
                ["RuntimeDirectory"] = runtime,
                ["DockerPath"] = RealParts.DockerClient,
                ["StopGracePeriod"] = "00:00:02",
                ["StopSessionsOnShutdown"] = true,
            },
            ["Logging"] = new Dictionary<string, object> { ["LogLevel"] = new Dictionary<string, string> { ["Default"] = "Warning" } },
        }));

        File.WriteAllText(Path.Combine(app, "Program.cs"), """
            using TtydPorts;

            var builder = WebApplication.CreateSlimBuilder(args);
            builder.WebHost.UseUrls("http://127.0.0.1:0");
            builder.Services.AddTtydSessions(builder.Configuration.GetSection(TtydSessionOptions.SectionName));

            var app = builder.Build();
            app.MapTtydEndpoints("/api/ttyd");
            app.MapPost("/open/{container}", async (string container, ITtydSessionManager terminals) =>
            {
                var session = await terminals.EnsureSessionAsync(container, "consumer-user");
                return Results.Json(new Dictionary<string, string?> { ["url"] = session?.GetUrl().ToString() });
            });

            await app.StartAsync();
            var addresses = app.Services.GetRequiredService<Microsoft.AspNetCore.Hosting.Server.IServer>()
                .Features.Get<Microsoft.AspNetCore.Hosting.Server.Features.IServerAddressesFeature>()!.Addresses;
            Console.WriteLine("LISTENING " + addresses.First());
            await Console.In.ReadLineAsync();
            await app.StopAsync();
            await app.DisposeAsync();
            """);
    }

    private static async Task<Uri> ReadListeningAddressAsync(Process consumer, CancellationToken ct)
    {
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(ct);
        deadline.CancelAfter(TimeSpan.FromSeconds(60));
        var seen = new StringBuilder();
        while (await consumer.StandardOutput.ReadLineAsync(deadline.Token) is { } line)
        {
            seen.AppendLine(line);
            if (line.StartsWith("LISTENING ", StringComparison.Ordinal))
            {
                return new Uri(line["LISTENING ".Length..]);
            }
        }

        throw new InvalidOperationException($"The consumer ended before it listened: {seen}{await consumer.StandardError.ReadToEndAsync(ct)}");
    }

    private static async Task<JsonElement> JsonAsync(HttpResponseMessage response, CancellationToken ct)
    {
        var body = await response.Content.ReadAsStringAsync(ct);
        Assert.True(response.IsSuccessStatusCode, $"{(int)response.StatusCode}: {body}");
        return JsonDocument.Parse(body).RootElement.Clone();
    }

    private static string Dotnet => Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") is { Length: > 0 } host ? host : "dotnet";

    private static ProcessStartInfo StartInfo(string directory, IEnumerable<string> arguments)
    {
        var info = new ProcessStartInfo(Dotnet)
        {
            WorkingDirectory = directory,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            UseShellExecute = false,
        };
        foreach (var argument in arguments)
        {
            info.ArgumentList.Add(argument);
        }

        // The test runner's MSBuild settings would steer the nested build; the nested one finds its own.
        foreach (var name in info.Environment.Keys.Where(k => k.StartsWith("MSBuild", StringComparison.OrdinalIgnoreCase) || k.StartsWith("VSTEST", StringComparison.OrdinalIgnoreCase)).ToList())
        {
            info.Environment.Remove(name);
        }

        info.Environment["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1";
        info.Environment["DOTNET_NOLOGO"] = "1";
        info.Environment["MSBUILDDISABLENODEREUSE"] = "1"; // no MSBuild node outlives the step
        info.Environment["UseSharedCompilation"] = "false"; // nor a compiler server
        return info;
    }

    private static Process Start(string directory, string dll) => Process.Start(StartInfo(directory, [dll]))!;

    private static async Task RunAsync(string directory, CancellationToken ct, params string[] arguments)
    {
        using var process = Process.Start(StartInfo(directory, arguments))!;
        process.StandardInput.Close();
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(ct);
        deadline.CancelAfter(StepTimeout);
        var output = process.StandardOutput.ReadToEndAsync(CancellationToken.None);
        var error = process.StandardError.ReadToEndAsync(CancellationToken.None);
        try
        {
            await process.WaitForExitAsync(deadline.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            await process.WaitForExitAsync(CancellationToken.None);
            throw new TimeoutException($"dotnet {string.Join(' ', arguments)} took over {StepTimeout}: {await output}{await error}");
        }

        Assert.True(process.ExitCode == 0, $"dotnet {string.Join(' ', arguments)} failed ({process.ExitCode}): {await output}{await error}");
    }

    private static string RepositoryRoot()
    {
        for (var directory = new DirectoryInfo(AppContext.BaseDirectory); directory is not null; directory = directory.Parent)
        {
            if (File.Exists(Path.Combine(directory.FullName, "TtydPorts.sln")))
            {
                return directory.FullName;
            }
        }

        throw new InvalidOperationException("The repository root (TtydPorts.sln) is not above " + AppContext.BaseDirectory);
    }
}
