using System.Net.Http.Json;
using System.Text.Json;

namespace NetLabBuilder.Sample;

/// <summary>The <c>--once</c> check: the page, <c>getOwnNodes</c> and every terminal page answer.</summary>
internal static class Smoke
{
    public static async Task<int> RunAsync(Uri page, string user)
    {
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(30) };
        try
        {
            var html = await http.GetStringAsync(page);
            Console.WriteLine($"page answers ({html.Length} bytes)");
            var nodes = await http.GetFromJsonAsync(new Uri(page, $"/api/ttyd/getOwnNodes?user_id={Uri.EscapeDataString(user)}"), LabJson.Default.OwnNodesResponse)
                ?? throw new InvalidOperationException("getOwnNodes sent nothing");
            if (nodes.Terminals.Count == 0)
            {
                Console.Error.WriteLine($"user {user} has no nodes");
                return 1;
            }

            foreach (var terminal in nodes.Terminals)
            {
                if (terminal.Url is null)
                {
                    Console.Error.WriteLine($"{terminal.ContainerName}: no terminal ({terminal.Status})");
                    return 1;
                }

                var body = await http.GetStringAsync(new Uri(terminal.Url));
                Console.WriteLine($"{terminal.ContainerName}: {terminal.Url} answers ({body.Length} bytes)");
            }

            return 0;
        }
        catch (Exception e) when (e is HttpRequestException or JsonException or TaskCanceledException)
        {
            Console.Error.WriteLine($"smoke check failed: {e.Message}");
            return 1;
        }
    }
}
