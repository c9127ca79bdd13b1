using System.Text;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace TtydPorts.IntegrationTests;

/// <summary>What a session must never let through: its credential into errors and logs, the host's variables into ttyd.</summary>
[Collection(RealPartsCollection.Name)]
public sealed class IsolationTests(ContainerLab lab)
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task A_failed_start_with_a_credential_leaks_it_into_no_exception_status_or_log_line()
    {
        var container = lab.StartContainer();
        var dir = Directory.CreateTempSubdirectory("tp-leak-").FullName;
        try
        {
            // The wrapper records ttyd's arguments, so the test learns the random credential the manager gave it.
            var wrapper = Path.Combine(dir, "ttyd.sh");
            File.WriteAllText(wrapper, $"#!/bin/sh\nprintf '%s\\n' \"$@\" > '{dir}/args'\nexec ttyd \"$@\"\n");
            File.SetUnixFileMode(wrapper, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
            var logs = new CapturedLogs();
            await using var sut = new ManagerUnderTest(18650, 18654, o =>
            {
                (o.TtydPath, o.RequireCredentials, o.MaxStartAttempts) = (wrapper, true, 1);
                // ttyd prints its configuration, credential included, then fails on the missing certificate.
                foreach (var argument in new[] { "-S", "-C", Path.Combine(dir, "missing.crt"), "-K", Path.Combine(dir, "missing.key") })
                {
                    o.ExtraTtydArguments.Add(argument);
                }
            }, services: s => s.AddSingleton<ILoggerProvider>(logs));

            var error = await Assert.ThrowsAsync<TtydStartException>(() => sut.Manager.EnsureSessionAsync(container, "alice", null, Ct).AsTask());

            var args = File.ReadAllLines(Path.Combine(dir, "args"));
            var plain = args[Array.IndexOf(args, "-c") + 1];
            string[] secrets = [plain, plain[(plain.IndexOf(':', StringComparison.Ordinal) + 1)..], Convert.ToBase64String(Encoding.UTF8.GetBytes(plain))];
            var launch = Assert.IsType<ProcessLaunchException>(error.InnerException);
            string[] surfaces = [error.ToString(), launch.Output ?? "", sut.Manager.GetStatus().LastError ?? "", logs.Text];

            foreach (var secret in secrets)
            {
                Assert.All(surfaces, s => Assert.DoesNotContain(secret, s, StringComparison.Ordinal));
            }

            // Positive control: ttyd's own output, with its credential line, did reach every surface.
            Assert.All(surfaces[..2], s => Assert.Contains("credential: ***", s, StringComparison.Ordinal));
            Assert.Contains("vhost creation failed", sut.Manager.GetStatus().LastError, StringComparison.Ordinal);
            Assert.Contains("vhost creation failed", logs.Text, StringComparison.Ordinal);
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    [Fact]
    public async Task A_secret_of_the_host_reaches_neither_ttyd_nor_its_docker_client_nor_the_container_shell()
    {
        var container = lab.StartContainer();
        var secret = "LAB_TEST_SECRET_" + Guid.NewGuid().ToString("N")[..8];
        var value = "s3cret-" + Guid.NewGuid().ToString("N");
        Environment.SetEnvironmentVariable(secret, value);
        try
        {
            await using var sut = new ManagerUnderTest(18655, 18659, o => o.LaunchEnvironment["LAB_TEST_VISIBLE"] = "added-by-host");
            var session = await sut.Manager.EnsureSessionAsync(container, "alice", null, Ct);

            await using var client = await TtydClient.ConnectAsync(session!.GetUrl(), Ct);
            await client.TypeAsync("env; echo env-done-$((40+2))\r", Ct);
            await client.WaitForAsync("env-done-42", Poll.Within(30));
            var dockerClient = ProcessTree(session.ProcessId).Skip(1).First(pid => File.ReadAllText($"/proc/{pid}/cmdline").Contains("exec", StringComparison.Ordinal));

            foreach (var pid in new[] { session.ProcessId, dockerClient })
            {
                var environment = Environ(pid);
                Assert.Contains($"TTYDPORTS_INSTANCE={sut.Instance}", environment); // positive control: the launch's own variables are there
                Assert.Contains("LAB_TEST_VISIBLE=added-by-host", environment);
                Assert.DoesNotContain(environment, v => v.StartsWith(secret + "=", StringComparison.Ordinal) || v.Contains(value, StringComparison.Ordinal));
            }

            Assert.Contains("TTYDPORTS_EXEC=", client.Screen, StringComparison.Ordinal); // the shell's env was printed
            Assert.DoesNotContain(value, client.Screen, StringComparison.Ordinal);
        }
        finally
        {
            Environment.SetEnvironmentVariable(secret, null);
        }
    }

    [Fact]
    public async Task A_DOCKER_HOST_the_inventory_would_not_use_fails_start_up_naming_it_and_an_explicit_endpoint_pins_both()
    {
        var container = lab.StartContainer();
        const string foreign = "tcp://127.0.0.1:9";
        Environment.SetEnvironmentVariable("DOCKER_HOST", foreign);
        try
        {
            var error = Assert.Throws<Microsoft.Extensions.Options.OptionsValidationException>(() => new ManagerUnderTest(18660, 18664));
            Assert.Contains($"DOCKER_HOST '{foreign}'", error.Message, StringComparison.Ordinal);

            // Positive control: with the endpoint named, inventory and terminal reach that engine, whatever DOCKER_HOST says.
            await using var sut = new ManagerUnderTest(18660, 18664, o => o.DockerEndpoint = "unix:///var/run/docker.sock");
            var session = await sut.Manager.EnsureSessionAsync(container, "alice", null, Ct);
            await using var client = await TtydClient.ConnectAsync(session!.GetUrl(), Ct);
            await client.TypeAsync("echo pinned-$((6*7)) on $(hostname)\r", Ct);
            await client.WaitForAsync($"pinned-42 on {container}", Poll.Within(30));
        }
        finally
        {
            Environment.SetEnvironmentVariable("DOCKER_HOST", null);
        }
    }

    private static string[] Environ(int pid) => File.ReadAllText($"/proc/{pid}/environ").Split('\0', StringSplitOptions.RemoveEmptyEntries);

    private static IReadOnlyList<int> ProcessTree(int root) => LiveProcesses.Tree(root);
}
