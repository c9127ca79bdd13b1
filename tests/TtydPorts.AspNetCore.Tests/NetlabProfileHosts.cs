using System.Net.WebSockets;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;
using NetLabBuilder.Sample;

namespace TtydPorts.AspNetCore.Tests;

/// <summary>
/// A page of its own origin for the NetLab profile's tests, written for them (no code of the NetLab frontend): it calls the
/// sample's API as that frontend does (XMLHttpRequest as axios sends it: <c>Accept: application/json</c> always,
/// <c>Content-Type: application/json</c> only with a body, <c>user_id</c> a guest id in the query or the path), shows
/// each terminal's <c>url</c> verbatim in an iframe with the frontend's <c>sandbox</c>, and opens it with <c>window.open</c>.
/// </summary>
public sealed class FrontendPageHost : IAsyncDisposable
{
    /// <summary>The frontend's iframe sandbox, attribute for attribute.</summary>
    public const string Sandbox = "allow-same-origin allow-scripts allow-forms allow-popups";

    private const string Page = $$"""
        <!doctype html>
        <meta charset="utf-8">
        <title>NetLab frontend stand-in</title>
        <div id="terminals"></div>
        <script>
        const api = new URLSearchParams(location.search).get('api');
        function call(method, path, body, params) {
          return new Promise((resolve, reject) => {
            const url = new URL(api + path);
            for (const [key, value] of Object.entries(params || {})) url.searchParams.set(key, value);
            const xhr = new XMLHttpRequest();
            xhr.open(method, url.toString(), true);
            xhr.timeout = 10000;
            xhr.setRequestHeader('Accept', 'application/json');
            if (body !== undefined) xhr.setRequestHeader('Content-Type', 'application/json');
            xhr.onload = () => resolve({ status: xhr.status, data: JSON.parse(xhr.responseText) });
            xhr.onerror = () => reject(new Error('network error'));
            xhr.ontimeout = () => reject(new Error('timeout'));
            xhr.send(body === undefined ? null : JSON.stringify(body));
          });
        }
        window.lab = {
          userId: 'guest_' + Math.random().toString(36).substring(2, 8),
          start(topology) { return call('POST', '/start-topology', { user_id: this.userId, topology }); },
          own() { return call('GET', '/ttyd/getOwnNodes', undefined, { user_id: this.userId }); },
          clear() { return call('DELETE', `/clear-topology/${this.userId}`); },
          deleteNode(id) { return call('DELETE', `/delete-node/${this.userId}/${id}`); },
          routing(name) { return call('GET', `/node-routing/${name}`); },
          async show() {
            const answer = await this.own();
            this.frame(answer.data.terminals);
            return answer;
          },
          frame(terminals) {
            document.getElementById('terminals').replaceChildren(...terminals.map(terminal => {
              const iframe = document.createElement('iframe');
              iframe.setAttribute('sandbox', '{{Sandbox}}');
              iframe.src = terminal.url;
              iframe.dataset.container = terminal.container_name;
              iframe.style.width = '900px';
              iframe.style.height = '300px';
              return iframe;
            }));
          },
          open(url) { window.open(url, '_blank'); },
          socket(url) {
            return new Promise(resolve => {
              const ws = new WebSocket(url, ['tty']);
              ws.onopen = () => { ws.close(); resolve('open'); };
              ws.onerror = () => resolve('refused');
            });
          },
        };
        </script>
        """;

    private readonly WebApplication _app;

    private FrontendPageHost(WebApplication app, string host)
    {
        _app = app;
        Origin = $"http://{host}:{NetLabApp.Addresses(app)[0].Port}";
    }

    /// <summary>The page's origin, e.g. <c>http://localhost:40123</c>.</summary>
    public string Origin { get; }

    /// <summary>The page, calling the API at <paramref name="api"/> (the sample's <c>/api</c>).</summary>
    public string PageFor(Uri api) => $"{Origin}/?api={Uri.EscapeDataString(api.ToString().TrimEnd('/'))}";

    /// <summary>Serves the page on a free loopback port; <paramref name="host"/> is the name its origin uses.</summary>
    public static async Task<FrontendPageHost> StartAsync(string host)
    {
        var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions { Args = ["--urls", "http://127.0.0.1:0"] });
        builder.Logging.SetMinimumLevel(LogLevel.Warning);
        var app = builder.Build();
        app.MapGet("/", () => Results.Content(Page, "text/html; charset=utf-8"));
        await app.StartAsync(TestContext.Current.CancellationToken);
        return new FrontendPageHost(app, host);
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
    }
}

/// <summary>The sample in the NetLab profile for one test: the frontend's origin configured, topologies of 2 nodes.</summary>
internal static class NetlabSample
{
    public static Task<SampleHost> StartAsync(string allowedOrigin) =>
        SampleHost.StartAsync("--profile", "netlab", $"--NetLab:AllowedOrigins:0={allowedOrigin}", "--NetLab:Topologies:mini_ring=2", "--NetLab:Topologies:ring=1");

    /// <summary>Opens the terminal behind a capability URL as ttyd's page does: its token, then its WebSocket with <paramref name="origin"/>.</summary>
    public static async Task<ProxiedTerminal> ConnectAsync(HttpClient http, string url, string origin, CancellationToken cancellationToken)
    {
        var token = JsonDocument.Parse(await http.GetStringAsync(url + "token", cancellationToken)).RootElement.GetProperty("token").GetString();
        var socket = new ClientWebSocket();
        socket.Options.SetRequestHeader("Origin", origin);
        return await ProxiedTerminal.OpenAsync(socket, new Uri("ws" + url["http".Length..] + "ws"), token, cancellationToken);
    }
}
