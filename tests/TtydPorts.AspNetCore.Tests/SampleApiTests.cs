using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using TtydPorts.IntegrationTests;

namespace TtydPorts.AspNetCore.Tests;

/// <summary>The NetLabBuilder sample's endpoints on a real host, over real ttyd and Docker.</summary>
[Collection(RealHostsCollection.Name)]
public sealed class SampleApiTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Deploy_then_getOwnNodes_gives_every_node_a_live_terminal_in_the_seeds_format_and_reuses_it()
    {
        await using var sample = await SampleHost.StartAsync(19200, 19209);

        var deployed = await sample.DeployAsync("alice");
        var first = await sample.GetOwnNodesAsync("alice");
        var second = await sample.GetOwnNodesAsync("alice");

        var topology = deployed.GetProperty("topology_id").GetString()!;
        var nodes = deployed.GetProperty("nodes").EnumerateArray().Select(n => n.GetString()!).ToArray();
        Assert.Equal(2, nodes.Length);
        Assert.Equal(nodes, sample.Containers());
        Assert.Equal(["status", "user_id", "terminals"], first.EnumerateObject().Select(p => p.Name));
        Assert.Equal(("success", "alice"), (first.GetProperty("status").GetString(), first.GetProperty("user_id").GetString()));
        var terminals = first.GetProperty("terminals").EnumerateArray().ToArray();
        Assert.Equal(nodes, terminals.Select(t => t.GetProperty("container_name").GetString()));
        using var http = new HttpClient();
        foreach (var terminal in terminals)
        {
            Assert.Equal(["container_name", "url", "port", "status", "topology_id"], terminal.EnumerateObject().Select(p => p.Name));
            var port = terminal.GetProperty("port").GetInt32();
            Assert.InRange(port, 19200, 19209);
            var url = new Uri(terminal.GetProperty("url").GetString()!);
            Assert.Equal($"http://127.0.0.1:{port}/", $"{url.Scheme}://{url.Authority}{url.AbsolutePath}");
            Assert.Matches("^ttydports:[A-Za-z0-9_-]{43}$", url.UserInfo); // the terminal's own credential, for a one-click open
            Assert.Equal("running", terminal.GetProperty("status").GetString());
            Assert.Equal(topology, terminal.GetProperty("topology_id").GetString());
            using (var anonymous = await http.GetAsync($"http://127.0.0.1:{port}/", Ct))
            {
                Assert.Equal(HttpStatusCode.Unauthorized, anonymous.StatusCode);
            }

            using var signedIn = new HttpRequestMessage(HttpMethod.Get, url);
            signedIn.Headers.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Basic", Convert.ToBase64String(Encoding.UTF8.GetBytes(url.UserInfo)));
            using var page = await http.SendAsync(signedIn, Ct);
            Assert.Equal(HttpStatusCode.OK, page.StatusCode);
        }

        Assert.Equal(first.GetProperty("terminals").ToString(), second.GetProperty("terminals").ToString());
        Assert.Equal(2, sample.TtydProcesses().Count);
        var labels = RealParts.Docker("inspect", "--format", "{{index .Config.Labels \"netlab.user\"}} {{index .Config.Labels \"netlab.topology\"}}", nodes[0]);
        Assert.Equal($"alice {topology}", labels);
    }

    [Fact]
    public async Task getOwnNodes_of_a_user_without_nodes_is_an_empty_list()
    {
        await using var sample = await SampleHost.StartAsync(19210, 19219);
        await sample.DeployAsync("alice");

        var json = await sample.GetOwnNodesAsync("alice1");

        Assert.Equal("""{"status":"success","user_id":"alice1","terminals":[]}""", json.ToString().Replace(" ", "", StringComparison.Ordinal).Replace("\r", "", StringComparison.Ordinal).Replace("\n", "", StringComparison.Ordinal));
        Assert.Empty(sample.TtydProcesses());
    }

    [Theory]
    [InlineData("/api/ttyd/getOwnNodes", "user_id is required")]
    [InlineData("/api/ttyd/getOwnNodes?user_id=", "User id '' is invalid")]
    [InlineData("/api/ttyd/getOwnNodes?user_id=..%2Fetc", "User id '../etc' is invalid")]
    [InlineData("/api/ttyd/getOwnNodes?user_id=a%3Bb", "User id 'a;b' is invalid")]
    public async Task getOwnNodes_without_a_valid_user_id_is_a_400_error_that_names_it(string path, string expected)
    {
        await using var sample = await SampleHost.StartAsync(19220, 19229);

        using var response = await sample.Client.GetAsync(path, Ct);

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        var json = await TtydEndpointsTests.ReadJsonAsync(response);
        Assert.Equal("error", json.GetProperty("status").GetString());
        Assert.Contains(expected, json.GetProperty("message").GetString(), StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("""{"user_id":""", "not a valid JSON object")]
    [InlineData("""{"user_id":"alice","nodes":9}""", "nodes 9 is out of range")]
    [InlineData("""{"nodes":1}""", "user_id is required")]
    [InlineData("""{"userId":"alice"}""", "(at $.userId, line 1")]
    [InlineData("""{"user_id":"alice","nodes":"3"}""", "(at $.nodes, line 1")]
    public async Task Bad_deploy_input_is_a_400_error_and_creates_no_container(string body, string expected)
    {
        await using var sample = await SampleHost.StartAsync(19230, 19239);

        using var content = new StringContent(body, Encoding.UTF8, "application/json");
        using var response = await sample.Client.PostAsync("/api/lab/deploy", content, Ct);

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        var message = (await TtydEndpointsTests.ReadJsonAsync(response)).GetProperty("message").GetString();
        Assert.Contains(expected, message, StringComparison.Ordinal);
        Assert.DoesNotContain("NetLabBuilder", message, StringComparison.Ordinal);
        Assert.DoesNotContain("DeployRequest", message, StringComparison.Ordinal);
        Assert.Empty(sample.Containers());
    }

    [Fact]
    public async Task State_changing_requests_that_are_not_json_are_a_415_and_change_nothing()
    {
        await using var sample = await SampleHost.StartAsync(19240, 19249);
        await sample.DeployAsync("alice");
        var nodes = sample.Containers();
        var topology = (await sample.GetOwnNodesAsync("alice")).GetProperty("terminals")[0].GetProperty("topology_id").GetString();
        var processes = sample.TtydProcesses().Count;

        // What a page of another site can send without a preflight: a form, text/plain, or a body without a content type.
        using var form = await sample.Client.PostAsync("/api/lab/deploy", new FormUrlEncodedContent([new("user_id", "mallory")]), Ct);
        using var text = await sample.Client.PostAsync("/api/lab/deploy", new StringContent("""{"user_id":"mallory"}""", Encoding.UTF8, "text/plain"), Ct);
        using var deleteNode = await sample.Client.DeleteAsync($"/api/lab/nodes/{nodes[0]}?user_id=alice", Ct);
        using var clear = await sample.Client.DeleteAsync($"/api/lab/topologies/{topology}?user_id=alice", Ct);

        Assert.All([form, text, deleteNode, clear], r => Assert.Equal(HttpStatusCode.UnsupportedMediaType, r.StatusCode));
        Assert.Contains("application/json", (await TtydEndpointsTests.ReadJsonAsync(text)).GetProperty("message").GetString(), StringComparison.Ordinal);
        Assert.Equal(nodes, sample.Containers());
        Assert.Equal(processes, sample.TtydProcesses().Count);

        // Positive control: the same delete as the page sends it (JSON content type) does remove the node.
        using var deleted = await sample.DeleteAsync($"/api/lab/nodes/{nodes[0]}?user_id=alice");
        Assert.Equal(HttpStatusCode.OK, deleted.StatusCode);
        Assert.Equal(nodes.Skip(1), sample.Containers());
    }

    [Fact]
    public async Task A_request_under_another_host_name_is_refused_so_dns_rebinding_cannot_read_the_terminal_urls()
    {
        await using var sample = await SampleHost.StartAsync(19250, 19259);
        await sample.DeployAsync("alice");

        using var rebound = new HttpRequestMessage(HttpMethod.Get, "/api/ttyd/getOwnNodes?user_id=alice");
        rebound.Headers.Host = $"evil.test:{sample.BaseAddress.Port}";
        using var refused = await sample.Client.SendAsync(rebound, Ct);
        using var loopback = await sample.Client.GetAsync("/api/ttyd/getOwnNodes?user_id=alice", Ct);

        Assert.Equal(HttpStatusCode.BadRequest, refused.StatusCode);
        Assert.DoesNotContain("ttydports:", await refused.Content.ReadAsStringAsync(Ct), StringComparison.Ordinal);
        Assert.Equal(HttpStatusCode.OK, loopback.StatusCode);
        Assert.Contains("ttydports:", await loopback.Content.ReadAsStringAsync(Ct), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Deleting_a_node_stops_its_ttyd_and_removes_its_container_and_nothing_else()
    {
        await using var sample = await SampleHost.StartAsync(19240, 19249);
        var nodes = (await sample.DeployAsync("alice")).GetProperty("nodes").EnumerateArray().Select(n => n.GetString()!).ToArray();
        await sample.GetOwnNodesAsync("alice");
        var sessions = sample.Manager.GetStatus().Sessions.ToDictionary(s => s.Session.Container, s => s.Session);

        using var response = await sample.DeleteAsync($"/api/lab/nodes/{nodes[0]}?user_id=alice");

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("success", (await TtydEndpointsTests.ReadJsonAsync(response)).GetProperty("status").GetString());
        Assert.False(sample.Supervisor.IsAlive(sessions[nodes[0]].Process));
        Assert.True(sample.Supervisor.IsAlive(sessions[nodes[1]].Process));
        Assert.Equal([nodes[1]], sample.Containers());
        Assert.Equal([sessions[nodes[1]].ProcessId], sample.TtydProcesses().Select(p => p.Process.ProcessId));
    }

    [Fact]
    public async Task Deleting_another_users_node_is_a_404_and_stops_nothing()
    {
        await using var sample = await SampleHost.StartAsync(19250, 19259);
        var nodes = (await sample.DeployAsync("alice")).GetProperty("nodes").EnumerateArray().Select(n => n.GetString()!).ToArray();
        await sample.GetOwnNodesAsync("alice");

        using var response = await sample.DeleteAsync($"/api/lab/nodes/{nodes[0]}?user_id=bob");

        Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
        Assert.Equal($"User 'bob' has no node '{nodes[0]}'.", (await TtydEndpointsTests.ReadJsonAsync(response)).GetProperty("message").GetString());
        Assert.Equal(2, sample.TtydProcesses().Count);
        Assert.Equal(nodes, sample.Containers());
    }

    [Fact]
    public async Task Clearing_a_topology_stops_its_terminals_and_removes_its_nodes_but_not_another_topologys()
    {
        await using var sample = await SampleHost.StartAsync(19260, 19269);
        var first = (await sample.DeployAsync("alice")).GetProperty("topology_id").GetString()!;
        var kept = (await sample.DeployAsync("alice")).GetProperty("nodes").EnumerateArray().Select(n => n.GetString()!).ToArray();
        await sample.GetOwnNodesAsync("alice");
        Assert.Equal(4, sample.TtydProcesses().Count);

        using var response = await sample.DeleteAsync($"/api/lab/topologies/{first}?user_id=alice");

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(
            $"Topology '{first}' cleared: 2 terminal(s) stopped, 2 node(s) removed.",
            (await TtydEndpointsTests.ReadJsonAsync(response)).GetProperty("message").GetString());
        Assert.Equal(kept, sample.Containers());
        Assert.Equal(kept, sample.Manager.GetStatus().Containers.Order(StringComparer.Ordinal));
        Assert.Equal(2, sample.TtydProcesses().Count);
    }

    [Fact]
    public async Task Stopping_the_sample_removes_its_terminals_and_containers()
    {
        var sample = await SampleHost.StartAsync(19270, 19279);
        await using (sample)
        {
            await sample.DeployAsync("alice");
            await sample.GetOwnNodesAsync("alice");
            Assert.Equal(2, sample.TtydProcesses().Count);

            await sample.StopAsync();

            Assert.Empty(sample.TtydProcesses());
            Assert.Empty(sample.Containers());
        }
    }

    [Fact]
    public async Task The_health_endpoint_reports_healthy_and_the_status_endpoint_counts_the_labs_terminals()
    {
        await using var sample = await SampleHost.StartAsync(19280, 19289);
        await sample.DeployAsync("alice");
        await sample.GetOwnNodesAsync("alice");

        var health = await sample.Client.GetStringAsync("/healthz", Ct);
        var status = await sample.Client.GetFromJsonAsync<JsonElement>("/api/ttyd/status", Ct);

        Assert.Equal("Healthy", health);
        Assert.Equal(2, status.GetProperty("data").GetProperty("active_sessions").GetInt32());
    }
}
