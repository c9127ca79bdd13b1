using System.Net;
using System.Net.Http.Json;
using System.Text.Json;

namespace NetLabBuilder.Sample;

/// <summary>
/// The <c>--once</c> check, through login and proxy: the page answers; the demo student's <c>getOwnNodes</c> lists every node
/// with a terminal that answers; another student gets 403 on them; the instructor may watch them.
/// </summary>
internal static class Smoke
{
    private static readonly TimeSpan ReadyWithin = TimeSpan.FromSeconds(60);

    public static async Task<int> RunAsync(Uri page, DemoUsers users, string student)
    {
        try
        {
            using var anonymous = new HttpClient { BaseAddress = page, Timeout = TimeSpan.FromSeconds(30) };
            var html = await anonymous.GetStringAsync(page);
            Console.WriteLine($"page answers ({html.Length} bytes)");
            using var owner = await SignInAsync(page, users, student);
            var terminals = await ReadyTerminalsAsync(owner, student);
            var other = users.All.First(u => u.Role == DemoUsers.Student && u.Name != student);
            using var stranger = await SignInAsync(page, users, other.Name);
            using var instructor = await SignInAsync(page, users, users.All.First(u => u.Role == DemoUsers.Instructor).Name);
            foreach (var terminal in terminals)
            {
                var url = new Uri(terminal.Url!);
                await ExpectAsync(owner, url, HttpStatusCode.OK);
                await ExpectAsync(stranger, url, HttpStatusCode.Forbidden);
                await ExpectAsync(instructor, new Uri(url, "watch/"), HttpStatusCode.OK);
                Console.WriteLine($"{terminal.ContainerName}: {url.AbsolutePath} answers {student}, refuses {other.Name}, lets the instructor watch");
            }

            return 0;
        }
        catch (Exception e) when (e is HttpRequestException or JsonException or TaskCanceledException or InvalidOperationException)
        {
            Console.Error.WriteLine($"smoke check failed: {e.Message}");
            return 1;
        }
    }

    private static async Task<HttpClient> SignInAsync(Uri page, DemoUsers users, string name)
    {
        var user = users.All.FirstOrDefault(u => u.Name == name) ?? throw new InvalidOperationException($"'{name}' is not a demo user.");
        var http = new HttpClient(new SocketsHttpHandler { CookieContainer = new CookieContainer(), AllowAutoRedirect = false })
        {
            BaseAddress = page,
            Timeout = TimeSpan.FromSeconds(30),
        };
        using var response = await http.PostAsJsonAsync("/api/login", new LoginRequest(user.Name, user.Password), LabJson.Default.LoginRequest);
        response.EnsureSuccessStatusCode();
        return http;
    }

    // Terminals start in the background; poll getOwnNodes until every node has one (or one failed).
    private static async Task<IReadOnlyList<TerminalInfo>> ReadyTerminalsAsync(HttpClient http, string student)
    {
        var deadline = DateTime.UtcNow + ReadyWithin;
        while (true)
        {
            var nodes = await http.GetFromJsonAsync("/api/ttyd/getOwnNodes", LabJson.Default.OwnNodesResponse)
                ?? throw new InvalidOperationException("getOwnNodes sent nothing");
            if (nodes.Terminals.Count == 0)
            {
                throw new InvalidOperationException($"{student} has no nodes");
            }

            if (nodes.Terminals.FirstOrDefault(t => t.Status is not ("starting" or LabEndpoints.Running)) is { } broken)
            {
                throw new InvalidOperationException($"{broken.ContainerName}: no terminal ({broken.Status})");
            }

            if (nodes.Terminals.All(t => t.Url is not null))
            {
                return nodes.Terminals;
            }

            if (DateTime.UtcNow > deadline)
            {
                throw new InvalidOperationException($"terminals not ready within {ReadyWithin.TotalSeconds:0} s");
            }

            await Task.Delay(250); // polling the state, as the page does
        }
    }

    private static async Task ExpectAsync(HttpClient http, Uri url, HttpStatusCode expected)
    {
        using var response = await http.GetAsync(url);
        if (response.StatusCode != expected)
        {
            throw new InvalidOperationException($"{url.AbsolutePath}: {(int)response.StatusCode}, expected {(int)expected}");
        }
    }
}
