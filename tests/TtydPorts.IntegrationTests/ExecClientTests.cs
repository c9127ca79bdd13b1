using System.Collections.Immutable;
using System.Diagnostics;
using System.Net.Sockets;
using System.Runtime.InteropServices;
using System.Text;
using System.Text.Json;

namespace TtydPorts.IntegrationTests;

/// <summary>
/// The Engine API exec client (<c>ttydports-exec</c>, <see cref="TtydSessionOptions.ExecClientPath"/>) on the real Docker
/// engine and on Podman's service: a terminal over ttyd's WebSocket, the command's arguments, user, folder and variables
/// as given, the process in the container's own cgroup, namespaces and confinement (read from the host's <c>/proc</c>,
/// against the container's init), resizes, and nothing left after a stop. Then the client alone: its refusals.
/// </summary>
[Collection(RealPartsCollection.Name)]
public sealed class ExecClientTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    public static TheoryData<string> Engines => ["docker", "podman"];

    // Arguments a shell would split, run or unescape; UTF-8 beyond the BMP.
    private static readonly string[] Awkward = ["a b", "q\"uo'te", "c;d", "back\\slash", "ü€😀", "$HOME"];

    private static (Engine Engine, Action<TtydSessionOptions> Configure) Runtime(string name) => name == "podman"
        ? (Engine.Podman, o => (o.ContainerRuntime, o.PodmanEndpoint, o.PodmanPath, o.ExecClientPath) = (ContainerRuntimeKind.Podman, RealParts.PodmanEndpoint, RealParts.PodmanClient, RealParts.ExecClient))
        : (Engine.Docker, o => (o.DockerPath, o.ExecClientPath) = (RealParts.DockerClient, RealParts.ExecClient));

    [Theory]
    [MemberData(nameof(Engines))]
    public async Task ExecClient_opens_the_terminal_with_the_command_as_given_inside_the_containers_confinement(string engineName)
    {
        var (engine, configure) = Runtime(engineName);
        engine.Require();
        RealParts.RequireExecClient();
        using var lab = ContainerLab.On(engine);
        var node = lab.StartContainer();
        await using var sut = new ManagerUnderTest(18890, 18894, configure);
        var command = new TerminalCommand
        {
            Arguments = ["sh", "-c", "printf '<%s>' \"$@\"; echo; echo who-$(id -u)-$PWD-$GREETING; exec sh", "sh", .. Awkward],
            User = "65534:65534",
            WorkingDirectory = "/tmp",
            Environment = ImmutableDictionary<string, string>.Empty.Add("GREETING", "hello \"world\""),
        };

        var session = await sut.Manager.EnsureSessionAsync(node, "alice", null, new TerminalRequest { Command = command }, Ct);
        await using var client = await TtydClient.ConnectAsync(session!.GetUrl(), Ct);

        // The arguments arrive one by one, unchanged; user, folder and variable apply; typing reaches the shell.
        await client.WaitForAsync(string.Concat(Awkward.Select(a => $"<{a}>")), Poll.Within(30));
        await client.WaitForAsync("who-65534-/tmp-hello \"world\"", Poll.Within(30));
        await client.TypeAsync("echo typed-$((6*7))\r", Ct);
        await client.WaitForAsync("typed-42", Poll.Within(30));

        // On the host: the session's terminal is opened by the exec client, not the CLI.
        MarkedProcess execClient = null!;
        await Poll.UntilAsync(() => sut.AllProcesses().SingleOrDefault(p => p.ExecutablePath == RealParts.ExecClient) is { } found && (execClient = found) is not null, Poll.Within(10));
        Assert.DoesNotContain(sut.AllProcesses(), p => p.ExecutablePath is { } exe && (exe.EndsWith("/docker", StringComparison.Ordinal) || exe.EndsWith("/podman", StringComparison.Ordinal)));

        // The shell the engine started carries the session's marker (passed by the client as -e) and the variables.
        var marker = Cmdline(execClient.Process.ProcessId).Single(a => a.StartsWith("TTYDPORTS_EXEC=", StringComparison.Ordinal))["TTYDPORTS_EXEC=".Length..];
        var shell = Assert.Single(sut.Supervisor.FindMarkedProcesses("TTYDPORTS_", "TTYDPORTS_EXEC", marker)).Process.ProcessId;
        var environment = File.ReadAllText($"/proc/{shell}/environ").Split('\0');
        Assert.Contains("GREETING=hello \"world\"", environment);
        Assert.Contains("TERM=screen-256color", environment);
        Assert.Contains("Uid:\t65534\t65534\t65534\t65534", File.ReadAllText($"/proc/{shell}/status"), StringComparison.Ordinal);

        // Confinement: the same cgroup, namespaces, capability bounding set, seccomp mode and LSM profile as the
        // container's init; the exec client on the host (negative control) differs, so the comparison can fail.
        var init = int.Parse(engine.Cli("inspect", "-f", "{{.State.Pid}}", node), System.Globalization.CultureInfo.InvariantCulture);
        Assert.Equal(Confinement(init), Confinement(shell));
        Assert.NotEqual(Confinement(init)["cgroup"], Confinement(execClient.Process.ProcessId)["cgroup"]);
        Assert.NotEqual(Confinement(init)["ns/mnt"], Confinement(execClient.Process.ProcessId)["ns/mnt"]);
        Assert.NotEqual(Confinement(init)["ns/pid"], Confinement(execClient.Process.ProcessId)["ns/pid"]);

        // Resize: the shell sees ttyd's first size (80x24, the control), then the new one after a resize frame. The
        // resize and the typed line travel separately (ttyd's pty, tmux, the client's resize call), so ask until it shows.
        await client.TypeAsync("echo size-$(stty size | tr ' ' x)\r", Ct);
        await client.WaitForAsync("size-24x80", Poll.Within(30));
        await client.ResizeAsync(100, 30, Ct);
        var resized = Poll.Within(30);
        for (var i = 1000; !client.Screen.Contains($"r{i - 1}-30x100", StringComparison.Ordinal); i++)
        {
            await client.TypeAsync($"echo r$(({i}+0))-$(stty size | tr ' ' x)\r", resized);
            await client.WaitForAsync($"r{i}-", resized);
        }

        // A stop ends the shell in the container and the client on the host; the container runs on (control).
        Assert.Single((await sut.Manager.CleanupUserAsync("alice", Ct)).Stopped);
        await Poll.UntilAsync(() => !Directory.Exists($"/proc/{shell}") && !Directory.Exists($"/proc/{execClient.Process.ProcessId}"), Poll.Within(10));
        Assert.Empty(sut.Supervisor.FindMarkedProcesses("TTYDPORTS_", "TTYDPORTS_EXEC", marker));
        Assert.Contains("sleep 3600", engine.Cli("exec", node, "ps"), StringComparison.Ordinal);
    }

    [Fact]
    public void ExecClient_refuses_bad_input_with_a_message_naming_it_and_runs_good_input()
    {
        RealParts.RequireExecClient();
        using var lab = new ContainerLab();
        var node = lab.StartContainer();
        var id = RealParts.Docker("inspect", "-f", "{{.Id}}", node);
        string[] socket = ["--socket", "/var/run/docker.sock"];

        // Control: a good call runs, and its exit code is the command's, as docker exec reports it.
        Assert.Equal(0, Client([.. socket, id, "--", "true"]).ExitCode);
        Assert.Equal(7, Client([.. socket, "--user", "65534", "--workdir", "/tmp", "-e", "A=b c", id, "--", "sh", "-c", "exit 7"]).ExitCode);

        foreach (var (arguments, code, says) in new (string[], int, string)[]
        {
            ([.. socket, "-e", "1BAD=x", id, "--", "sh"], 2, "-e '1BAD=x'"),
            ([.. socket, "-e", "NOVALUE", id, "--", "sh"], 2, "-e 'NOVALUE'"),
            (["--socket", "docker.sock", id, "--", "sh"], 2, "--socket 'docker.sock'"),
            ([.. socket, "--workdir", "tmp", id, "--", "sh"], 2, "--workdir 'tmp'"),
            ([.. socket, "--user", "", id, "--", "sh"], 2, "--user ''"),
            ([.. socket, "../" + id, "--", "sh"], 2, $"container '../{id}'"),
            ([.. socket, "--bogus", id, "--", "sh"], 2, "unknown option '--bogus'"),
            ([.. socket, id, "sh"], 2, "unexpected argument 'sh'"),
            ([.. socket, id, "--"], 2, "no command given"),
            ([id, "--", "sh"], 2, "--socket is required"),
            ([.. socket, "-e"], 2, "option -e needs a value"),
            ([.. socket, new string('f', 64), "--", "sh"], 125, "No such container"),
            (["--socket", "/nonexistent/engine.sock", id, "--", "sh"], 125, "cannot connect to the engine at unix:///nonexistent/engine.sock"),
        })
        {
            var (exitCode, output) = Client(arguments);
            Assert.True(exitCode == code && output.Contains(says, StringComparison.Ordinal), $"{string.Join(' ', arguments)}: exit {exitCode}, {output}");
        }
    }

    [Fact]
    public async Task ExecClient_escapes_every_argument_as_json_and_falls_back_to_the_engines_version_when_1_41_is_refused()
    {
        RealParts.RequireExecClient();
        var folder = Directory.CreateTempSubdirectory("ttydports-fake-engine-").FullName;
        var socketPath = Path.Combine(folder, "engine.sock");
        using var listener = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        listener.Bind(new UnixDomainSocketEndPoint(socketPath));
        listener.Listen(8);
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(Ct);
        var requests = new List<(string Line, string Body)>();

        // An engine that refuses API 1.41 as Docker 29 does, then answers the unversioned paths: the exec's id, a hijacked
        // stream with one line, and (chunked, with a nested ExitCode that must not be taken) the exit code 3.
        var engine = Task.Run(async () =>
        {
            while (!stop.IsCancellationRequested)
            {
                using var connection = await listener.AcceptAsync(stop.Token);
                var (line, body) = await ReadRequestAsync(connection, stop.Token);
                lock (requests)
                {
                    requests.Add((line, body));
                }

                var answer = line switch
                {
                    "POST /v1.41/containers/fake1/exec" => Http("400 Bad Request", """{"message":"client version 1.41 is too old. Minimum supported API version is 1.44, please upgrade your client to a newer version"}"""),
                    "POST /containers/fake1/exec" => Http("201 Created", """{"Id":"e0e0"}"""),
                    "POST /exec/e0e0/start" => "HTTP/1.1 101 UPGRADED\r\nContent-Type: application/vnd.docker.raw-stream\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n\r\nhello from the fake engine\r\n",
                    "GET /exec/e0e0/json" => "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + Chunked("""{"ID":"e0e0","Running":false,"ProcessConfig":{"ExitCode":99},"ExitCode":3}"""),
                    _ => Http("404 Not Found", """{"message":"unexpected"}"""),
                };
                await connection.SendAsync(Encoding.UTF8.GetBytes(answer), SocketFlags.None, stop.Token);
            }
        }, stop.Token);

        string[] awkward = ["a b", "q\"uo'te", "back\\slash", "tab\there", "line\nbreak", "ctl\u0001x", "del\u007fx", "ü€😀", "--user", "-e"];
        try
        {
            var (exitCode, output) = Client(["--socket", socketPath, "--user", "65534:65534", "--workdir", "/w d", "-e", "A=\"x\\y\"", "fake1", "--", .. awkward]);

            Assert.True(exitCode == 3, $"exit {exitCode}: {output}");
            Assert.Contains("hello from the fake engine", output, StringComparison.Ordinal);
            string[] lines;
            lock (requests)
            {
                lines = [.. requests.Select(r => r.Line)];
            }

            Assert.Equal(["POST /v1.41/containers/fake1/exec", "POST /containers/fake1/exec", "POST /exec/e0e0/start", "GET /exec/e0e0/json"], lines);
            using var created = JsonDocument.Parse(requests[1].Body);
            var root = created.RootElement;
            Assert.Equal(awkward, root.GetProperty("Cmd").EnumerateArray().Select(a => a.GetString()!).ToArray());
            Assert.Equal(["A=\"x\\y\""], root.GetProperty("Env").EnumerateArray().Select(a => a.GetString()!).ToArray());
            Assert.Equal("65534:65534", root.GetProperty("User").GetString());
            Assert.Equal("/w d", root.GetProperty("WorkingDir").GetString());
            Assert.True(root.GetProperty("Tty").GetBoolean() && root.GetProperty("AttachStdin").GetBoolean());
            Assert.Equal("""{"Detach":false,"Tty":true}""", requests[2].Body);

            // Fields not given are not sent (the engine's defaults apply: the image's user and folder).
            lock (requests)
            {
                requests.Clear();
            }

            Assert.Equal(3, Client(["--socket", socketPath, "fake1", "--", "sh"]).ExitCode);
            using var bare = JsonDocument.Parse(requests[1].Body);
            Assert.Equal(["AttachStdin", "AttachStdout", "AttachStderr", "Tty", "Cmd"], bare.RootElement.EnumerateObject().Select(p => p.Name).ToArray());
        }
        finally
        {
            await stop.CancelAsync();
            await Assert.ThrowsAnyAsync<OperationCanceledException>(() => engine);
            Directory.Delete(folder, recursive: true);
        }
    }

    // The engine's requests in order; the test's engine answers those before the frozen one and never that one.
    public static TheoryData<string, int> FrozenStages => new()
    {
        { "POST /v1.41/containers/fake1/exec", 1 },
        { "POST /v1.41/containers/fake1/exec", 15 },
        { "POST /v1.41/containers/fake1/exec", 0 },
        { "POST /v1.41/exec/e0e0/start", 1 },
        { "POST /v1.41/exec/e0e0/start", 15 },
        { "POST /v1.41/exec/e0e0/start", 0 },
        { "GET /v1.41/exec/e0e0/json", 1 },
        { "GET /v1.41/exec/e0e0/json", 15 },
        { "GET /v1.41/exec/e0e0/json", 0 },
    };

    [Theory]
    [MemberData(nameof(FrozenStages))]
    public async Task ExecClient_ends_at_once_on_SIGHUP_or_SIGTERM_while_a_frozen_engine_never_answers(string frozenRequest, int signal)
    {
        RealParts.RequireExecClient();
        var folder = Directory.CreateTempSubdirectory("ttydports-frozen-engine-").FullName;
        var socketPath = Path.Combine(folder, "engine.sock");
        using var listener = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        listener.Bind(new UnixDomainSocketEndPoint(socketPath));
        listener.Listen(8);
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(Ct);
        var frozen = new TaskCompletionSource<Socket>(TaskCreationOptions.RunContinuationsAsynchronously);

        // A frozen engine (as a SIGSTOPped dockerd, without stopping the shared one): the requests before the frozen one
        // are answered (the exec's id; the hijacked stream, which ends at once); that one is read and never answered.
        var engine = Task.Run(async () =>
        {
            while (!stop.IsCancellationRequested)
            {
                var connection = await listener.AcceptAsync(stop.Token);
                var (line, _) = await ReadRequestAsync(connection, stop.Token);
                if (line == frozenRequest)
                {
                    frozen.SetResult(connection);
                    continue;
                }

                using (connection)
                {
                    var answer = line switch
                    {
                        "POST /v1.41/containers/fake1/exec" => Http("201 Created", """{"Id":"e0e0"}"""),
                        "POST /v1.41/exec/e0e0/start" => "HTTP/1.1 101 UPGRADED\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n\r\n",
                        _ => Http("404 Not Found", """{"message":"unexpected"}"""),
                    };
                    await connection.SendAsync(Encoding.UTF8.GetBytes(answer), SocketFlags.None, stop.Token);
                }
            }
        }, stop.Token);

        // As ttyd runs it, but on pipes (no terminal of ours to put in raw mode).
        var start = new ProcessStartInfo(RealParts.ExecClient) { RedirectStandardInput = true, RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var argument in new[] { "--socket", socketPath, "-e", "TTYDPORTS_EXEC=frozen", "-e", "TERM=screen-256color", "fake1", "--", "sh" })
        {
            start.ArgumentList.Add(argument);
        }

        using var client = Process.Start(start)!;
        var output = Task.WhenAll(client.StandardOutput.ReadToEndAsync(Ct), client.StandardError.ReadToEndAsync(Ct));
        try
        {
            // Connected, its request read, and the client blocked in a read on its engine socket, the connection open.
            await Poll.UntilAsync(() => frozen.Task.IsCompleted || client.HasExited, Poll.Within(10));
            if (client.HasExited)
            {
                Assert.Fail($"the client ended before the frozen request {frozenRequest}: exit {client.ExitCode}, {string.Concat(await output)}");
            }

            await Poll.UntilAsync(() => ReadsFromASocket(client.Id) || client.HasExited, Poll.Within(10));
            var connection = await frozen.Task;
            Assert.True(!client.HasExited && Open(connection), $"the client is not waiting on the frozen engine at {frozenRequest}");

            Assert.Equal(0, Native.kill(client.Id, signal)); // 0: no signal (the control)
            var ended = await ExitsWithinAsync(client, 10);

            if (signal == 0)
            {
                // Control: without a signal it still waits, on the same connection, so only the signal can have ended it.
                if (ended)
                {
                    Assert.Fail($"the client ended without a signal: exit {client.ExitCode}, {string.Concat(await output)}");
                }

                Assert.True(ReadsFromASocket(client.Id) && Open(connection), $"the client no longer waits on the frozen engine at {frozenRequest}");
            }
            else
            {
                Assert.True(ended, $"signal {signal} did not end the client within 10 s while the engine did not answer {frozenRequest}");
                Assert.Equal(128 + signal, client.ExitCode);
            }
        }
        finally
        {
            if (!client.HasExited)
            {
                client.Kill();
            }

            await client.WaitForExitAsync(Ct);
            await stop.CancelAsync();
            await Assert.ThrowsAnyAsync<OperationCanceledException>(() => engine);
            if (frozen.Task.IsCompleted)
            {
                (await frozen.Task).Dispose();
            }

            listener.Dispose();
            Directory.Delete(folder, recursive: true);
        }
    }

    private static async Task<bool> ExitsWithinAsync(Process process, int seconds)
    {
        try
        {
            await Poll.UntilAsync(() => process.HasExited, Poll.Within(seconds));
            return true;
        }
        catch (OperationCanceledException) when (!Ct.IsCancellationRequested)
        {
            return false;
        }
    }

    // Blocked in read(2) on a socket: /proc/PID/syscall names the call and its first argument, the descriptor.
    private static bool ReadsFromASocket(int pid)
    {
        var read = RuntimeInformation.ProcessArchitecture switch
        {
            Architecture.X64 => "0",
            Architecture.Arm64 => "63",
            var other => throw new PlatformNotSupportedException($"read's syscall number on {other}"),
        };
        try
        {
            var call = File.ReadAllText($"/proc/{pid}/syscall").Split(' ');
            return call.Length > 1 && call[0] == read
                && new FileInfo($"/proc/{pid}/fd/{Convert.ToInt32(call[1], 16)}").LinkTarget is { } target && target.StartsWith("socket:", StringComparison.Ordinal);
        }
        catch (IOException)
        {
            return false; // ended meanwhile
        }
    }

    // Our end of the connection: open while the peer has neither closed it nor sent anything more.
    private static bool Open(Socket connection) => !(connection.Poll(0, SelectMode.SelectRead) && connection.Available == 0);

    private static string Http(string status, string json) =>
        $"HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {Encoding.UTF8.GetByteCount(json)}\r\nConnection: close\r\n\r\n{json}";

    private static string Chunked(string json)
    {
        var half = json.Length / 2;
        return $"{Encoding.UTF8.GetByteCount(json[..half]):x}\r\n{json[..half]}\r\n{Encoding.UTF8.GetByteCount(json[half..]):x}\r\n{json[half..]}\r\n0\r\n\r\n";
    }

    // The request line (without the HTTP version) and the body, read by Content-Length.
    private static async Task<(string Line, string Body)> ReadRequestAsync(Socket connection, CancellationToken cancellationToken)
    {
        var data = new List<byte>();
        var buffer = new byte[4096];
        int headerEnd;
        while ((headerEnd = IndexOf(data, "\r\n\r\n"u8.ToArray())) < 0)
        {
            var n = await connection.ReceiveAsync(buffer, SocketFlags.None, cancellationToken);
            if (n == 0)
            {
                throw new InvalidOperationException("the client closed before its request was complete");
            }

            data.AddRange(buffer.AsSpan(0, n));
        }

        var head = Encoding.UTF8.GetString([.. data.Take(headerEnd)]).Split("\r\n");
        var length = head.Skip(1).Select(h => h.Split(':', 2)).Where(h => h[0].Equals("Content-Length", StringComparison.OrdinalIgnoreCase)).Select(h => int.Parse(h[1].Trim(), System.Globalization.CultureInfo.InvariantCulture)).FirstOrDefault();
        while (data.Count < headerEnd + 4 + length)
        {
            var n = await connection.ReceiveAsync(buffer, SocketFlags.None, cancellationToken);
            if (n == 0)
            {
                break;
            }

            data.AddRange(buffer.AsSpan(0, n));
        }

        return (head[0][..head[0].LastIndexOf(' ')], Encoding.UTF8.GetString([.. data.Skip(headerEnd + 4).Take(length)]));
    }

    private static int IndexOf(List<byte> data, byte[] pattern)
    {
        for (var i = 0; i + pattern.Length <= data.Count; i++)
        {
            if (data.Skip(i).Take(pattern.Length).SequenceEqual(pattern))
            {
                return i;
            }
        }

        return -1;
    }

    private static (int ExitCode, string Output) Client(string[] arguments) => RealParts.Run(RealParts.ExecClient, arguments);

    private static string[] Cmdline(int pid) => File.ReadAllText($"/proc/{pid}/cmdline").TrimEnd('\0').Split('\0');

    // What confines a process, as the host's /proc shows it.
    private static Dictionary<string, string> Confinement(int pid)
    {
        var status = File.ReadAllLines($"/proc/{pid}/status");
        string Field(string name) => status.Single(l => l.StartsWith(name + ":", StringComparison.Ordinal))[(name.Length + 1)..].Trim();
        var found = new Dictionary<string, string>
        {
            ["cgroup"] = File.ReadAllText($"/proc/{pid}/cgroup"),
            ["CapBnd"] = Field("CapBnd"),
            ["Seccomp"] = Field("Seccomp"),
            ["NoNewPrivs"] = Field("NoNewPrivs"),
            ["lsm"] = File.Exists($"/proc/{pid}/attr/current") ? ReadOrNone($"/proc/{pid}/attr/current") : "none",
        };
        foreach (var ns in new[] { "mnt", "pid", "net", "uts", "ipc", "user", "cgroup" })
        {
            found["ns/" + ns] = new FileInfo($"/proc/{pid}/ns/{ns}").LinkTarget ?? "";
        }

        return found;
    }

    private static string ReadOrNone(string path)
    {
        try
        {
            return File.ReadAllText(path).TrimEnd('\0', '\n');
        }
        catch (IOException)
        {
            return "none";
        }
    }
}
