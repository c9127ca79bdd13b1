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
            Assert.Equal($"http://127.0.0.1:{port}/", terminal.GetProperty("url").GetString());
            Assert.Equal("running", terminal.GetProperty("status").GetString());
            Assert.Equal(topology, terminal.GetProperty("topology_id").GetString());
            using var page = await http.GetAsync(terminal.GetProperty("url").GetString(), Ct);
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
    public async Task Bad_deploy_input_is_a_400_error_and_creates_no_container(string body, string expected)
    {
        await using var sample = await SampleHost.StartAsync(19230, 19239);

        using var content = new StringContent(body, Encoding.UTF8, "application/json");
        using var response = await sample.Client.PostAsync("/api/lab/deploy", content, Ct);

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Contains(expected, (await TtydEndpointsTests.ReadJsonAsync(response)).GetProperty("message").GetString(), StringComparison.Ordinal);
        Assert.Empty(sample.Containers());
    }

    [Fact]
    public async Task Deleting_a_node_stops_its_ttyd_and_removes_its_container_and_nothing_else()
    {
        await using var sample = await SampleHost.StartAsync(19240, 19249);
        var nodes = (await sample.DeployAsync("alice")).GetProperty("nodes").EnumerateArray().Select(n => n.GetString()!).ToArray();
        await sample.GetOwnNodesAsync("alice");
        var sessions = sample.Manager.GetStatus().Sessions.ToDictionary(s => s.Session.Container, s => s.Session);

        using var response = await sample.Client.DeleteAsync($"/api/lab/nodes/{nodes[0]}?user_id=alice", Ct);

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

        using var response = await sample.Client.DeleteAsync($"/api/lab/nodes/{nodes[0]}?user_id=bob", Ct);

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

        using var response = await sample.Client.DeleteAsync($"/api/lab/topologies/{first}?user_id=alice", Ct);

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
