using System.Net;
using System.Net.WebSockets;
using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;
using TtydPorts.IntegrationTests;

namespace TtydPorts.AspNetCore.Tests;

/// <summary>
/// The sample's NetLab profile over HTTP, on real ttyd, tmux and Docker: the NetLab frontend's endpoints with the original
/// backend's answers, CORS for the configured origin only, and terminals at capability URLs.
/// </summary>
[Collection(RealHostsCollection.Name)]
public sealed partial class NetlabProfileApiTests
{
    private const string Frontend = "http://localhost:5173";
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Netlab_endpoints_answer_with_the_original_shapes_and_getOwnNodes_leaves_out_stopped_nodes()
    {
        await using var sample = await NetlabSample.StartAsync(Frontend);
        var http = sample.Client;
        const string Guest = "guest_k3x9q1";

        // start-topology: 202 with the original's fields; the nodes exist when it answers.
        using (var start = await PostJsonAsync(http, "/api/start-topology", """{"user_id":"guest_k3x9q1","topology":"mini_ring"}"""))
        {
            Assert.Equal(HttpStatusCode.Accepted, start.StatusCode);
            var body = await JsonAsync(start);
            Assert.Equal(["status", "user_id", "topology", "message"], body.EnumerateObject().Select(p => p.Name));
            Assert.Equal(("success", Guest, "mini_ring"), (body.GetProperty("status").GetString(), body.GetProperty("user_id").GetString(), body.GetProperty("topology").GetString()));
        }

        var containers = sample.Containers();
        Assert.Equal(2, containers.Count);
        Assert.All(containers, c => Assert.Matches(@"_[12]$", c)); // the frontend numbers a node by what follows its last '_'

        // getOwnNodes: every running node with its terminal already started, url a capability URL, port null.
        var own = await OwnNodesAsync(http, Guest);
        Assert.Equal(["status", "user_id", "terminals"], own.EnumerateObject().Select(p => p.Name));
        var terminals = own.GetProperty("terminals").EnumerateArray().ToArray();
        Assert.Equal(containers, terminals.Select(t => t.GetProperty("container_name").GetString()));
        foreach (var terminal in terminals)
        {
            Assert.Equal(["container_name", "url", "port", "status"], terminal.EnumerateObject().Select(p => p.Name));
            Assert.Matches(CapabilityUrl(sample), terminal.GetProperty("url").GetString()!);
            Assert.Equal(JsonValueKind.Null, terminal.GetProperty("port").ValueKind);
            Assert.Equal("running", terminal.GetProperty("status").GetString());
            using var page = await http.GetAsync(terminal.GetProperty("url").GetString(), Ct);
            Assert.Equal(HttpStatusCode.OK, page.StatusCode);
        }

        // The same session keeps its URL from poll to poll (the frontend reloads an iframe whose src changes).
        var again = (await OwnNodesAsync(http, Guest)).GetProperty("terminals").EnumerateArray().Select(t => t.GetProperty("url").GetString()).ToArray();
        Assert.Equal(terminals.Select(t => t.GetProperty("url").GetString()), again);

        // A stopped node is left out (positive control above: it was listed while it ran).
        RealParts.Docker("kill", containers[0]);
        var afterStop = (await OwnNodesAsync(http, Guest)).GetProperty("terminals").EnumerateArray().Select(t => t.GetProperty("container_name").GetString()!).ToArray();
        Assert.Equal([containers[1]], afterStop);
        Assert.Equal(containers, sample.Containers()); // still there, just not running

        // One topology per user, as the original; unknown topologies, missing ids and other bodies are refused.
        using (var second = await PostJsonAsync(http, "/api/start-topology", """{"user_id":"guest_k3x9q1","topology":"ring"}"""))
        {
            Assert.Equal(HttpStatusCode.Conflict, second.StatusCode);
            Assert.Contains("already has a running topology", (await JsonAsync(second)).GetProperty("message").GetString(), StringComparison.Ordinal);
        }

        using (var unknown = await PostJsonAsync(http, "/api/start-topology", """{"user_id":"guest_other1","topology":"hypercube"}"""))
        {
            Assert.Equal(HttpStatusCode.BadRequest, unknown.StatusCode);
            Assert.Contains("mini_ring", (await JsonAsync(unknown)).GetProperty("details").GetString(), StringComparison.Ordinal);
        }

        using (var form = await http.PostAsync("/api/start-topology", new StringContent("""{"user_id":"guest_other1","topology":"ring"}""", Encoding.UTF8, "text/plain"), Ct))
        {
            Assert.Equal(HttpStatusCode.UnsupportedMediaType, form.StatusCode);
        }

        using (var missing = await http.GetAsync("/api/ttyd/getOwnNodes", Ct))
        {
            Assert.Equal(HttpStatusCode.BadRequest, missing.StatusCode);
            Assert.Equal("""{"status":"error","message":"user_id parameter is required"}""", await missing.Content.ReadAsStringAsync(Ct));
        }

        Assert.Equal(containers, sample.Containers()); // none of the refusals made a node

        // node-routing: the original's shape (busybox's table of a node without network is empty).
        using (var routing = await http.GetAsync($"/api/node-routing/{containers[1]}", Ct))
        {
            Assert.Equal(HttpStatusCode.OK, routing.StatusCode);
            var body = await JsonAsync(routing);
            Assert.Equal(["status", "node_id", "routes"], body.EnumerateObject().Select(p => p.Name));
            Assert.Equal(containers[1], body.GetProperty("node_id").GetString());
            Assert.Equal(JsonValueKind.Array, body.GetProperty("routes").ValueKind);
        }

        Assert.Equal(HttpStatusCode.NotFound, (await http.GetAsync("/api/node-routing/not-a-lab-node", Ct)).StatusCode);

        // delete-node only for its owner; clear-topology removes the rest; clearing nothing is a success with 0.
        using (var stranger = await http.DeleteAsync($"/api/delete-node/guest_other1/{containers[1]}", Ct))
        {
            Assert.Equal(HttpStatusCode.NotFound, stranger.StatusCode);
        }

        using (var delete = await http.DeleteAsync($"/api/delete-node/{Guest}/{containers[1]}", Ct))
        {
            Assert.Equal(HttpStatusCode.OK, delete.StatusCode);
            Assert.Equal($$"""{"status":"success","message":"Node {{containers[1]}} deleted successfully"}""", await delete.Content.ReadAsStringAsync(Ct));
        }

        Assert.Equal([containers[0]], sample.Containers());
        using (var clear = await http.DeleteAsync($"/api/clear-topology/{Guest}", Ct))
        {
            Assert.Equal("""{"status":"success","message":"Topology cleared successfully, deleted 1 nodes"}""", await clear.Content.ReadAsStringAsync(Ct));
        }

        using (var none = await http.DeleteAsync($"/api/clear-topology/{Guest}", Ct))
        {
            Assert.Equal("""{"status":"success","message":"Topology cleared successfully, deleted 0 nodes"}""", await none.Content.ReadAsStringAsync(Ct));
        }

        Assert.Equal(
            """{"status":"success","user_id":"guest_k3x9q1","message":"No containers found for this user","terminals":[]}""",
            await http.GetStringAsync($"/api/ttyd/getOwnNodes?user_id={Guest}", Ct));
        Assert.Empty(sample.Containers());
        Assert.Empty(sample.Manager.GetStatus().Sessions);
    }

    [Fact]
    public async Task Netlab_cors_answers_preflights_of_the_configured_origin_only_and_refuses_other_origins_before_anything_runs()
    {
        await using var sample = await NetlabSample.StartAsync(Frontend);
        var http = sample.Client;

        // Preflights of the configured origin, for each method the frontend uses: 204 naming that origin, never '*', no credentials.
        foreach (var (method, path, headers) in new[]
        {
            ("POST", "/api/start-topology", "content-type"),
            ("DELETE", "/api/clear-topology/guest_abc123", null),
            ("DELETE", "/api/delete-node/guest_abc123/node_1", null),
            ("GET", "/api/ttyd/getOwnNodes?user_id=guest_abc123", "content-type"),
        })
        {
            using var allowed = await PreflightAsync(http, path, Frontend, method, headers);
            Assert.Equal(HttpStatusCode.NoContent, allowed.StatusCode);
            Assert.Equal(Frontend, Single(allowed, "Access-Control-Allow-Origin"));
            Assert.Contains(method, Single(allowed, "Access-Control-Allow-Methods"), StringComparison.Ordinal);
            if (headers is not null)
            {
                Assert.Contains("content-type", Single(allowed, "Access-Control-Allow-Headers"), StringComparison.OrdinalIgnoreCase);
            }

            Assert.False(allowed.Headers.Contains("Access-Control-Allow-Credentials"));

            // Its negative next to it: another origin (another port of the same host too) gets no CORS header at all.
            foreach (var other in new[] { "http://localhost:5174", "http://evil.test", "null" })
            {
                using var refused = await PreflightAsync(http, path, other, method, headers);
                Assert.Equal(HttpStatusCode.Forbidden, refused.StatusCode);
                Assert.DoesNotContain(refused.Headers, h => h.Key.StartsWith("Access-Control-", StringComparison.OrdinalIgnoreCase));
            }
        }

        // The simple GET (no preflight): the configured origin may read the answer; another is refused before anything runs.
        using (var read = await SendAsync(http, HttpMethod.Get, "/api/ttyd/getOwnNodes?user_id=guest_abc123", Frontend))
        {
            Assert.Equal(HttpStatusCode.OK, read.StatusCode);
            Assert.Equal(Frontend, Single(read, "Access-Control-Allow-Origin"));
            Assert.Contains("Origin", read.Headers.Vary);
        }

        using (var foreign = await SendAsync(http, HttpMethod.Get, "/api/ttyd/getOwnNodes?user_id=guest_abc123", "http://evil.test"))
        {
            Assert.Equal(HttpStatusCode.Forbidden, foreign.StatusCode);
            Assert.False(foreign.Headers.Contains("Access-Control-Allow-Origin"));
        }

        using (var foreignStart = await SendAsync(http, HttpMethod.Post, "/api/start-topology", "http://evil.test", """{"user_id":"guest_abc123","topology":"ring"}"""))
        {
            Assert.Equal(HttpStatusCode.Forbidden, foreignStart.StatusCode);
        }

        Assert.Empty(sample.Containers());
        using (var start = await SendAsync(http, HttpMethod.Post, "/api/start-topology", Frontend, """{"user_id":"guest_abc123","topology":"ring"}"""))
        {
            Assert.Equal(HttpStatusCode.Accepted, start.StatusCode); // the positive control: the same request from the frontend
        }

        Assert.Single(sample.Containers());
    }

    [Fact]
    public async Task Netlab_capability_urls_open_only_their_own_live_session_and_their_websocket_only_from_the_terminals_own_origin()
    {
        await using var sample = await NetlabSample.StartAsync(Frontend);
        var http = sample.Client;
        using (var start = await PostJsonAsync(http, "/api/start-topology", """{"user_id":"guest_aaaaa1","topology":"mini_ring"}"""))
        {
            Assert.Equal(HttpStatusCode.Accepted, start.StatusCode);
        }

        var terminals = (await OwnNodesAsync(http, "guest_aaaaa1")).GetProperty("terminals").EnumerateArray()
            .Select(t => (Container: t.GetProperty("container_name").GetString()!, Url: t.GetProperty("url").GetString()!)).ToArray();
        var own = $"{sample.BaseAddress.Scheme}://{sample.BaseAddress.Authority}";

        // Each URL opens its own node's shell, from the terminal's own origin (what an iframe with allow-same-origin sends).
        foreach (var (container, url) in terminals)
        {
            await using var terminal = await NetlabSample.ConnectAsync(http, url, own, Ct);
            await terminal.TypeAsync("hostname\r", Ct);
            await terminal.WaitForAsync(container, Poll.Within(30));
        }

        // Its WebSocket from any other origin, the frontend's included, or from an opaque one ("null"): 403, no shell.
        foreach (var origin in new[] { Frontend, "http://evil.test", "null" })
        {
            var refused = await Assert.ThrowsAsync<WebSocketException>(() => NetlabSample.ConnectAsync(http, terminals[0].Url, origin, Ct));
            Assert.Contains("403", refused.Message, StringComparison.Ordinal);
        }

        // A guessed token, a shortened one, and the proxy's own path: 404, nothing forwarded.
        var real = new Uri(terminals[0].Url).AbsolutePath;
        foreach (var path in new[] { $"/t/{new string('A', 43)}/", real[..^5] + "/", $"/terminals/{terminals[0].Container}/", "/t/", "/t" })
        {
            using var guessed = await http.GetAsync(path, Ct);
            Assert.Equal(HttpStatusCode.NotFound, guessed.StatusCode);
        }

        using (var redirect = await new HttpClient(new SocketsHttpHandler { AllowAutoRedirect = false }) { BaseAddress = sample.BaseAddress }.GetAsync(real.TrimEnd('/'), Ct))
        {
            Assert.Equal(HttpStatusCode.Redirect, redirect.StatusCode);
            Assert.Equal(real, redirect.Headers.Location?.ToString());
        }

        // The terminal's response may be framed by the configured origin only, and sends no referrer.
        using (var page = await http.GetAsync(terminals[0].Url, Ct))
        {
            Assert.Equal($"frame-ancestors 'self' {Frontend}", Single(page, "Content-Security-Policy"));
            Assert.Equal("no-referrer", Single(page, "Referrer-Policy"));
            Assert.False(page.Headers.Contains("X-Frame-Options"));
        }

        // A deleted node's URL dies with its session (it answered above); a new session of the same name gets a new URL.
        using (var delete = await http.DeleteAsync($"/api/delete-node/guest_aaaaa1/{terminals[0].Container}", Ct))
        {
            Assert.Equal(HttpStatusCode.OK, delete.StatusCode);
        }

        using (var dead = await http.GetAsync(terminals[0].Url, Ct))
        {
            Assert.Equal(HttpStatusCode.NotFound, dead.StatusCode);
        }

        using (var alive = await http.GetAsync(terminals[1].Url, Ct))
        {
            Assert.Equal(HttpStatusCode.OK, alive.StatusCode);
        }
    }

    [Theory]
    [InlineData("--NetLab:AllowedOrigins:0=*", "'*' is not an origin")]
    [InlineData("--NetLab:AllowedOrigins:0=http://localhost:5173/app", "'http://localhost:5173/app' is not an origin")]
    [InlineData("--NetLab:Topologies:ring=9", "NetLab:Topologies:ring = 9 is out of range")]
    [InlineData("--Sample:Profile=netlabs", "Unknown profile 'netlabs'")]
    public void Netlab_profile_settings_that_would_widen_cors_or_break_the_lab_fail_start_up_naming_them(string setting, string message)
    {
        var failure = Assert.Throws<ArgumentException>(() => NetLabBuilder.Sample.NetLabApp.Create(["--profile", "netlab", setting]));
        Assert.Contains(message, failure.Message, StringComparison.Ordinal);
    }

    private static Regex CapabilityUrl(SampleHost sample) =>
        new($"^{Regex.Escape(sample.BaseAddress.ToString())}t/[A-Za-z0-9_-]{{43}}/$", RegexOptions.None, TimeSpan.FromSeconds(1));

    private static async Task<JsonElement> OwnNodesAsync(HttpClient http, string user)
    {
        using var response = await SendAsync(http, HttpMethod.Get, $"/api/ttyd/getOwnNodes?user_id={user}", null);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var nodes = await JsonAsync(response);

        // A terminal that failed to start has no url; say why rather than fail later on a missing property.
        var failed = nodes.TryGetProperty("terminals", out var terminals) ? terminals.EnumerateArray().Where(t => t.GetProperty("status").GetString() == "failed").ToArray() : [];
        Assert.True(failed.Length == 0, $"terminals failed to start: {string.Join("; ", failed.Select(t => t.ToString()))}");
        return nodes;
    }

    private static Task<HttpResponseMessage> PostJsonAsync(HttpClient http, string path, string json) => SendAsync(http, HttpMethod.Post, path, null, json);

    // As the frontend's axios sends it: Accept: application/json; Content-Type: application/json only with a body.
    [Fact]
    public async Task Netlab_a_request_without_origin_from_another_site_is_refused_before_anything_runs_while_curl_and_typed_urls_pass()
    {
        await using var sample = await NetlabSample.StartAsync(Frontend);
        const string Path = "/api/ttyd/getOwnNodes?user_id=guest_abc123";

        // What an image or script tag of another page sends: no Origin on a GET, Sec-Fetch-Site says where it comes from.
        foreach (var site in new[] { "cross-site", "same-site" })
        {
            using var request = new HttpRequestMessage(HttpMethod.Get, Path);
            request.Headers.Add("Sec-Fetch-Site", site);
            using var refused = await sample.Client.SendAsync(request, Ct);
            Assert.Equal(HttpStatusCode.Forbidden, refused.StatusCode);
        }

        // A typed address ("none"), the page's own origin, and tools that send neither header.
        foreach (var site in new[] { "none", "same-origin", null })
        {
            using var request = new HttpRequestMessage(HttpMethod.Get, Path);
            if (site is not null)
            {
                request.Headers.Add("Sec-Fetch-Site", site);
            }

            using var passed = await sample.Client.SendAsync(request, Ct);
            Assert.Equal(HttpStatusCode.OK, passed.StatusCode);
        }
    }

    private static Task<HttpResponseMessage> SendAsync(HttpClient http, HttpMethod method, string path, string? origin, string? json = null)
    {
        var request = new HttpRequestMessage(method, path);
        request.Headers.Accept.ParseAdd("application/json");
        if (origin is not null)
        {
            request.Headers.Add("Origin", origin);
        }

        if (json is not null)
        {
            request.Content = new StringContent(json, Encoding.UTF8, "application/json");
        }

        return http.SendAsync(request, Ct);
    }

    private static Task<HttpResponseMessage> PreflightAsync(HttpClient http, string path, string origin, string method, string? headers)
    {
        var request = new HttpRequestMessage(HttpMethod.Options, path);
        request.Headers.Add("Origin", origin);
        request.Headers.Add("Access-Control-Request-Method", method);
        if (headers is not null)
        {
            request.Headers.Add("Access-Control-Request-Headers", headers);
        }

        return http.SendAsync(request, Ct);
    }

    private static string Single(HttpResponseMessage response, string header) =>
        string.Join(",", response.Headers.TryGetValues(header, out var values) ? values
            : response.Content.Headers.TryGetValues(header, out var content) ? content : []);

    private static async Task<JsonElement> JsonAsync(HttpResponseMessage response) =>
        JsonDocument.Parse(await response.Content.ReadAsStringAsync(Ct)).RootElement.Clone();
}
