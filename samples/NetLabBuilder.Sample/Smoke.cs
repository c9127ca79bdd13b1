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

                // The URL carries the terminal's credential, as a browser uses it; HttpClient needs it as a header.
                var url = new Uri(terminal.Url);
                using var request = new HttpRequestMessage(HttpMethod.Get, url);
                if (url.UserInfo.Length > 0)
                {
                    request.Headers.TryAddWithoutValidation("Authorization", "Basic " + Convert.ToBase64String(System.Text.Encoding.UTF8.GetBytes(Uri.UnescapeDataString(url.UserInfo))));
                }

                using var response = await http.SendAsync(request);
                var body = await response.EnsureSuccessStatusCode().Content.ReadAsStringAsync();
                Console.WriteLine($"{terminal.ContainerName}: {url.Scheme}://{url.Authority}/ answers ({body.Length} bytes)");
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
