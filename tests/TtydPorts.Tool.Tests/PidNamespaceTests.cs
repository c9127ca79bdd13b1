using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using TtydPorts.IntegrationTests;

namespace TtydPorts.Tool.Tests;

/// <summary>
/// The modes that reach beyond one instance (--foreign, and --all without --instance) run inside a private PID
/// namespace (<c>unshare --pid --fork --mount-proc</c>): there the tool sees only the ttyd processes the test started
/// in it, so it can never stop another engineer's or another test assembly's terminals. When the namespace's first
/// process exits, the kernel kills whatever is left in it, so nothing leaks either.
/// </summary>
[Collection(ToolCollection.Name)]
public sealed class PidNamespaceTests(ToolLab lab)
{
    private const string Script = """
        set -u
        count() { n=0; for p in /proc/[0-9]*; do [ "$(cat "$p/comm" 2>/dev/null)" = ttyd ] && n=$((n+1)); done; echo "$n"; }
        pids() { for p in /proc/[0-9]*; do [ "$(cat "$p/comm" 2>/dev/null)" = ttyd ] && printf '%s ' "${p#/proc/}"; done; echo; }
        tool() { "$DOTNET" "$TOOL" "$@" --range "$RANGE" </dev/null; }
        ttyd -p "$FOREIGN_PORT" -i 127.0.0.1 sleep 3600 >/dev/null 2>&1 </dev/null &
        echo "foreign-pid $!"
        "$DOTNET" "$HOST" --instance "$INSTANCE" --range "$RANGE" --runtime "$RUNTIME" --await-port "$FOREIGN_PORT" "$C1:alice:t1" "$C2:bob" >&2 || exit 90
        echo "count-start $(count)"
        tool cleanup --foreign >/dev/null 2>"$OUT/refused.err"; echo "refused-exit $?"
        echo "count-refused $(count)"
        tool cleanup --all --foreign --dry-run --json >"$OUT/dry.json"; echo "dry-exit $?"
        tool cleanup --foreign --dry-run --json >"$OUT/dry-foreign.json"; echo "dry-foreign-exit $?"
        echo "count-dry $(count)"
        tool cleanup --all --json >"$OUT/all.json"; echo "all-exit $?"
        echo "left-all $(pids)"
        tool cleanup --foreign --yes --json >"$OUT/foreign.json"; echo "foreign-exit $?"
        echo "count-end $(count)"
        """;

    private static readonly Lazy<string?> UnshareProblem = new(() =>
    {
        try
        {
            var (code, output) = RealParts.Run("unshare", "--pid", "--fork", "--mount-proc", "true");
            return code == 0 ? null : $"unshare --pid --fork --mount-proc does not work here ({code}): {output}";
        }
        catch (System.ComponentModel.Win32Exception e)
        {
            return $"unshare is missing: {e.Message}";
        }
    });

    [Fact]
    public async Task In_a_private_pid_namespace_only_foreign_with_yes_stops_the_foreign_ttyd_and_all_stops_every_session()
    {
        RequireUnshare();
        var c1 = lab.StartContainer();
        var c2 = lab.StartContainer();
        var instance = "tns-" + Guid.NewGuid().ToString("N")[..8];
        var work = Directory.CreateTempSubdirectory("ttyd-ports-ns-");
        var runtime = Path.Combine(work.FullName, "runtime");
        try
        {
            var (exit, lines, error) = await RunInNamespaceAsync(new()
            {
                ["DOTNET"] = TtydPortsTool.Dotnet,
                ["TOOL"] = TtydPortsTool.Dll,
                ["HOST"] = TtydPortsTool.TestHostDll,
                ["INSTANCE"] = instance,
                ["RANGE"] = "20100-20110",
                ["FOREIGN_PORT"] = "20110",
                ["RUNTIME"] = runtime,
                ["OUT"] = work.FullName,
                ["C1"] = c1,
                ["C2"] = c2,
            });
            var report = $"exit {exit}\n{string.Join('\n', lines.Select(l => $"{l.Key} {l.Value}"))}\n--- stderr ---\n{error}";
            Assert.True(exit == 0, report);
            var foreignPid = int.Parse(lines["foreign-pid"], CultureInfo.InvariantCulture);

            // Two sessions started through the library, one ttyd without markers.
            Assert.Equal("3", lines["count-start"]);

            // --foreign without --yes and without a terminal: refused, nothing stopped.
            Assert.Equal(("2", "3"), (lines["refused-exit"], lines["count-refused"]));
            Assert.Contains("--yes", File.ReadAllText(Path.Combine(work.FullName, "refused.err")), StringComparison.Ordinal);

            // --all --foreign --dry-run lists all three and stops none.
            Assert.Equal(("0", "3"), (lines["dry-exit"], lines["count-dry"]));
            using (var dry = JsonDocument.Parse(File.ReadAllText(Path.Combine(work.FullName, "dry.json"))))
            {
                var listed = dry.RootElement.GetProperty("processes").EnumerateArray().ToList();
                Assert.Equal(3, listed.Count);
                Assert.All(listed, p => Assert.Equal("would-stop", p.GetProperty("outcome").GetString()));
                Assert.Equal([foreignPid], listed.Where(p => p.GetProperty("foreign").GetBoolean()).Select(p => p.GetProperty("processId").GetInt32()));
            }

            // --foreign alone adds the foreign ttyd to the default selection (orphans; both sessions are healthy).
            Assert.Equal("0", lines["dry-foreign-exit"]);
            using (var dryForeign = JsonDocument.Parse(File.ReadAllText(Path.Combine(work.FullName, "dry-foreign.json"))))
            {
                var listed = Assert.Single(dryForeign.RootElement.GetProperty("processes").EnumerateArray());
                Assert.Equal((foreignPid, true), (listed.GetProperty("processId").GetInt32(), listed.GetProperty("foreign").GetBoolean()));
            }

            // --all (no --instance): every session of the library, and the foreign ttyd survives.
            Assert.Equal("0", lines["all-exit"]);
            Assert.Equal(foreignPid.ToString(CultureInfo.InvariantCulture), lines["left-all"].Trim());
            using (var all = JsonDocument.Parse(File.ReadAllText(Path.Combine(work.FullName, "all.json"))))
            {
                Assert.Equal(2, all.RootElement.GetProperty("stopped").GetInt32());
                Assert.Equal([c1, c2], all.RootElement.GetProperty("processes").EnumerateArray().Select(p => p.GetProperty("container").GetString()).Order());
            }

            // --foreign --yes: the foreign ttyd goes too.
            Assert.Equal(("0", "0"), (lines["foreign-exit"], lines["count-end"]));
            using (var foreign = JsonDocument.Parse(File.ReadAllText(Path.Combine(work.FullName, "foreign.json"))))
            {
                var stopped = Assert.Single(foreign.RootElement.GetProperty("processes").EnumerateArray());
                Assert.Equal((foreignPid, true, "stopped"), (stopped.GetProperty("processId").GetInt32(), stopped.GetProperty("foreign").GetBoolean(), stopped.GetProperty("outcome").GetString()));
            }

            // The tool removed the logs of the sessions it stopped.
            Assert.Empty(Directory.Exists(runtime) ? Directory.GetFiles(runtime).Where(f => !f.EndsWith(".key", StringComparison.Ordinal)) : []); // the instance key stays, by design
        }
        finally
        {
            work.Delete(recursive: true);
        }
    }

    private static void RequireUnshare()
    {
        RealParts.Require();
        if (UnshareProblem.Value is { } problem)
        {
            if (string.Equals(Environment.GetEnvironmentVariable("CI"), "true", StringComparison.OrdinalIgnoreCase))
            {
                throw new InvalidOperationException($"CI=true and {problem}");
            }

            Assert.Skip(problem);
        }
    }

    private static async Task<(int Exit, Dictionary<string, string> Lines, string Error)> RunInNamespaceAsync(Dictionary<string, string> environment)
    {
        // --kill-child: should unshare itself be killed, the namespace dies with it.
        var start = new ProcessStartInfo("unshare", ["--pid", "--fork", "--mount-proc", "--kill-child", "bash", "-c", Script])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        foreach (var (key, value) in environment)
        {
            start.Environment[key] = value;
        }

        using var process = Process.Start(start)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(TestContext.Current.CancellationToken);
        cts.CancelAfter(TimeSpan.FromSeconds(180));
        try
        {
            await process.WaitForExitAsync(cts.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            throw;
        }

        var lines = (await stdout).Split('\n', StringSplitOptions.RemoveEmptyEntries)
            .Select(l => l.Split(' ', 2))
            .ToDictionary(p => p[0], p => p.Length > 1 ? p[1] : "");
        return (process.ExitCode, lines, await stderr);
    }
}
