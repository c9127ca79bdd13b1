using System.Text.RegularExpressions;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;
using TtydPorts;
using TtydPorts.AspNetCore;

namespace Microsoft.Extensions.DependencyInjection;

/// <summary>Sets the session manager up for the terminal proxy (<c>MapTtydTerminals</c>).</summary>
public static partial class TtydTerminalProxyServiceCollectionExtensions
{
    /// <summary>
    /// Serves every terminal through the host at <c>{prefix}/{container}/</c>: ttyd listens on a Unix socket in the
    /// manager's private folder (no TCP port), under the base path <c>{prefix}/{container}</c>, checks the WebSocket origin
    /// and demands the session's random credential, which only the proxy adds. Map the proxy with
    /// <c>app.MapTtydTerminals()</c>; by default only a session's owner reaches it.
    /// </summary>
    /// <param name="builder">The builder <c>AddTtydSessions</c> returned.</param>
    /// <param name="prefix">Path of the terminals, <c>/segment[/segment...]</c>. Default <c>/terminals</c>.</param>
    /// <param name="configure">Configures the proxy, e.g. its authorization callback.</param>
    /// <returns><paramref name="builder"/>.</returns>
    /// <exception cref="ArgumentException"><paramref name="prefix"/> is not such a path.</exception>
    public static ITtydSessionsBuilder AddTtydTerminalProxy(this ITtydSessionsBuilder builder, string prefix = "/terminals", Action<TtydTerminalProxyOptions>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(builder);
        ArgumentNullException.ThrowIfNull(prefix);
        if (!PrefixRule().IsMatch(prefix) || prefix.Split('/').Any(s => s is "." or ".."))
        {
            throw new ArgumentException($"The terminal path prefix '{prefix}' must look like /segment[/segment...] with letters, digits, '_', '.' and '-'.", nameof(prefix));
        }

        var services = builder.Services;
        services.AddHttpForwarder();
        services.AddOptions<TtydTerminalProxyOptions>().Configure(o => o.PathPrefix = prefix).ValidateOnStart();
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<TtydTerminalProxyOptions>, TtydTerminalProxyOptionsValidator>());
        if (configure is not null)
        {
            services.Configure(configure);
        }

        // After the host's own configuration, so that a configuration file cannot turn the proxy's protections off.
        services.PostConfigure<TtydSessionOptions>(o =>
        {
            o.ListenMode = TtydListenMode.UnixSocket;
            o.BasePath = prefix;
            o.CheckOrigin = true;
        });
        services.PostConfigure<TtydTerminalProxyOptions>(o => o.PathPrefix = prefix);
        services.TryAddSingleton<TtydTerminalForwarder>();
        return builder;
    }

    [GeneratedRegex("^(/[A-Za-z0-9_.-]+)+$", RegexOptions.CultureInvariant)]
    private static partial Regex PrefixRule();
}
