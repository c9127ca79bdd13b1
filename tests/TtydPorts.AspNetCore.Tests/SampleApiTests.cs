using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using TtydPorts.IntegrationTests;

namespace TtydPorts.AspNetCore.Tests;

/// <summary>The NetLabBuilder sample's API behind its login, over real ttyd, tmux and Docker, in proxy mode.</summary>
[Collection(RealHostsCollection.Name)]
public sealed class SampleApiTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Theory]
    [InlineData(new string[0], 16, 64)]
    [InlineData(new[] { "--Lab:MaxNodesPerUser=20", "--Lab:MaxNodes=100" }, 20, 100)]
    [InlineData(new[] { "--Lab:MaxNodesPerUser=20", "--TtydPorts:MaxSessionsPerUser=5" }, 5, 64)]
    public async Task The_libraries_session_limits_follow_the_labs_node_limits_unless_set_themselves(string[] args, int perUser, int all)
    {
        await using var app = NetLabBuilder.Sample.NetLabApp.Create(args);

        var options = app.Services.GetRequiredService<IOptions<TtydSessionOptions>>().Value;

        Assert.Equal((perUser, all), (options.MaxSessionsPerUser, options.MaxSessions));
    }

    [Fact]
    public async Task getOwnNodes_keeps_the_seeds_shape_with_the_user_from_the_login_and_urls_of_the_proxied_terminals()
    {
        await using var sample = await SampleHost.StartAsync();
        using var alice = await sample.ClientAsync("alice");
        using var bob = await sample.ClientAsync("bob");
        using var instructor = await sample.ClientAsync("instructor");

        var deployed = await SampleHost.DeployAsync(alice);
        var own = await SampleHost.ReadyOwnNodesAsync(alice);

        var topology = deployed.GetProperty("topology_id").GetString()!;
        var nodes = deployed.GetProperty("nodes").EnumerateArray().Select(n => n.GetString()!).ToArray();
        Assert.Equal(nodes, sample.Containers());
        Assert.Equal(["status", "user_id", "terminals"], own.EnumerateObject().Select(p => p.Name));
        Assert.Equal(("success", "alice"), (own.GetProperty("status").GetString(), own.GetProperty("user_id").GetString()));
        var terminals = own.GetProperty("terminals").EnumerateArray().ToArray();
        Assert.Equal(nodes, terminals.Select(t => t.GetProperty("container_name").GetString()));
        foreach (var terminal in terminals)
        {
            Assert.Equal(["container_name", "url", "port", "status", "topology_id"], terminal.EnumerateObject().Select(p => p.Name));
            var container = terminal.GetProperty("container_name").GetString()!;
            Assert.Equal(new Uri(sample.BaseAddress, $"/terminals/{container}/").ToString(), terminal.GetProperty("url").GetString());
            Assert.Equal(JsonValueKind.Null, terminal.GetProperty("port").ValueKind); // proxy mode: no port, nothing to show
            Assert.Equal(("running", topology), (terminal.GetProperty("status").GetString(), terminal.GetProperty("topology_id").GetString()));

            // The owner reaches the terminal; the other student gets 403 on it and on its observer; the instructor may watch only.
            using (var page = await alice.GetAsync($"/terminals/{container}/", Ct))
            {
                Assert.Equal(HttpStatusCode.OK, page.StatusCode);
            }

            Assert.Equal(HttpStatusCode.Forbidden, await StatusAsync(bob, $"/terminals/{container}/"));
            Assert.Equal(HttpStatusCode.Forbidden, await StatusAsync(bob, $"/terminals/{container}/watch/"));
            Assert.Equal(HttpStatusCode.Forbidden, await StatusAsync(instructor, $"/terminals/{container}/"));
            Assert.Equal(HttpStatusCode.OK, await StatusAsync(instructor, $"/terminals/{container}/watch/"));
        }

        // Bob sees none of Alice's nodes, and cannot ask for hers by naming her.
        Assert.Equal("""{"status":"success","user_id":"bob","terminals":[]}""", Compact(await bob.GetStringAsync("/api/ttyd/getOwnNodes", Ct)));
        using var spoofed = await bob.GetAsync("/api/ttyd/getOwnNodes?user_id=alice", Ct);
        Assert.Equal(HttpStatusCode.Forbidden, spoofed.StatusCode);
        Assert.Contains("user_id 'alice' is not the signed-in user", await MessageAsync(spoofed), StringComparison.Ordinal);
        using var same = await alice.GetAsync("/api/ttyd/getOwnNodes?user_id=alice", Ct);
        Assert.Equal(HttpStatusCode.OK, same.StatusCode); // the seed's frontend repeats its own id: allowed
        Assert.Equal(2, sample.Manager.GetStatus().Sessions.Count);

        // The instructor's view lists Alice's topology with watch links only; Bob's lists nothing.
        var view = JsonDocument.Parse(await instructor.GetStringAsync("/api/lab/state", Ct)).RootElement;
        var topo = Assert.Single(view.GetProperty("topologies").EnumerateArray());
        Assert.Equal(("alice", topology), (topo.GetProperty("user_id").GetString(), topo.GetProperty("topology_id").GetString()));
        Assert.All(topo.GetProperty("nodes").EnumerateArray(), n =>
        {
            Assert.Equal(JsonValueKind.Null, n.GetProperty("url").ValueKind);
            Assert.EndsWith("/watch/", n.GetProperty("watch_url").GetString(), StringComparison.Ordinal);
        });
        Assert.Empty(JsonDocument.Parse(await bob.GetStringAsync("/api/lab/state", Ct)).RootElement.GetProperty("topologies").EnumerateArray());
    }

    [Fact]
    public async Task Without_a_login_or_with_a_wrong_password_nothing_is_served_and_passwords_are_random_per_start()
    {
        await using var sample = await SampleHost.StartAsync();
        using var anonymous = await sample.ClientAsync(null);

        Assert.Equal(HttpStatusCode.OK, await StatusAsync(anonymous, "/")); // the page itself, with its sign-in form
        foreach (var path in new[] { "/api/me", "/api/lab/state", "/api/ttyd/getOwnNodes", "/api/ttyd/status", "/terminals/any/" })
        {
            Assert.Equal(HttpStatusCode.Unauthorized, await StatusAsync(anonymous, path));
        }

        using var wrong = await anonymous.PostAsJsonAsync("/api/login", new { user = "alice", password = "alice" }, Ct);
        Assert.Equal(HttpStatusCode.Unauthorized, wrong.StatusCode);
        Assert.Contains("Wrong user name or password", await MessageAsync(wrong), StringComparison.Ordinal);
        Assert.Equal(HttpStatusCode.Unauthorized, await StatusAsync(anonymous, "/api/me"));
        using var right = await anonymous.PostAsJsonAsync("/api/login", new { user = "alice", password = sample.Users.All[0].Password }, Ct);
        Assert.Equal(HttpStatusCode.OK, right.StatusCode);
        Assert.Contains("SameSite=Strict", string.Join(";", right.Headers.GetValues("Set-Cookie")), StringComparison.OrdinalIgnoreCase);
        Assert.Equal(HttpStatusCode.OK, await StatusAsync(anonymous, "/api/me"));

        Assert.Equal(3, sample.Users.All.Select(u => u.Password).Distinct().Count());
        Assert.All(sample.Users.All, u => Assert.Matches("^[a-z2-9]{12}$", u.Password));
        await using var other = await SampleHost.StartAsync();
        Assert.NotEqual(sample.Users.All[0].Password, other.Users.All[0].Password);
    }

    [Fact]
    public async Task Status_and_cleanup_are_for_the_instructor_only_and_students_cannot_deploy_as_someone_else()
    {
        await using var sample = await SampleHost.StartAsync();
        using var alice = await sample.ClientAsync("alice");
        using var instructor = await sample.ClientAsync("instructor");
        await SampleHost.DeployAsync(alice);
        await SampleHost.ReadyOwnNodesAsync(alice);

        Assert.Equal(HttpStatusCode.Forbidden, await StatusAsync(alice, "/api/ttyd/status"));
        using (var refused = await alice.PostAsJsonAsync("/api/ttyd/cleanup", new { all = true }, Ct))
        {
            Assert.Equal(HttpStatusCode.Forbidden, refused.StatusCode);
        }

        Assert.Equal(2, sample.Manager.GetStatus().Sessions.Count);
        Assert.Equal(HttpStatusCode.OK, await StatusAsync(instructor, "/api/ttyd/status"));

        // The instructor owns no topology; a student's body cannot name another user.
        using (var deploy = await instructor.PostAsJsonAsync("/api/lab/deploy", new { }, Ct))
        {
            Assert.Equal(HttpStatusCode.Forbidden, deploy.StatusCode);
        }

        using var asBob = await alice.PostAsync("/api/lab/deploy", new StringContent("""{"user_id":"bob"}""", Encoding.UTF8, "application/json"), Ct);
        Assert.Equal(HttpStatusCode.BadRequest, asBob.StatusCode);
        Assert.Contains("$.user_id", await MessageAsync(asBob), StringComparison.Ordinal);
        using var tooMany = await alice.PostAsync("/api/lab/deploy", new StringContent("""{"nodes":9}""", Encoding.UTF8, "application/json"), Ct);
        Assert.Contains("nodes 9 is out of range", await MessageAsync(tooMany), StringComparison.Ordinal);
        Assert.Equal(2, sample.Containers().Count);

        using var cleanup = await instructor.PostAsJsonAsync("/api/ttyd/cleanup", new { user_id = "alice" }, Ct);
        Assert.Equal(HttpStatusCode.OK, cleanup.StatusCode);
        Assert.Empty(sample.TtydProcesses());
    }

    [Fact]
    public async Task A_second_deploy_of_the_same_user_while_one_runs_is_refused_and_makes_no_topology()
    {
        await using var sample = await SampleHost.StartAsync();
        using var alice = await sample.ClientAsync("alice");

        var first = alice.PostAsJsonAsync("/api/lab/deploy", new { }, Ct);
        // The second request goes out once the first one holds the deploy slot (the state reports it), never before.
        using var within = CancellationTokenSource.CreateLinkedTokenSource(Ct);
        within.CancelAfter(TimeSpan.FromSeconds(30));
        while (JsonDocument.Parse(await alice.GetStringAsync("/api/lab/state", within.Token)).RootElement.GetProperty("deploying").ValueKind == JsonValueKind.Null
            && !first.IsCompleted)
        {
            await Task.Delay(5, within.Token);
        }

        using var second = await alice.PostAsJsonAsync("/api/lab/deploy", new { }, Ct);
        using var firstResponse = await first;

        Assert.Equal(HttpStatusCode.OK, firstResponse.StatusCode);
        Assert.Equal(HttpStatusCode.Conflict, second.StatusCode);
        Assert.Contains("A deploy for 'alice' is already running", await MessageAsync(second), StringComparison.Ordinal);
        Assert.Equal(2, sample.Containers().Count); // one topology of two nodes
        await SampleHost.DeployAsync(alice); // the slot is free again afterwards
        Assert.Equal(4, sample.Containers().Count);
    }

    [Fact]
    public async Task A_deploy_past_the_users_or_the_labs_node_cap_is_a_409_that_names_the_cap_and_creates_nothing()
    {
        await using var sample = await SampleHost.StartAsync("--Lab:MaxNodesPerUser=3", "--Lab:MaxNodes=4");
        using var alice = await sample.ClientAsync("alice");
        using var bob = await sample.ClientAsync("bob");

        using var first = await alice.PostAsJsonAsync("/api/lab/deploy", new { nodes = 2 }, Ct);
        using var past = await alice.PostAsJsonAsync("/api/lab/deploy", new { nodes = 2 }, Ct);
        using var within = await alice.PostAsJsonAsync("/api/lab/deploy", new { nodes = 1 }, Ct);
        using var full = await bob.PostAsJsonAsync("/api/lab/deploy", new { nodes = 2 }, Ct);
        using var fits = await bob.PostAsJsonAsync("/api/lab/deploy", new { nodes = 1 }, Ct);

        Assert.Equal(HttpStatusCode.OK, first.StatusCode);
        Assert.Equal(HttpStatusCode.Conflict, past.StatusCode);
        Assert.Contains("User 'alice' has 2 node(s); 2 more would pass Lab:MaxNodesPerUser (3)", await MessageAsync(past), StringComparison.Ordinal);
        Assert.Equal(HttpStatusCode.OK, within.StatusCode);
        Assert.Equal(HttpStatusCode.Conflict, full.StatusCode);
        Assert.Contains("The lab has 3 node(s); 2 more would pass Lab:MaxNodes (4)", await MessageAsync(full), StringComparison.Ordinal);
        Assert.Equal(HttpStatusCode.OK, fits.StatusCode);
        Assert.Equal(4, sample.Containers().Count);
    }

    [Fact]
    public async Task A_request_the_browser_says_another_origin_made_starts_no_terminal_while_the_pages_own_does()
    {
        await using var sample = await SampleHost.StartAsync();
        using var alice = await sample.ClientAsync("alice");
        _ = await SampleHost.DeployAsync(alice);
        _ = await SampleHost.ReadyOwnNodesAsync(alice);
        await sample.Manager.CleanupUserAsync("alice", Ct);
        Assert.Empty(sample.Manager.GetStatus().Sessions);

        // An image of a page on another port of this host (it gets the Strict cookie): both GETs that start terminals refuse.
        foreach (var path in new[] { "/api/ttyd/getOwnNodes", "/api/lab/state", "/api/me" })
        {
            foreach (var site in new[] { "same-site", "cross-site" })
            {
                using var request = new HttpRequestMessage(HttpMethod.Get, path);
                request.Headers.Add("Sec-Fetch-Site", site);
                request.Headers.Add("Sec-Fetch-Mode", "no-cors");
                using var response = await alice.SendAsync(request, Ct);
                Assert.Equal(HttpStatusCode.Forbidden, response.StatusCode);
                Assert.Contains("Nothing was done", await MessageAsync(response), StringComparison.Ordinal);
            }
        }

        Assert.Empty(sample.Manager.GetStatus().Sessions);

        // The page's own request starts them (in the background, as the lab page shows the nodes).
        using (var own = new HttpRequestMessage(HttpMethod.Get, "/api/ttyd/getOwnNodes"))
        {
            own.Headers.Add("Sec-Fetch-Site", "same-origin");
            using var response = await alice.SendAsync(own, Ct);
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        }

        await Poll.UntilAsync(() => sample.Manager.GetStatus().Sessions.Count == 2, Poll.Within(60));
    }

    [Theory]
    [InlineData("application/x-www-form-urlencoded", "nodes=1")]
    [InlineData("text/plain", """{"nodes":1}""")]
    [InlineData(null, "")]
    public async Task A_request_a_cross_site_form_could_send_is_a_415_and_changes_nothing(string? contentType, string body)
    {
        await using var sample = await SampleHost.StartAsync();
        using var alice = await sample.ClientAsync("alice");
        var deployed = await SampleHost.DeployAsync(alice);
        var nodes = deployed.GetProperty("nodes").EnumerateArray().Select(n => n.GetString()!).ToArray();
        var topology = deployed.GetProperty("topology_id").GetString();

        foreach (var (method, path) in new[] { (HttpMethod.Post, "/api/lab/deploy"), (HttpMethod.Delete, $"/api/lab/nodes/{nodes[0]}"), (HttpMethod.Delete, $"/api/lab/topologies/{topology}"), (HttpMethod.Post, "/api/logout") })
        {
            using var request = new HttpRequestMessage(method, path) { Content = new ByteArrayContent(Encoding.UTF8.GetBytes(body)) };
            if (contentType is not null)
            {
                request.Content.Headers.ContentType = new System.Net.Http.Headers.MediaTypeHeaderValue(contentType);
            }

            using var response = await alice.SendAsync(request, Ct);
            Assert.Equal(HttpStatusCode.UnsupportedMediaType, response.StatusCode);
            Assert.Contains("nothing was changed", await MessageAsync(response), StringComparison.Ordinal);
        }

        Assert.Equal(nodes, sample.Containers());
        Assert.Equal(HttpStatusCode.OK, await StatusAsync(alice, "/api/me")); // still signed in
        using var delete = await SampleHost.DeleteAsync(alice, $"/api/lab/nodes/{nodes[0]}"); // the page's JSON request works
        Assert.Equal(HttpStatusCode.OK, delete.StatusCode);
        Assert.Equal([nodes[1]], sample.Containers());
    }

    [Fact]
    public async Task Another_host_name_is_refused_and_bad_names_are_400_errors_that_quote_them()
    {
        await using var sample = await SampleHost.StartAsync();
        using var alice = await sample.ClientAsync("alice");
        using var bob = await sample.ClientAsync("bob");
        var nodes = (await SampleHost.DeployAsync(alice)).GetProperty("nodes").EnumerateArray().Select(n => n.GetString()!).ToArray();

        using (var rebinding = new HttpRequestMessage(HttpMethod.Get, "/api/me"))
        {
            rebinding.Headers.Host = $"evil.test:{sample.BaseAddress.Port}";
            using var response = await alice.SendAsync(rebinding, Ct);
            Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        }

        using var bad = await SampleHost.DeleteAsync(alice, "/api/lab/nodes/a;b");
        Assert.Equal(HttpStatusCode.BadRequest, bad.StatusCode);
        Assert.Contains("'a;b'", await MessageAsync(bad), StringComparison.Ordinal);
        using var notBobs = await SampleHost.DeleteAsync(bob, $"/api/lab/nodes/{nodes[0]}");
        Assert.Equal(HttpStatusCode.NotFound, notBobs.StatusCode);
        using var notBobsTopology = await SampleHost.DeleteAsync(bob, "/api/lab/topologies/topo-0");
        Assert.Equal(HttpStatusCode.NotFound, notBobsTopology.StatusCode);
        Assert.Equal(nodes, sample.Containers());
    }

    [Fact]
    public async Task A_copy_of_the_login_cookie_opens_nothing_once_its_sign_in_has_signed_out_while_another_sign_in_of_the_user_stays()
    {
        await using var sample = await SampleHost.StartAsync();
        var cookies = new CookieContainer();
        using var alice = new HttpClient(new SocketsHttpHandler { CookieContainer = cookies, AllowAutoRedirect = false }) { BaseAddress = sample.BaseAddress };
        using (var login = await alice.PostAsJsonAsync("/api/login", new { user = "alice", password = sample.Users.All.Single(u => u.Name == "alice").Password }, Ct))
        {
            Assert.Equal(HttpStatusCode.OK, login.StatusCode);
        }

        using var aliceElsewhere = await sample.ClientAsync("alice"); // the same student in another browser
        await SampleHost.DeployAsync(alice);
        var container = (await SampleHost.ReadyOwnNodesAsync(alice)).GetProperty("terminals")[0].GetProperty("container_name").GetString()!;

        // A copy of the cookie (what a server on another port of this host name receives), replayed without a browser.
        var cookie = Assert.Single(cookies.GetCookies(sample.BaseAddress));
        using var copy = new HttpClient { BaseAddress = sample.BaseAddress, Timeout = TimeSpan.FromSeconds(60) };
        copy.DefaultRequestHeaders.Add("Cookie", $"{cookie.Name}={cookie.Value}");
        Assert.Equal(HttpStatusCode.OK, await StatusAsync(copy, $"/terminals/{container}/token"));

        using (var logout = new HttpRequestMessage(HttpMethod.Post, "/api/logout") { Content = new StringContent("", Encoding.UTF8, "application/json") })
        {
            using var response = await alice.SendAsync(logout, Ct);
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        }

        Assert.Equal(HttpStatusCode.Unauthorized, await StatusAsync(copy, "/api/me"));
        Assert.Equal(HttpStatusCode.Unauthorized, await StatusAsync(copy, $"/terminals/{container}/"));
        Assert.Equal(HttpStatusCode.Unauthorized, await StatusAsync(copy, $"/terminals/{container}/token"));
        Assert.Equal(HttpStatusCode.Unauthorized, await StatusAsync(copy, "/api/ttyd/getOwnNodes"));
        Assert.Equal(HttpStatusCode.OK, await StatusAsync(aliceElsewhere, $"/terminals/{container}/token"));
    }

    [Fact]
    public async Task Signing_in_again_in_a_browser_ends_its_earlier_sign_in_so_a_copy_of_the_old_cookie_opens_nothing()
    {
        await using var sample = await SampleHost.StartAsync();
        var cookies = new CookieContainer();
        using var alice = new HttpClient(new SocketsHttpHandler { CookieContainer = cookies, AllowAutoRedirect = false }) { BaseAddress = sample.BaseAddress };
        async Task LoginAsync()
        {
            using var login = await alice.PostAsJsonAsync("/api/login", new { user = "alice", password = sample.Users.All.Single(u => u.Name == "alice").Password }, Ct);
            Assert.Equal(HttpStatusCode.OK, login.StatusCode);
        }

        await LoginAsync();
        var old = Assert.Single(cookies.GetCookies(sample.BaseAddress));
        using var copy = new HttpClient { BaseAddress = sample.BaseAddress, Timeout = TimeSpan.FromSeconds(60) };
        copy.DefaultRequestHeaders.Add("Cookie", $"{old.Name}={old.Value}");
        Assert.Equal(HttpStatusCode.OK, await StatusAsync(copy, "/api/me"));

        await LoginAsync(); // the browser still sends the first cookie

        Assert.Equal(HttpStatusCode.Unauthorized, await StatusAsync(copy, "/api/me"));
        Assert.Equal(HttpStatusCode.OK, await StatusAsync(alice, "/api/me")); // the new sign-in works
    }

    internal static async Task<HttpStatusCode> StatusAsync(HttpClient client, string path)
    {
        using var response = await client.GetAsync(path, Ct);
        return response.StatusCode;
    }

    private static async Task<string> MessageAsync(HttpResponseMessage response) =>
        JsonDocument.Parse(await response.Content.ReadAsStringAsync(Ct)).RootElement.GetProperty("message").GetString() ?? "";

    private static string Compact(string json) => JsonSerializer.Serialize(JsonDocument.Parse(json).RootElement);
}
