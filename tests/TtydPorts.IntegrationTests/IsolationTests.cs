using System.Collections.Concurrent;
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

    private sealed class CapturedLogs : ILoggerProvider, ILogger
    {
        private readonly ConcurrentQueue<string> _lines = new();

        public string Text => string.Join('\n', _lines);

        public ILogger CreateLogger(string categoryName) => this;

        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => true;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter) =>
            _lines.Enqueue($"{logLevel}: {formatter(state, exception)} {exception}");

        public void Dispose()
        {
        }
    }
}
