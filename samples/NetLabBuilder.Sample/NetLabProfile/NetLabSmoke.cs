using System.Net;
using System.Net.Http.Json;
using System.Security.Cryptography;
using System.Text.Json;

namespace NetLabBuilder.Sample;

/// <summary>
/// The <c>--once</c> check of the NetLab profile, as its frontend calls: a guest starts the smallest topology, its
/// <c>getOwnNodes</c> lists every node with a capability URL whose terminal page answers, a guessed one is a 404, an origin
/// not configured is refused; then the guest's topology is cleared.
/// </summary>
internal static class NetLabSmoke
{
    public static async Task<int> RunAsync(Uri api, NetLabProfileOptions options)
    {
        using var http = new HttpClient { BaseAddress = api, Timeout = TimeSpan.FromSeconds(60) };
        http.DefaultRequestHeaders.Accept.ParseAdd("application/json");
        var guest = "guest_" + RandomNumberGenerator.GetString("abcdefghijklmnopqrstuvwxyz0123456789", 6);
        var topology = options.Topologies.MinBy(t => t.Value).Key;
        try
        {
            using (var start = await http.PostAsJsonAsync("/api/start-topology", new StartTopologyRequest(guest, topology), NetLabJson.Default.StartTopologyRequest))
            {
                Expect(start.StatusCode == HttpStatusCode.Accepted, $"start-topology: {(int)start.StatusCode} {await start.Content.ReadAsStringAsync()}");
            }

            var nodes = await http.GetFromJsonAsync($"/api/ttyd/getOwnNodes?user_id={guest}", NetLabJson.Default.NetLabNodesResponse)
                ?? throw new InvalidOperationException("getOwnNodes sent nothing");
            Expect(nodes.Terminals.Count == options.Topologies[topology], $"getOwnNodes lists {nodes.Terminals.Count} nodes, {options.Topologies[topology]} expected");
            foreach (var terminal in nodes.Terminals)
            {
                Expect(terminal.Url is not null, $"{terminal.ContainerName}: no terminal ({terminal.Status}: {terminal.Error})");
                using var page = await http.GetAsync(terminal.Url);
                Expect(page.StatusCode == HttpStatusCode.OK, $"{terminal.ContainerName}: its terminal answers {(int)page.StatusCode}");
                Console.WriteLine($"{terminal.ContainerName}: its capability URL serves the terminal");
            }

            using (var guessed = await http.GetAsync($"/t/{Convert.ToHexString(RandomNumberGenerator.GetBytes(16))}/"))
            {
                Expect(guessed.StatusCode == HttpStatusCode.NotFound, $"a guessed capability URL answers {(int)guessed.StatusCode}");
            }

            using var foreign = new HttpRequestMessage(HttpMethod.Get, $"/api/ttyd/getOwnNodes?user_id={guest}");
            foreign.Headers.Add("Origin", "http://elsewhere.invalid");
            using (var refused = await http.SendAsync(foreign))
            {
                Expect(refused.StatusCode == HttpStatusCode.Forbidden && !refused.Headers.Contains("Access-Control-Allow-Origin"), "another origin is not refused");
            }

            Console.WriteLine($"a guessed terminal URL is a 404, another origin a 403; allowed origins: {string.Join(", ", options.AllowedOrigins)}");
            return 0;
        }
        catch (Exception e) when (e is HttpRequestException or JsonException or TaskCanceledException or InvalidOperationException)
        {
            Console.Error.WriteLine($"smoke check failed: {e.Message}");
            return 1;
        }
        finally
        {
            using var clear = await http.DeleteAsync($"/api/clear-topology/{guest}");
        }
    }

    private static void Expect(bool condition, string failure)
    {
        if (!condition)
        {
            throw new InvalidOperationException(failure);
        }
    }
}
