using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using TtydPorts.AspNetCore;

namespace Microsoft.AspNetCore.Builder;

/// <summary>Maps the terminal proxy that <c>AddTtydTerminalProxy</c> set up.</summary>
public static class TtydTerminalEndpointRouteBuilderExtensions
{
    /// <summary>
    /// Serves each session's terminal at <c>{prefix}/{container}/</c> (the prefix given to <c>AddTtydTerminalProxy</c>),
    /// forwarding its HTTP and WebSocket traffic to the session's ttyd with YARP's forwarder. Before anything is forwarded:
    /// a container name that breaks Docker's rule (an encoded slash included) answers 404; an anonymous user is challenged
    /// (before the lookup, so that it learns nothing about which terminals exist); a container without a session answers 404;
    /// an authenticated user the authorization callback refuses (by default anyone but the session's owner) is forbidden (403); a WebSocket whose <c>Origin</c> is not the request's own host answers 403.
    /// <c>{prefix}/{container}</c> redirects to the trailing slash. ttyd gets the session's credential instead of the
    /// browser's <c>Authorization</c>, and none of the host's cookies.
    /// </summary>
    /// <param name="endpoints">The application's route builder.</param>
    /// <returns>The terminals' route group, for conventions such as <c>.RequireAuthorization()</c>.</returns>
    /// <exception cref="InvalidOperationException"><c>AddTtydTerminalProxy</c> was not called.</exception>
    public static IEndpointConventionBuilder MapTtydTerminals(this IEndpointRouteBuilder endpoints)
    {
        ArgumentNullException.ThrowIfNull(endpoints);
        var forwarder = endpoints.ServiceProvider.GetService<TtydTerminalForwarder>()
            ?? throw new InvalidOperationException("MapTtydTerminals needs services.AddTtydSessions().AddTtydTerminalProxy(prefix).");
        var prefix = endpoints.ServiceProvider.GetRequiredService<IOptions<TtydTerminalProxyOptions>>().Value.PathPrefix;

        var group = endpoints.MapGroup(prefix);
        group.Map("{container}/{**rest}", (RequestDelegate)forwarder.HandleAsync)
            .WithName("TtydTerminal")
            .WithDisplayName("ttyd terminal proxy")
            .ExcludeFromDescription();
        return group;
    }
}
