using System.Diagnostics;
using System.Text.Json;

namespace TtydPorts.IntegrationTests;

/// <summary>
/// The engines the runtime tests use (scripts/docker-tls-up.sh, scripts/docker-rootless-up.sh, scripts/podman-up.sh)
/// work as the helpers promise:
/// containers start, take commands and terminals, and go with their lab; only our client certificate reaches the TLS
/// engine; Podman's service answers the Docker Engine API calls an inventory makes, with Podman's own event names.
/// </summary>
[Collection(RealPartsCollection.Name)]
public sealed class EngineTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    public static TheoryData<string> Engines => ["docker", "docker-tls", "docker-rootless", "podman", "podman-remote"];

    private static Engine Named(string name) => name switch
    {
        "docker" => Engine.Docker,
        "docker-tls" => Engine.DockerTls,
        "docker-rootless" => Engine.DockerRootless,
        "podman" => Engine.Podman,
        _ => Engine.PodmanRemote,
    };

    [Theory]
    [MemberData(nameof(Engines))]
    public void A_labelled_test_container_starts_runs_a_command_and_goes_with_its_lab(string name)
    {
        var engine = Named(name);
        string container;
        using (var lab = ContainerLab.On(engine))
        {
            container = lab.StartContainer();
            Assert.Equal($"ok {container}", engine.Cli("exec", container, "sh", "-c", "echo ok $(hostname)"));
            Assert.Contains(RealParts.TestLabel.Split('=')[0], engine.Cli("inspect", "--format", "{{json .Config.Labels}}", container), StringComparison.Ordinal);
        }

        Assert.NotEqual(0, engine.Run("inspect", container).ExitCode);
    }

    [Theory]
    [MemberData(nameof(Engines))]
    public async Task Ttyd_running_the_engines_exec_it_gives_a_shell_in_the_container(string name)
    {
        var engine = Named(name);
        using var lab = ContainerLab.On(engine);
        var container = lab.StartContainer();
        var dir = Directory.CreateTempSubdirectory("tp-engine-").FullName;
        var socket = Path.Combine(dir, "ttyd.sock");
        var start = new ProcessStartInfo("ttyd", ["-i", socket, "-W", .. engine.TerminalCommand(container)]) { RedirectStandardError = true };
        foreach (var (variable, value) in engine.Environment)
        {
            if (value is null)
            {
                start.Environment.Remove(variable);
            }
            else
            {
                start.Environment[variable] = value;
            }
        }

        using var ttyd = Process.Start(start)!;
        ttyd.ErrorDataReceived += (_, _) => { };
        ttyd.BeginErrorReadLine();
        try
        {
            // The file appears at bind(), before listen(): wait until a connection is taken.
            await Poll.UntilAsync(() => Listens(socket) || ttyd.HasExited, Poll.Within(10));
            await using var client = await TtydClient.ConnectAsync(new Uri("ws://localhost/ws"), null, socket, null, Poll.Within(10));
            await client.WaitForAsync("# ", Poll.Within(20));
            await client.TypeAsync("echo hello-$((6*7)) $(hostname)\r", Ct);
            await client.WaitForAsync($"hello-42 {container}", Poll.Within(10));
        }
        finally
        {
            ttyd.Kill();
            await ttyd.WaitForExitAsync(Ct);
            Directory.Delete(dir, recursive: true);
        }
    }

    private static bool Listens(string socketPath)
    {
        try
        {
            using var probe = new System.Net.Sockets.Socket(System.Net.Sockets.AddressFamily.Unix, System.Net.Sockets.SocketType.Stream, System.Net.Sockets.ProtocolType.Unspecified);
            probe.Connect(new System.Net.Sockets.UnixDomainSocketEndPoint(socketPath));
            return true;
        }
        catch (System.Net.Sockets.SocketException)
        {
            return false;
        }
    }

    [Fact]
    public void The_TLS_engine_refuses_a_client_of_another_CA_and_our_client_refuses_an_engine_of_another_CA()
    {
        RealParts.RequireTlsEngine();
        var wrongClient = Engine.DockerTls with { Environment = RealParts.TlsEnvironment(RealParts.WrongTlsCertPath) };

        var (code, output) = wrongClient.Run("version", "--format", "{{.Server.Version}}");
        Assert.NotEqual(0, code);
        Assert.Contains("tls: bad certificate", output, StringComparison.Ordinal);

        var untrusting = Engine.DockerTls with
        {
            Environment = new Dictionary<string, string?> { ["DOCKER_HOST"] = null, ["DOCKER_CONTEXT"] = null, ["DOCKER_CERT_PATH"] = null, ["DOCKER_TLS_VERIFY"] = null },
            CliArgs = ["--tlsverify", "--tlscacert", RealParts.OtherCaFile, "--tlscert", Path.Combine(RealParts.TlsCertPath, "cert.pem"),
                "--tlskey", Path.Combine(RealParts.TlsCertPath, "key.pem"), "-H", RealParts.TlsEndpoint],
        };
        (code, output) = untrusting.Run("version", "--format", "{{.Server.Version}}");
        Assert.NotEqual(0, code);
        Assert.Contains("certificate signed by unknown authority", output, StringComparison.Ordinal);

        Assert.Equal(0, Engine.DockerTls.Run("version").ExitCode);
    }

    [Fact]
    public async Task Podmans_service_answers_version_list_inspect_and_events_with_remove_where_docker_says_destroy()
    {
        RealParts.RequirePodman();
        using var http = new HttpClient(TtydClient.UnixSocketHandler(RealParts.PodmanSocket)) { BaseAddress = new Uri("http://podman/") };
        using var version = JsonDocument.Parse(await http.GetStringAsync("version", Ct));
        Assert.Equal("1.41", version.RootElement.GetProperty("ApiVersion").GetString());

        // Events from now on, as a repair service follows them.
        var since = DateTimeOffset.UtcNow.ToUnixTimeSeconds() - 1;
        using var lab = ContainerLab.On(Engine.Podman);
        var container = lab.StartContainer();

        var filter = Uri.EscapeDataString($"{{\"label\":[\"{RealParts.TestLabel}\"]}}");
        using var list = JsonDocument.Parse(await http.GetStringAsync($"v1.41/containers/json?filters={filter}", Ct));
        var listed = Assert.Single(list.RootElement.EnumerateArray(), c => c.GetProperty("Names")[0].GetString() == "/" + container);
        Assert.Equal("1", listed.GetProperty("Labels").GetProperty("ttydports.test").GetString());

        using var inspect = JsonDocument.Parse(await http.GetStringAsync($"v1.41/containers/{container}/json", Ct));
        Assert.True(inspect.RootElement.GetProperty("State").GetProperty("Running").GetBoolean());
        Assert.Equal(listed.GetProperty("Id").GetString(), inspect.RootElement.GetProperty("Id").GetString());

        lab.Remove(container);
        // A later container's start marks the end: everything podman says about the first one comes before it. Not
        // `until`: podman's file reader stops at that time whether or not it has read that far (a CI run under load
        // got no events at all), so the stream is followed as a repair service follows it.
        var marker = lab.StartContainer();
        using var follow = CancellationTokenSource.CreateLinkedTokenSource(Ct);
        follow.CancelAfter(TimeSpan.FromSeconds(60));
        using var stream = await http.GetStreamAsync($"v1.41/events?since={since}&filters={Uri.EscapeDataString("{\"type\":[\"container\"]}")}", follow.Token);
        using var reader = new StreamReader(stream);
        var actions = new List<string?>();
        while (await reader.ReadLineAsync(follow.Token) is { } line)
        {
            if (line.Length == 0)
            {
                continue;
            }
            using var e = JsonDocument.Parse(line);
            var name = e.RootElement.GetProperty("Actor").GetProperty("Attributes").GetProperty("name").GetString();
            var action = e.RootElement.GetProperty("Action").GetString();
            if (name == marker && action == "start")
            {
                break;
            }
            if (name == container)
            {
                actions.Add(action);
            }
        }
        Assert.Contains("start", actions);
        Assert.Contains("remove", actions);
        Assert.DoesNotContain("destroy", actions);
    }
}
