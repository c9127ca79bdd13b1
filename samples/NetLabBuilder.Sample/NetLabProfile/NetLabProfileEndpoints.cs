using System.Text.Json;
using System.Text.Json.Serialization.Metadata;
using Microsoft.AspNetCore.Mvc;
using TtydPorts;

namespace NetLabBuilder.Sample;

/// <summary>
/// The endpoints the NetLab frontend calls, with the original backend's answers. The user is whatever <c>user_id</c> the
/// request names (the frontend's guest id): this profile has no login, like the original.
/// </summary>
public static class NetLabProfileEndpoints
{
    /// <summary>
    /// <c>GET /api/ttyd/getOwnNodes?user_id=</c>, <c>POST /api/start-topology</c>, <c>DELETE /api/clear-topology/{user}</c>,
    /// <c>DELETE /api/delete-node/{user}/{container}</c>, <c>GET /api/node-routing/{container}</c>.
    /// </summary>
    public static void MapNetLabProfileEndpoints(this IEndpointRouteBuilder app)
    {
        var api = app.MapGroup("/api").WithTtydErrorHandling();
        api.MapGet("ttyd/getOwnNodes", GetOwnNodesAsync);
        api.MapPost("start-topology", StartTopologyAsync);
        api.MapDelete("clear-topology/{userId}", ClearTopologyAsync);
        api.MapDelete("delete-node/{userId}/{container}", DeleteNodeAsync);
        api.MapGet("node-routing/{container}", NodeRoutingAsync);
    }

    // The user's running nodes, each with its terminal started (waited for, as the original starts ttyd in this call) and
    // its capability URL. Stopped nodes are left out, as the original (which lists running containers only) does.
    private static async Task<IResult> GetOwnNodesAsync(
        [FromQuery(Name = "user_id")] string? userId, DemoLab lab, LabActivity activity, TerminalCapabilities capabilities, ITtydSessionManager terminals, HttpContext http)
    {
        if (string.IsNullOrEmpty(userId))
        {
            return Error("user_id parameter is required", StatusCodes.Status400BadRequest);
        }

        SessionIds.ThrowIfInvalidId(userId, "user_id");
        capabilities.Prune();
        var running = (await lab.NodesOfAsync(userId, http.RequestAborted)).Where(n => n.State == "running").ToList();
        var states = await Task.WhenAll(running.Select(n => activity.WaitForTerminalAsync(n, http.RequestAborted)));
        var listed = new List<NetLabTerminal>();
        foreach (var (node, (terminal, reason)) in running.Zip(states))
        {
            if (terminal == "ready" && terminals.FindSession(node.Container) is { } session)
            {
                var url = new Uri(new Uri($"{http.Request.Scheme}://{http.Request.Host}/"), $"{TerminalCapabilities.PathPrefix}/{capabilities.TokenFor(session)}/");
                listed.Add(new NetLabTerminal(node.Container, url.ToString(), null, node.State, null));
            }
            else if (terminal == "failed")
            {
                listed.Add(new NetLabTerminal(node.Container, null, null, "failed", reason));
            }

            // "removing" (a delete under way) and a start that is still not done are left out until the next poll.
        }

        return Json(new NetLabNodesResponse("success", userId, listed.Count == 0 ? "No containers found for this user" : null, listed), NetLabJson.Default.NetLabNodesResponse);
    }

    // The original answers 202 once its topology script runs; here the nodes exist when it answers (about 0.3 s a node),
    // so the frontend's next getOwnNodes lists them. The deploy does not end with the request: should the frontend give up
    // (its timeout is 10 s), the topology is still completed, not rolled back, and its polling finds it.
    private static async Task<IResult> StartTopologyAsync(HttpContext http, DemoLab lab, LabActivity activity, NetLabProfileOptions options, IHostApplicationLifetime lifetime)
    {
        if (!http.Request.HasJsonContentType())
        {
            return Error($"This endpoint takes only Content-Type: application/json, not '{http.Request.ContentType ?? "(none)"}'; nothing was changed.", StatusCodes.Status415UnsupportedMediaType);
        }

        StartTopologyRequest? request;
        try
        {
            request = await JsonSerializer.DeserializeAsync(http.Request.Body, NetLabJson.Default.StartTopologyRequest, http.RequestAborted);
        }
        catch (JsonException e)
        {
            throw new ArgumentException(
                $"The request body is not a valid JSON object {{\"user_id\":\"...\",\"topology\":\"...\"}} (at {e.Path ?? "$"}, line {e.LineNumber + 1}, byte {e.BytePositionInLine + 1}).", "body", e);
        }

        if (string.IsNullOrEmpty(request?.UserId))
        {
            return Error("user_id required", StatusCodes.Status400BadRequest);
        }

        var userId = request.UserId;
        SessionIds.ThrowIfInvalidId(userId, "user_id");
        var topology = request.Topology ?? "";
        if (!options.Topologies.TryGetValue(topology, out var nodes))
        {
            return Refused(userId, topology, $"Unknown topology '{topology}'.",
                $"Available topologies: {string.Join(", ", options.Topologies.Keys.Order(StringComparer.Ordinal))}", StatusCodes.Status400BadRequest);
        }

        if (!activity.TryBeginDeploy(userId))
        {
            return Refused(userId, topology, $"A topology for user {userId} is being started; wait for it to finish.", null, StatusCodes.Status409Conflict);
        }

        try
        {
            // One topology per user, as the original: a second one is refused until the first is cleared.
            if ((await lab.NodesOfAsync(userId, lifetime.ApplicationStopping)) is { Count: > 0 } existing)
            {
                return Refused(userId, topology, $"User {userId} already has a running topology. Please stop it first.",
                    $"Found {existing.Count} containers for this user", StatusCodes.Status409Conflict);
            }

            await lab.DeployAsync(userId, nodes, lifetime.ApplicationStopping, (created, total) => activity.ReportDeploy(userId, created, total));
            return Results.Json(
                new StartTopologyResponse("success", userId, topology, $"Topology {topology} started for user {userId}", null),
                NetLabJson.Default.StartTopologyResponse, statusCode: StatusCodes.Status202Accepted);
        }
        catch (LabFullException e)
        {
            return Refused(userId, topology, e.Message, null, StatusCodes.Status409Conflict);
        }
        finally
        {
            activity.EndDeploy(userId);
        }
    }

    // Every topology of the user (the frontend knows users, not topologies); none is a success with 0, as in the original.
    private static async Task<IResult> ClearTopologyAsync(string userId, DemoLab lab, LabActivity activity, CancellationToken cancellationToken)
    {
        SessionIds.ThrowIfInvalidId(userId, "user_id");
        var nodes = await lab.NodesOfAsync(userId, cancellationToken);
        using var removal = await activity.BeginRemovalAsync([.. nodes.Select(n => n.Container)]);
        var removed = 0;
        foreach (var topology in nodes.Select(n => n.TopologyId).Distinct(StringComparer.Ordinal))
        {
            removed += (await lab.ClearTopologyAsync(userId, topology, cancellationToken)).Containers;
        }

        return Json(new LabMessage("success", $"Topology cleared successfully, deleted {removed} nodes"), NetLabJson.Default.LabMessage);
    }

    private static async Task<IResult> DeleteNodeAsync(string userId, string container, DemoLab lab, LabActivity activity, CancellationToken cancellationToken)
    {
        SessionIds.ThrowIfInvalidId(userId, "user_id");
        SessionIds.ThrowIfInvalidContainerName(container, "container");
        using var removal = await activity.BeginRemovalAsync([container]);
        await lab.DeleteNodeAsync(userId, container, cancellationToken); // 404 unless it is this user's node
        return Json(new LabMessage("success", $"Node {container} deleted successfully"), NetLabJson.Default.LabMessage);
    }

    // The frontend names the node only (no user): any running node of this lab, by its exact name; nothing else is reachable.
    private static async Task<IResult> NodeRoutingAsync(string container, DemoLab lab, CancellationToken cancellationToken)
    {
        var table = await lab.RoutingTableAsync(container, cancellationToken);
        var routes = new List<NetLabRoute>();
        foreach (var line in table.Split('\n', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries))
        {
            var parts = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
            if (line.StartsWith("Kernel", StringComparison.Ordinal) || line.StartsWith("Destination", StringComparison.Ordinal) || parts.Length < 6)
            {
                continue;
            }

            routes.Add(new NetLabRoute(parts[0], parts[1], parts[2], parts[3], parts[4], parts[5], parts.ElementAtOrDefault(6) ?? "", parts.ElementAtOrDefault(7) ?? ""));
        }

        return Json(new NodeRoutingResponse("success", container, routes), NetLabJson.Default.NodeRoutingResponse);
    }

    private static IResult Refused(string userId, string topology, string message, string? details, int status) =>
        Results.Json(new StartTopologyResponse("error", userId, topology, message, details), NetLabJson.Default.StartTopologyResponse, statusCode: status);

    private static IResult Error(string message, int status) => Json(new LabMessage("error", message), NetLabJson.Default.LabMessage, status);

    private static IResult Json<T>(T value, JsonTypeInfo<T> type, int status = StatusCodes.Status200OK) => Results.Json(value, type, statusCode: status);
}
