using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using TtydPorts.IntegrationTests;

namespace TtydPorts.AspNetCore.Tests;

/// <summary>The wire format of <c>MapTtydEndpoints</c> on a real host, over real ttyd and Docker.</summary>
[Collection(RealHostsCollection.Name)]
public sealed class TtydEndpointsTests(TestContainers containers)
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Status_of_an_idle_manager_is_exactly_the_seeds_format_with_zero_counts()
    {
        RealParts.Require();
        await using var host = await ApiHost.StartAsync(19000, 19009);

        using var response = await host.Client.GetAsync("/api/ttyd/status", Ct);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("application/json", response.Content.Headers.ContentType?.MediaType);
        Assert.Equal(
            """{"status":"success","data":{"active_sessions":0,"container_ports":0,"ttyd_processes":0,"containers":[],"processes":[]}}""",
            await response.Content.ReadAsStringAsync(Ct));
    }

    [Fact]
    public async Task Status_counts_and_names_the_containers_that_have_a_terminal()
    {
        var (a, b) = (containers.Start(), containers.Start());
        await using var host = await ApiHost.StartAsync(19010, 19019);
        await host.Manager.EnsureSessionAsync(a, "alice", "t1", Ct);
        await host.Manager.EnsureSessionAsync(b, "bob", "t2", Ct);

        var data = (await GetJsonAsync(host, "/api/ttyd/status")).GetProperty("data");

        Assert.Equal(2, data.GetProperty("active_sessions").GetInt32());
        Assert.Equal(2, data.GetProperty("container_ports").GetInt32());
        Assert.Equal(2, data.GetProperty("ttyd_processes").GetInt32());
        Assert.Equal(new[] { a, b }.Order(StringComparer.Ordinal), data.GetProperty("containers").EnumerateArray().Select(e => e.GetString()!).Order(StringComparer.Ordinal));
        Assert.Equal(new[] { a, b }.Order(StringComparer.Ordinal), data.GetProperty("processes").EnumerateArray().Select(e => e.GetString()!).Order(StringComparer.Ordinal));
    }

    [Fact]
    public async Task Cleanup_with_a_user_id_stops_exactly_that_users_terminals()
    {
        var (a, b) = (containers.Start(), containers.Start());
        await using var host = await ApiHost.StartAsync(19020, 19029);
        var alice = await host.Manager.EnsureSessionAsync(a, "alice", null, Ct);
        var alice1 = await host.Manager.EnsureSessionAsync(b, "alice1", null, Ct);

        using var response = await host.Client.PostAsJsonAsync("/api/ttyd/cleanup", new { user_id = "alice" }, Ct);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var json = await ReadJsonAsync(response);
        Assert.Equal("success", json.GetProperty("status").GetString());
        Assert.Equal("Stopped 1 terminal(s) of user 'alice'.", json.GetProperty("message").GetString());
        Assert.Equal(["status", "message"], json.EnumerateObject().Select(p => p.Name));
        Assert.False(host.Supervisor.IsAlive(alice!.Process));
        Assert.True(host.Supervisor.IsAlive(alice1!.Process));
    }

    [Theory]
    [InlineData("")]
    [InlineData(" \r\n")]
    [InlineData("""{"all":true}""")]
    public async Task Cleanup_with_an_empty_json_body_or_all_true_stops_every_terminal(string body)
    {
        var (a, b) = (containers.Start(), containers.Start());
        await using var host = await ApiHost.StartAsync(19030, 19039);
        var first = await host.Manager.EnsureSessionAsync(a, "alice", null, Ct);
        var second = await host.Manager.EnsureSessionAsync(b, "bob", null, Ct);

        using var content = new StringContent(body, Encoding.UTF8, "application/json");
        using var response = await host.Client.PostAsync("/api/ttyd/cleanup", content, Ct);

        var json = await ReadJsonAsync(response);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("Stopped 2 terminal(s) of all users.", json.GetProperty("message").GetString());
        Assert.False(host.Supervisor.IsAlive(first!.Process));
        Assert.False(host.Supervisor.IsAlive(second!.Process));
        Assert.Empty(host.Manager.GetStatus().Sessions);
    }

    [Theory]
    [InlineData("""{"user_id":""", "not valid JSON (line 1, byte 12)")]
    [InlineData("not json", "not valid JSON (line 1, byte 2)")]
    [InlineData("[]", "The request body is an array, not a JSON object")]
    [InlineData("null", "The request body is null, not a JSON object")]
    [InlineData("{}", "The cleanup request names no user: send {\"user_id\":\"...\"} for one user, or {\"all\":true}")]
    [InlineData("""{"user_id":null}""", "'user_id' must be a string, not null")]
    [InlineData("""{"user_id":42}""", "'user_id' must be a string, not a number")]
    [InlineData("""{"userId":"alice"}""", "Unknown field(s) 'userId' in the cleanup request")]
    [InlineData("""{"user_id":"alice","User_Id":"bob","al l":true}""", "Unknown field(s) 'User_Id', 'al l' in the cleanup request")]
    [InlineData("""{"user_id":"alice","user_id":"bob"}""", "The field 'user_id' is given twice")]
    [InlineData("""{"all":false}""", "'all' can only be true, not a boolean")]
    [InlineData("""{"all":"true"}""", "'all' can only be true, not a string")]
    [InlineData("""{"all":true,"user_id":"alice"}""", "Give either 'user_id' or 'all', not both")]
    [InlineData("""{"user_id":""}""", "User id '' is invalid")]
    [InlineData("""{"user_id":"../etc"}""", "User id '../etc' is invalid")]
    [InlineData("""{"user_id":"a b"}""", "User id 'a b' is invalid")]
    [InlineData("""{"user_id":"-rf"}""", "User id '-rf' is invalid")]
    [InlineData("""{"user_id":"al\nice"}""", "User id 'al\\u000aice' is invalid")]
    [InlineData("""{"user_id":"\ud800"}""", "a string that is not valid Unicode")]
    [InlineData("""{"\udc00x":true}""", "a string that is not valid Unicode")]
    public async Task Bad_cleanup_input_is_a_400_error_that_names_it_and_stops_nothing(string body, string expected)
    {
        var container = containers.Start();
        await using var host = await ApiHost.StartAsync(19040, 19049);
        var session = await host.Manager.EnsureSessionAsync(container, "alice", null, Ct);

        using var content = new StringContent(body, Encoding.UTF8, "application/json");
        using var response = await host.Client.PostAsync("/api/ttyd/cleanup", content, Ct);

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        var json = await ReadJsonAsync(response);
        Assert.Equal(["status", "message"], json.EnumerateObject().Select(p => p.Name));
        Assert.Equal("error", json.GetProperty("status").GetString());
        var message = json.GetProperty("message").GetString();
        Assert.Contains(expected, message, StringComparison.Ordinal);
        Assert.DoesNotContain("   at ", message, StringComparison.Ordinal);
        Assert.DoesNotContain("TtydPorts", message, StringComparison.Ordinal);
        Assert.DoesNotContain("System.", message, StringComparison.Ordinal);
        Assert.True(host.Supervisor.IsAlive(session!.Process));

        // Positive control: the same session does stop for a well-formed request.
        using var good = await host.Client.PostAsJsonAsync("/api/ttyd/cleanup", new { user_id = "alice" }, Ct);
        Assert.Equal(HttpStatusCode.OK, good.StatusCode);
        Assert.False(host.Supervisor.IsAlive(session.Process));
    }

    [Theory]
    [InlineData("application/x-www-form-urlencoded", "user_id=alice")]
    [InlineData("application/x-www-form-urlencoded", "")]
    [InlineData("text/plain", """{"user_id":"alice"}""")]
    [InlineData("text/plain", "")]
    [InlineData("multipart/form-data; boundary=x", "--x--\r\n")]
    [InlineData(null, "")]
    [InlineData(null, """{"user_id":"alice"}""")]
    public async Task A_cleanup_request_that_is_not_json_is_a_415_error_even_without_a_body_and_stops_nothing(string? contentType, string body)
    {
        var container = containers.Start();
        await using var host = await ApiHost.StartAsync(19050, 19059);
        var session = await host.Manager.EnsureSessionAsync(container, "alice", null, Ct);

        using var content = new ByteArrayContent(Encoding.UTF8.GetBytes(body));
        if (contentType is not null)
        {
            content.Headers.TryAddWithoutValidation("Content-Type", contentType);
        }

        using var response = await host.Client.PostAsync("/api/ttyd/cleanup", content, Ct);

        Assert.Equal(HttpStatusCode.UnsupportedMediaType, response.StatusCode);
        var json = await ReadJsonAsync(response);
        Assert.Equal("error", json.GetProperty("status").GetString());
        Assert.Contains($"not '{contentType?.Split(';')[0] ?? "(none)"}", json.GetProperty("message").GetString(), StringComparison.Ordinal);
        Assert.True(host.Supervisor.IsAlive(session!.Process));
    }

    [Fact]
    public async Task A_container_held_by_another_user_is_a_409_that_names_neither_the_user_nor_the_topology()
    {
        var container = containers.Start();
        await using var host = await ApiHost.StartAsync(19070, 19079, configureEndpoints: e =>
            e.Group.MapGet("open", async (string container, string user, string? topology, ITtydSessionManager m) => (await m.EnsureSessionAsync(container, user, topology))?.Port));
        var held = await host.Manager.EnsureSessionAsync(container, "alice-owner", "topo-secret", Ct);

        using var byBob = await host.Client.GetAsync($"/api/ttyd/open?container={container}&user=bob", Ct);
        using var otherTopology = await host.Client.GetAsync($"/api/ttyd/open?container={container}&user=alice-owner&topology=topo-other", Ct);
        using var owner = await host.Client.GetAsync($"/api/ttyd/open?container={container}&user=alice-owner&topology=topo-secret", Ct);

        Assert.Equal(HttpStatusCode.Conflict, byBob.StatusCode);
        var json = await ReadJsonAsync(byBob);
        Assert.Equal(["status", "message"], json.EnumerateObject().Select(p => p.Name));
        Assert.Equal($"Container '{container}' is held by another user.", json.GetProperty("message").GetString());
        Assert.Equal(HttpStatusCode.Conflict, otherTopology.StatusCode);
        Assert.DoesNotContain("topo-secret", await otherTopology.Content.ReadAsStringAsync(Ct), StringComparison.Ordinal);
        Assert.Equal(HttpStatusCode.OK, owner.StatusCode);
        Assert.Equal(held!.Port.ToString(System.Globalization.CultureInfo.InvariantCulture), await owner.Content.ReadAsStringAsync(Ct));
    }

    [Fact]
    public async Task A_cleanup_body_over_16_KiB_is_a_413_error()
    {
        RealParts.Require();
        await using var host = await ApiHost.StartAsync(19060, 19069);

        using var content = new StringContent($$"""{"user_id":"alice","pad":"{{new string('x', 20_000)}}"}""", Encoding.UTF8, "application/json");
        using var response = await host.Client.PostAsync("/api/ttyd/cleanup", content, Ct);

        Assert.Equal(HttpStatusCode.RequestEntityTooLarge, response.StatusCode);
        Assert.Equal("error", (await ReadJsonAsync(response)).GetProperty("status").GetString());
    }

    private static async Task<JsonElement> GetJsonAsync(ApiHost host, string path)
    {
        using var response = await host.Client.GetAsync(path, Ct);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        return await ReadJsonAsync(response);
    }

    internal static async Task<JsonElement> ReadJsonAsync(HttpResponseMessage response)
    {
        Assert.Equal("application/json", response.Content.Headers.ContentType?.MediaType);
        using var document = JsonDocument.Parse(await response.Content.ReadAsStringAsync(Ct));
        return document.RootElement.Clone();
    }
}
