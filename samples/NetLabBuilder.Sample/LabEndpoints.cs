using System.Security.Claims;
using System.Text.Json;
using System.Text.Json.Serialization.Metadata;
using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Authentication.Cookies;
using Microsoft.AspNetCore.Mvc;
using TtydPorts;

namespace NetLabBuilder.Sample;

/// <summary>The NetLabBuilder-style endpoints: each step calls the library; the user is always the signed-in one.</summary>
public static class LabEndpoints
{
    /// <summary>Terminal status of a node whose terminal runs (the seed's word).</summary>
    public const string Running = "running";

    /// <summary>Where the proxy serves terminals.</summary>
    public const string TerminalPrefix = "/terminals";

    /// <summary>
    /// <c>POST /api/login</c>, <c>POST /api/logout</c>, <c>GET /api/me</c>, <c>GET /api/ttyd/getOwnNodes</c>, and under
    /// <c>/api/lab</c>: <c>GET state</c>, <c>POST deploy</c>, <c>DELETE nodes/{container}</c>, <c>DELETE topologies/{topology}</c>.
    /// </summary>
    public static void MapLabEndpoints(this IEndpointRouteBuilder app)
    {
        var account = app.MapGroup("/api").WithTtydErrorHandling().AddEndpointFilter(OwnOriginOnly);
        account.MapPost("login", LoginAsync).AddEndpointFilter(JsonOnly);
        account.MapPost("logout", (Delegate)LogoutAsync).AddEndpointFilter(JsonOnly).RequireAuthorization();
        account.MapGet("me", (HttpContext http) => Json(new MeResponse("success", UserOf(http), RoleOf(http)), LabJson.Default.MeResponse)).RequireAuthorization();

        app.MapGroup("/api/ttyd").WithTtydErrorHandling().AddEndpointFilter(OwnOriginOnly).RequireAuthorization().MapGet("getOwnNodes", GetOwnNodesAsync);

        var lab = app.MapGroup("/api/lab").WithTtydErrorHandling().AddEndpointFilter(OwnOriginOnly).RequireAuthorization();
        lab.MapGet("state", StateAsync);
        var changes = lab.MapGroup("").AddEndpointFilter(JsonOnly);
        changes.MapPost("deploy", DeployAsync).RequireAuthorization(NetLabApp.StudentPolicy);
        changes.MapDelete("nodes/{container}", DeleteNodeAsync).RequireAuthorization(NetLabApp.StudentPolicy);
        changes.MapDelete("topologies/{topologyId}", ClearTopologyAsync).RequireAuthorization(NetLabApp.StudentPolicy);
    }

    public static string UserOf(HttpContext http) =>
        http.User.FindFirstValue(ClaimTypes.NameIdentifier) ?? throw new InvalidOperationException("An authorized request has no user id.");

    public static string RoleOf(HttpContext http) => http.User.IsInRole(DemoUsers.Instructor) ? DemoUsers.Instructor : DemoUsers.Student;

    private static async Task<IResult> LoginAsync(HttpContext http, DemoUsers users, SignIns signIns)
    {
        var request = await ReadAsync(http, LabJson.Default.LoginRequest, """{"user":"...","password":"..."}""");
        var user = request?.User is { } name && request.Password is { } password ? users.Check(name, password) : null;
        if (user is null)
        {
            return Json(new LabMessage("error", "Wrong user name or password."), LabJson.Default.LabMessage, StatusCodes.Status401Unauthorized);
        }

        // A sign-in in a browser that is signed in already replaces that one: left live, a copy of the old cookie would
        // outlast the sign-out that follows.
        if (http.User.Identity?.IsAuthenticated == true)
        {
            signIns.End(http.User);
        }

        var identity = new ClaimsIdentity(
            [new Claim(ClaimTypes.NameIdentifier, user.Name), new Claim(ClaimTypes.Role, user.Role), signIns.Begin(user.Name)], CookieAuthenticationDefaults.AuthenticationScheme);
        await http.SignInAsync(CookieAuthenticationDefaults.AuthenticationScheme, new ClaimsPrincipal(identity));
        return Json(new MeResponse("success", user.Name, user.Role), LabJson.Default.MeResponse);
    }

    // Ends this sign-in on the server too (SignIns): a copy of the cookie is refused from now on. The user's other
    // sign-ins (another browser) stay.
    private static async Task<IResult> LogoutAsync(HttpContext http, SignIns signIns)
    {
        signIns.End(http.User);
        await http.SignOutAsync(CookieAuthenticationDefaults.AuthenticationScheme);
        return Message("Signed out.");
    }

    // The seed's answer for the seed's frontend: every running node of the signed-in user, its url the proxied terminal
    // (port null: there is none). A user_id in the query may only repeat the signed-in user's.
    private static async Task<IResult> GetOwnNodesAsync(
        [FromQuery(Name = "user_id")] string? userId, DemoLab lab, LabActivity activity, HttpContext http)
    {
        var user = UserOf(http);
        if (userId is not null && userId != user)
        {
            return Json(new LabMessage("error", $"user_id '{userId}' is not the signed-in user; the user comes from the login."),
                LabJson.Default.LabMessage, StatusCodes.Status403Forbidden);
        }

        var nodes = await lab.NodesOfAsync(user, http.RequestAborted);
        var terminals = nodes.Select(node =>
        {
            var (terminal, _) = activity.TerminalOf(node);
            return terminal == "ready"
                ? new TerminalInfo(node.Container, new Uri(BaseOf(http), TerminalPath(node.Container)).ToString(), null, Running, node.TopologyId)
                : new TerminalInfo(node.Container, null, null, terminal == "stopped" ? node.State : terminal, node.TopologyId);
        }).ToList();
        return Json(new OwnNodesResponse("success", user, terminals), LabJson.Default.OwnNodesResponse);
    }

    // What the page polls: a student's own topologies, or for the instructor every student's (to watch, never to type).
    private static async Task<IResult> StateAsync(DemoLab lab, LabActivity activity, HttpContext http)
    {
        var user = UserOf(http);
        var instructor = http.User.IsInRole(DemoUsers.Instructor);
        var nodes = instructor ? await lab.AllNodesAsync(http.RequestAborted) : await lab.NodesOfAsync(user, http.RequestAborted);
        var topologies = nodes
            .GroupBy(n => (n.UserId, n.TopologyId))
            .OrderBy(g => g.Key.UserId, StringComparer.Ordinal).ThenBy(g => g.Key.TopologyId, StringComparer.Ordinal)
            .Select(g => new TopologyView(g.Key.TopologyId, g.Key.UserId, [.. g.Select(node =>
            {
                var (terminal, reason) = activity.TerminalOf(node);
                var ready = terminal == "ready";
                return new NodeView(node.Container, node.Node, node.State, terminal, reason,
                    ready && !instructor ? TerminalPath(node.Container) : null,
                    ready ? TerminalPath(node.Container) + "watch/" : null);
            })]))
            .ToList();
        return Json(new LabStateResponse("success", user, RoleOf(http), instructor ? null : activity.DeployOf(user), topologies), LabJson.Default.LabStateResponse);
    }

    private static async Task<IResult> DeployAsync(HttpContext http, DemoLab lab, LabActivity activity)
    {
        var request = await ReadAsync(http, LabJson.Default.DeployRequest, """{"nodes":N} or {}""");
        var user = UserOf(http);
        if (!activity.TryBeginDeploy(user))
        {
            return Json(new LabMessage("error", $"A deploy for '{user}' is already running; wait for it to finish."), LabJson.Default.LabMessage, StatusCodes.Status409Conflict);
        }

        try
        {
            var (topologyId, containers) = await lab.DeployAsync(user, request?.Nodes, http.RequestAborted, (created, total) => activity.ReportDeploy(user, created, total));
            return Json(new DeployResponse("success", user, topologyId, containers), LabJson.Default.DeployResponse);
        }
        catch (LabFullException e)
        {
            return Json(new LabMessage("error", e.Message), LabJson.Default.LabMessage, StatusCodes.Status409Conflict);
        }
        finally
        {
            activity.EndDeploy(user);
        }
    }

    private static async Task<IResult> DeleteNodeAsync(string container, HttpContext http, DemoLab lab, LabActivity activity, CancellationToken cancellationToken)
    {
        SessionIds.ThrowIfInvalidContainerName(container, "container");
        using var removal = await activity.BeginRemovalAsync([container]);
        var result = await lab.DeleteNodeAsync(UserOf(http), container, cancellationToken);
        return Message($"Node '{container}' deleted; {result.Stopped.Count} terminal(s) stopped.");
    }

    private static async Task<IResult> ClearTopologyAsync(string topologyId, HttpContext http, DemoLab lab, LabActivity activity, CancellationToken cancellationToken)
    {
        var user = UserOf(http);
        using var removal = await activity.BeginRemovalAsync([.. (await lab.NodesOfAsync(user, cancellationToken)).Where(n => n.TopologyId == topologyId).Select(n => n.Container)]);
        var (result, containers) = await lab.ClearTopologyAsync(user, topologyId, cancellationToken);
        return Message($"Topology '{topologyId}' cleared: {result.Stopped.Count} terminal(s) stopped, {containers} node(s) removed.");
    }

    private static async Task<T?> ReadAsync<T>(HttpContext http, JsonTypeInfo<T> type, string shape)
    {
        try
        {
            return await JsonSerializer.DeserializeAsync(http.Request.Body, type, http.RequestAborted);
        }
        catch (JsonException e)
        {
            // The serializer's own message names the sample's types; the path and position say what is wrong.
            throw new ArgumentException(
                $"The request body is not a valid JSON object {shape} (at {e.Path ?? "$"}, line {e.LineNumber + 1}, byte {e.BytePositionInLine + 1}).", "body", e);
        }
    }

    /// <summary>
    /// Every request that changes something takes only <c>Content-Type: application/json</c> (also a DELETE, which has no
    /// body): a page of another site can send a form or <c>text/plain</c> without asking, but not JSON, which needs a CORS
    /// preflight this host never grants; the SameSite=Strict cookie is not sent cross-site either. So such a request is a
    /// 415 (or a 401) and changes nothing.
    /// </summary>
    // The API is the page's own: a browser request another origin made (an image or a script of a page on another port
    // of this host, which gets the Strict cookie) is refused before it runs, as GET getOwnNodes and GET state start
    // terminals. Requests without Fetch Metadata (curl, older browsers) and typed addresses ("none") pass.
    private static ValueTask<object?> OwnOriginOnly(EndpointFilterInvocationContext context, EndpointFilterDelegate next)
    {
        var site = context.HttpContext.Request.Headers["Sec-Fetch-Site"].ToString();
        return site is "" or "same-origin" or "none"
            ? next(context)
            : ValueTask.FromResult<object?>(Json(
                new LabMessage("error", "This endpoint answers only the lab page's own origin; the browser says this request came from another (Sec-Fetch-Site). Nothing was done."),
                LabJson.Default.LabMessage,
                StatusCodes.Status403Forbidden));
    }

    private static ValueTask<object?> JsonOnly(EndpointFilterInvocationContext context, EndpointFilterDelegate next)
    {
        var request = context.HttpContext.Request;
        return request.HasJsonContentType()
            ? next(context)
            : ValueTask.FromResult<object?>(Json(
                new LabMessage("error", $"This endpoint takes only Content-Type: application/json, not '{request.ContentType ?? "(none)"}'; nothing was changed."),
                LabJson.Default.LabMessage,
                StatusCodes.Status415UnsupportedMediaType));
    }

    private static string TerminalPath(string container) => $"{TerminalPrefix}/{container}/";

    private static Uri BaseOf(HttpContext http) => new($"{http.Request.Scheme}://{http.Request.Host}/");

    private static IResult Json<T>(T value, JsonTypeInfo<T> type, int status = StatusCodes.Status200OK) => Results.Json(value, type, statusCode: status);

    private static IResult Message(string message) => Json(new LabMessage("success", message), LabJson.Default.LabMessage);
}
