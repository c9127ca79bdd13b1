using System.Text.RegularExpressions;
using Microsoft.AspNetCore.Authentication.Cookies;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;
using TtydPorts;

namespace TtydPorts.AspNetCore.Tests;

// The README's C# examples, compiled against the current API. ReadmeExampleTests checks that every line of every
// ```csharp block of the README appears here, in order, so an example that stops compiling fails the build, and one
// edited in the README but not here fails the test.
#pragma warning disable CA1822, IDE0051 // examples, never called

internal static class ReadmeExamples
{
    // "Use it from a host"
    private static void UseItFromAHost(WebApplicationBuilder builder)
    {
        // Options from the "TtydPorts" section of configuration (appsettings.json, TtydPorts__PortRangeStart=8100, ...):
        builder.Services.AddTtydSessions(builder.Configuration.GetSection(TtydSessionOptions.SectionName));
        // or in code:
        builder.Services.AddTtydSessions(options =>
        {
            options.PortRangeStart = 8000;
            options.PortRangeEnd = 9000;
        });

        // In the topology service:
    }

    // A second manager
    private static void KeyedManager(WebApplicationBuilder builder)
    {
        builder.Services.AddKeyedTtydSessions("lab-b", o => (o.PortRangeStart, o.PortRangeEnd) = (9100, 9199));
    }

    // "Use it from an ASP.NET Core host"
    private static void AspNetCoreHost(WebApplicationBuilder builder)
    {
        builder.Services.AddTtydSessions();
        builder.Services.AddHealthChecks().AddTtydSessions();   // check named "ttyd"
        var app = builder.Build();

        app.MapTtydEndpoints("/api/ttyd").RequireAuthorization(); // a RouteGroupBuilder: add conventions and endpoints
        app.MapHealthChecks("/healthz");
    }

    // "Terminals only their owner can reach"
    private static async Task ProxyMode(WebApplicationBuilder builder, ITtydSessionManager terminals, string container, string userId, string? topologyId)
    {
        builder.Services.AddTtydSessions().AddTtydTerminalProxy("/terminals", proxy =>
        {
            // Optional. Default: only the session's owner, the user id being the NameIdentifier claim, else Identity.Name.
            proxy.UserIdSelector = user => user.FindFirst("sub")?.Value;
            proxy.Authorize = (http, session) => ValueTask.FromResult(http.User.IsInRole("teacher") || proxy.UserIdSelector(http.User) == session.UserId);
        });
        builder.Services.AddAuthentication(CookieAuthenticationDefaults.AuthenticationScheme).AddCookie(o => o.LoginPath = "/login");
        builder.Services.AddAuthorization();
        var app = builder.Build();

        app.UseAuthentication();
        app.UseAuthorization();
        app.MapTtydTerminals();                                   // {prefix}/{container}/{**rest}; returns a convention builder
        app.MapTtydEndpoints("/api/ttyd").RequireAuthorization(); // status and cleanup stop every user's terminals: protect them

        // The page links to "/terminals/" + session.Container + "/" (GetUrl() throws in this mode: there is no port).
        var session = await terminals.EnsureSessionAsync(container, userId, topologyId);
        _ = session;
    }

    // "The command on each node"
    private static void CommandsPerNode(WebApplicationBuilder builder)
    {
        builder.Services.AddTtydSessions(options =>
        {
            options.CommandsByLabel["clab-node-kind"]["linux"] = TerminalCommand.Of("/bin/bash", "-l");
            options.CommandsByLabel["lab.role"] = new Dictionary<string, TerminalCommand> { ["frr*"] = TerminalCommand.Of("vtysh") };
        });
    }

    // "Container runtimes"
    private static void Runtimes(WebApplicationBuilder builder)
    {
        builder.Services.AddTtydSessions();                                                // Docker: DOCKER_HOST or the local socket
        builder.Services.AddTtydSessions().UseDocker("tcp://lab-engine:2376", "/etc/ttydports/engine-certs"); // remote, TLS both ways
        builder.Services.AddTtydSessions().UsePodman();                                     // Podman's API service
        builder.Services.AddTtydSessions().UseContainerRuntime<MyRuntime>();                // your own (see docs/scale-out.md)
    }

    private abstract class MyRuntime : IContainerRuntime
    {
        public abstract string Name { get; }

        public abstract string Endpoint { get; }

        public abstract Task<ContainerInfo?> GetContainerAsync(string name, CancellationToken cancellationToken = default);

        public abstract Task<IReadOnlyList<ContainerInfo>> ListContainersAsync(CancellationToken cancellationToken = default);

        public abstract ContainerExec CreateExec(ContainerExecRequest request);

        public abstract Task EndTerminalsAsync(IReadOnlyCollection<ContainerTerminal> terminals, CancellationToken cancellationToken = default);
    }
}

public sealed class TopologyService(ITtydSessionManager terminals)
{
    public async Task<Uri?> OpenTerminalAsync(string container, string userId, string topologyId)
    {
        var session = await terminals.EnsureSessionAsync(container, userId, topologyId);
        return session?.GetUrl("lab.example.org"); // null: no free port in the range; the URL carries the session's credential
    }

    public Task ClearTopologyAsync(string topologyId) => terminals.ClearTopologyAsync(topologyId);
    public Task DeleteNodeAsync(string container) => terminals.DeleteNodeAsync(container);
    public Task LogoutAsync(string userId) => terminals.CleanupUserAsync(userId);
}

public sealed class LabB([FromKeyedServices("lab-b")] ITtydSessionManager terminals) { public ITtydSessionManager Terminals => terminals; }

public sealed class ReadmeExampleTests
{
    // The repository root, found from the test's output folder (CI builds map source paths to /_/, so not from the source path).
    private static string Root()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "README.md")) && File.Exists(Path.Combine(dir.FullName, "TtydPorts.sln")))
            {
                return dir.FullName;
            }
        }

        throw new InvalidOperationException($"No repository root above {AppContext.BaseDirectory}.");
    }

    [Fact]
    public void Every_line_of_the_readmes_csharp_examples_is_in_the_compiled_examples_in_order()
    {
        var readme = File.ReadAllText(Path.Combine(Root(), "README.md"));
        var compiled = File.ReadAllLines(Path.Combine(Root(), "tests", "TtydPorts.AspNetCore.Tests", "ReadmeExamples.cs")).Select(l => l.Trim()).ToList();
        var blocks = Regex.Matches(readme, "```csharp\n(.*?)```", RegexOptions.Singleline, TimeSpan.FromSeconds(1));

        Assert.True(blocks.Count >= 4, $"found {blocks.Count} C# blocks in the README");
        foreach (Match block in blocks)
        {
            var at = 0;
            foreach (var line in block.Groups[1].Value.Split('\n').Select(l => l.Trim()).Where(l => l.Length > 0))
            {
                var found = compiled.FindIndex(at, l => l == line);
                Assert.True(found >= 0, $"README line not in the compiled examples (after line {at + 1}): {line}");
                at = found + 1;
            }
        }

        // The check itself can fail: a line the README does not have is not found.
        Assert.DoesNotContain("builder.Services.AddTtydSessions(nonsense);", compiled);
    }
}
