using System.Diagnostics.CodeAnalysis;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.Logging;
using TtydPorts;
using TtydPorts.AspNetCore;

namespace Microsoft.AspNetCore.Builder;

/// <summary>Maps the seed-compatible HTTP endpoints of the ttyd session manager.</summary>
public static class TtydEndpointRouteBuilderExtensions
{
    /// <summary>
    /// Maps, under <paramref name="prefix"/>:
    /// <list type="bullet">
    /// <item><c>GET status</c>: <c>{"status":"success","data":{"active_sessions":N,"container_ports":N,"ttyd_processes":N,"containers":[...],"processes":[...]}}</c>.</item>
    /// <item><c>POST cleanup</c>, <c>Content-Type: application/json</c> only: <c>{"user_id":"..."}</c> stops that user's
    /// sessions; <c>{"all":true}</c> or an empty body stops every session of the manager;
    /// <c>{"status":"success","message":"..."}</c>.</item>
    /// </list>
    /// Errors are <c>{"status":"error","message":"..."}</c> (or RFC 9457 problem details, see
    /// <see cref="TtydEndpointOptions.ErrorFormat"/>), never with a stack trace: 415 for any other content type (also
    /// without a body: an HTML form cannot trigger a cleanup), 400 for malformed JSON, a body that is not such an object
    /// (<c>{}</c>, <c>null</c>, <c>{"user_id":null}</c>, <c>{"all":false}</c>), an unknown field (named) or an invalid id
    /// (quoted), 413 for a body over 16 KiB, 500 when a session could not be stopped. A refused request stops nothing.
    /// </summary>
    /// <remarks>
    /// The returned group carries an endpoint filter that turns exceptions of every route handler in it, including those a
    /// host maps into the group later, into that error format: <see cref="ArgumentException"/> 400,
    /// <see cref="TtydPorts.ContainerNotFoundException"/> 404, <see cref="TtydPorts.SessionConflictException"/> 409 (naming
    /// neither the holder nor its topology), <see cref="TtydPorts.SessionLimitExceededException"/> 429 (with
    /// <c>Retry-After</c> for the manager-wide limit),
    /// <see cref="TtydPorts.ContainerEngineException"/> 503, any other <see cref="TtydPorts.TtydPortsException"/> 500 with its
    /// message, anything else 500 with a generic message (the exception is logged). Add <c>.RequireAuthorization()</c> to the
    /// group: the endpoints stop terminals of every user.
    /// </remarks>
    /// <param name="endpoints">The application's route builder.</param>
    /// <param name="prefix">Route prefix, e.g. <c>/api/ttyd</c>.</param>
    /// <param name="configure">Sets the options, e.g. <c>o =&gt; o.ErrorFormat = TtydErrorFormat.ProblemDetails</c> for RFC 9457
    /// problem details instead of the seed's envelope; <see langword="null"/> keeps the defaults.</param>
    /// <returns>The route group, for conventions such as <c>.RequireAuthorization()</c> and for more endpoints.</returns>
    public static RouteGroupBuilder MapTtydEndpoints(
        this IEndpointRouteBuilder endpoints,
        [StringSyntax("Route")] string prefix = "/api/ttyd",
        Action<TtydEndpointOptions>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(endpoints);
        ArgumentNullException.ThrowIfNull(prefix);
        var options = new TtydEndpointOptions();
        configure?.Invoke(options);
        var format = options.ErrorFormat;

        var group = endpoints.MapGroup(prefix);
        group.WithTtydErrorHandling(format).WithTags("ttyd");

        // OpenAPI metadata lists the answers each endpoint really gives; the error bodies follow the chosen format. No
        // Accepts<T>(): routing would answer other content types with an empty 415 before the handler explains it.
        group.MapGet("status", TtydEndpointHandlers.Status)
            .WithName("TtydStatus")
            .WithSummary("Status of the ttyd sessions (seed format).")
            .WithDescription("The seed's figures: active sessions, containers that hold a port, tracked ttyd processes and their names.")
            .Produces<StatusResponse>(StatusCodes.Status200OK)
            .ProducesError(format, StatusCodes.Status500InternalServerError);
        group.MapPost("cleanup", (HttpContext context, ITtydSessionManager manager, ILoggerFactory loggers) => TtydEndpointHandlers.CleanupAsync(context, manager, loggers, format))
            .WithName("TtydCleanup")
            .WithSummary("Stops one user's ttyd sessions, or all of them when no user_id is given.")
            .WithDescription("Takes application/json only: {\"user_id\":\"...\"} for one user, {\"all\":true} or an empty body for every user. A refused request stops nothing.")
            .Produces<MessageResponse>(StatusCodes.Status200OK)
            .ProducesError(format, StatusCodes.Status400BadRequest, StatusCodes.Status413PayloadTooLarge, StatusCodes.Status415UnsupportedMediaType, StatusCodes.Status500InternalServerError);
        return group;
    }

    private static RouteHandlerBuilder ProducesError(this RouteHandlerBuilder builder, TtydErrorFormat format, params int[] statusCodes)
    {
        foreach (var statusCode in statusCodes)
        {
            builder = format == TtydErrorFormat.ProblemDetails
                ? builder.ProducesProblem(statusCode)
                : builder.Produces<MessageResponse>(statusCode);
        }

        return builder;
    }

    /// <summary>
    /// Turns exceptions of the route handlers of <paramref name="builder"/> into <c>{"status":"error","message":"..."}</c>
    /// answers, as <see cref="MapTtydEndpoints"/> does for its own group: <see cref="ArgumentException"/> 400,
    /// <see cref="TtydPorts.ContainerNotFoundException"/> 404, <see cref="TtydPorts.SessionConflictException"/> 409 (naming
    /// neither the holder nor its topology), <see cref="TtydPorts.SessionLimitExceededException"/> 429 (with
    /// <c>Retry-After</c> for the manager-wide limit),
    /// <see cref="TtydPorts.ContainerEngineException"/> 503, other <see cref="TtydPorts.TtydPortsException"/>s 500 with their
    /// message, anything else 500 with a generic message (logged with its stack trace, never sent).
    /// </summary>
    /// <typeparam name="TBuilder">The endpoint or group builder.</typeparam>
    /// <param name="builder">Endpoints whose errors to translate.</param>
    /// <param name="errorFormat">The seed's envelope (default) or RFC 9457 problem details.</param>
    /// <returns><paramref name="builder"/>.</returns>
    public static TBuilder WithTtydErrorHandling<TBuilder>(this TBuilder builder, TtydErrorFormat errorFormat = TtydErrorFormat.Envelope)
        where TBuilder : IEndpointConventionBuilder
    {
        ArgumentNullException.ThrowIfNull(builder);
        return builder.AddEndpointFilter((invocation, next) => TtydEndpointHandlers.TranslateErrorsAsync(invocation, next, errorFormat));
    }
}
