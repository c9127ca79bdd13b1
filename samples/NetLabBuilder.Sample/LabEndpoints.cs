using System.Net;
using System.Text.Json;
using Microsoft.AspNetCore.Mvc;
using TtydPorts;

namespace NetLabBuilder.Sample;

/// <summary>The NetLabBuilder-style endpoints: each step calls the library.</summary>
public static partial class LabEndpoints
{
    /// <summary>Terminal status of a node whose terminal runs.</summary>
    public const string Running = "running";

    /// <summary>
    /// <c>GET {ttyd group}/getOwnNodes?user_id=</c> and, under <c>/api/lab</c>: <c>POST deploy</c>,
    /// <c>DELETE nodes/{container}?user_id=</c>, <c>DELETE topologies/{topology}?user_id=</c>.
    /// </summary>
    public static void MapLabEndpoints(this IEndpointRouteBuilder app, RouteGroupBuilder ttyd)
    {
        ttyd.MapGet("getOwnNodes", GetOwnNodesAsync);

        var lab = app.MapGroup("/api/lab").WithTtydErrorHandling().AddEndpointFilter(JsonOnly);
        lab.MapPost("deploy", DeployAsync);
        lab.MapDelete("nodes/{container}", DeleteNodeAsync);
        lab.MapDelete("topologies/{topologyId}", ClearTopologyAsync);
    }

    // Every running node of the user gets its terminal (EnsureSessionAsync reuses a live one), as the seed's getOwnNodes does.
    private static async Task<IResult> GetOwnNodesAsync(
        [FromQuery(Name = "user_id")] string? userId, DemoLab lab, ITtydSessionManager terminals, HttpContext http, ILoggerFactory loggers)
    {
        var user = RequireUser(userId);
        var nodes = await lab.NodesOfAsync(user, http.RequestAborted);
        var logger = loggers.CreateLogger(typeof(LabEndpoints).FullName!);
        var terminalsOfNodes = await Task.WhenAll(nodes.Select(async node =>
        {
            if (!string.Equals(node.State, "running", StringComparison.Ordinal))
            {
                return new TerminalInfo(node.Container, null, null, node.State, node.TopologyId);
            }

            try
            {
                var session = await terminals.EnsureSessionAsync(node.Container, user, node.TopologyId, http.RequestAborted);
                return session is null
                    ? new TerminalInfo(node.Container, null, null, "no_free_port", node.TopologyId)
                    : new TerminalInfo(node.Container, TerminalUrl(session, http).ToString(), session.Port, Running, node.TopologyId);
            }
            catch (Exception e) when (e is TtydPortsException)
            {
                LogTerminalFailed(logger, node.Container, e.Message);
                return new TerminalInfo(node.Container, null, null, "error", node.TopologyId);
            }
        }));

        return Results.Json(new OwnNodesResponse("success", user, terminalsOfNodes), LabJson.Default.OwnNodesResponse);
    }

    private static async Task<IResult> DeployAsync(HttpContext http, DemoLab lab)
    {
        DeployRequest? request;
        try
        {
            request = await JsonSerializer.DeserializeAsync(http.Request.Body, LabJson.Default.DeployRequest, http.RequestAborted);
        }
        catch (JsonException e)
        {
            // The serializer's own message names the sample's types; the path and position say what is wrong.
            throw new ArgumentException(
                $"The request body is not a valid JSON object {{\"user_id\":\"...\",\"nodes\":N}} (at {e.Path ?? "$"}, line {e.LineNumber + 1}, byte {e.BytePositionInLine + 1}).", "body", e);
        }

        var user = RequireUser(request?.UserId);
        var (topologyId, containers) = await lab.DeployAsync(user, request?.Nodes, http.RequestAborted);
        return Results.Json(new DeployResponse("success", user, topologyId, containers), LabJson.Default.DeployResponse);
    }

    private static async Task<IResult> DeleteNodeAsync(string container, [FromQuery(Name = "user_id")] string? userId, DemoLab lab, CancellationToken cancellationToken)
    {
        var user = RequireUser(userId);
        var result = await lab.DeleteNodeAsync(user, container, cancellationToken);
        return Message($"Node '{container}' deleted; {result.Stopped.Count} terminal(s) stopped.");
    }

    private static async Task<IResult> ClearTopologyAsync(string topologyId, [FromQuery(Name = "user_id")] string? userId, DemoLab lab, CancellationToken cancellationToken)
    {
        var user = RequireUser(userId);
        var (result, containers) = await lab.ClearTopologyAsync(user, topologyId, cancellationToken);
        return Message($"Topology '{topologyId}' cleared: {result.Stopped.Count} terminal(s) stopped, {containers} node(s) removed.");
    }

    /// <summary>
    /// Every endpoint that changes the lab takes only <c>Content-Type: application/json</c> (also a DELETE, which has no body):
    /// a page of another site can send a form or <c>text/plain</c> without asking, but not JSON, which needs a CORS preflight
    /// this host never grants. So a cross-site request is a 415 and changes nothing.
    /// </summary>
    private static ValueTask<object?> JsonOnly(EndpointFilterInvocationContext context, EndpointFilterDelegate next)
    {
        var request = context.HttpContext.Request;
        return request.HasJsonContentType()
            ? next(context)
            : ValueTask.FromResult<object?>(Results.Json(
                new LabMessage("error", $"This endpoint takes only Content-Type: application/json, not '{request.ContentType ?? "(none)"}'; nothing was changed."),
                LabJson.Default.LabMessage,
                statusCode: StatusCodes.Status415UnsupportedMediaType));
    }

    private static string RequireUser(string? userId)
    {
        if (userId is null)
        {
            throw new ArgumentException("user_id is required.", "user_id");
        }

        SessionIds.ThrowIfInvalidId(userId, "user_id");
        return userId;
    }

    /// <summary>
    /// ttyd bound to one address is reached there; bound to every address (0.0.0.0, ::) it is reached on the host name the
    /// browser used for this page.
    /// </summary>
    private static Uri TerminalUrl(TtydSession session, HttpContext http) =>
        session.Address.Equals(IPAddress.Any) || session.Address.Equals(IPAddress.IPv6Any)
            ? session.GetUrl(http.Request.Host.Host)
            : session.GetUrl();

    private static IResult Message(string message) => Results.Json(new LabMessage("success", message), LabJson.Default.LabMessage);

    [LoggerMessage(EventId = 10, Level = LogLevel.Warning, Message = "No terminal for {Container}: {Error}")]
    private static partial void LogTerminalFailed(ILogger logger, string container, string error);
}
