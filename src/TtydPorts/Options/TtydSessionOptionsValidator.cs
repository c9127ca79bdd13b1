using System.Net;
using Microsoft.Extensions.Options;

namespace TtydPorts;

[OptionsValidator]
internal sealed partial class TtydSessionOptionsValidator : IValidateOptions<TtydSessionOptions>;

/// <summary>The rules that span several properties, which annotations cannot say.</summary>
internal sealed class TtydSessionOptionsRules : IValidateOptions<TtydSessionOptions>
{
    public ValidateOptionsResult Validate(string? name, TtydSessionOptions options)
    {
        var builder = new ValidateOptionsResultBuilder();
        if (options.PortRangeStart > options.PortRangeEnd)
        {
            builder.AddError($"PortRangeStart ({options.PortRangeStart}) must not be greater than PortRangeEnd ({options.PortRangeEnd}).");
        }

        if (!IPAddress.TryParse(options.BindAddress, out var address))
        {
            builder.AddError($"BindAddress '{options.BindAddress}' is not an IP address.");
        }
        else if (!IPAddress.IsLoopback(address) && !options.AllowRemoteAccess && options.ListenMode == TtydListenMode.Tcp)
        {
            builder.AddError($"BindAddress '{options.BindAddress}' is not a loopback address: terminals would be reachable from other hosts. " +
                             "Set AllowRemoteAccess = true to allow it (each session then demands its own credential), or use the proxy mode.");
        }

        if (!options.RequireCredentials && !options.AllowUnauthenticatedLoopbackTerminals && options.ListenMode == TtydListenMode.Tcp && !options.AllowRemoteAccess)
        {
            builder.AddError("RequireCredentials = false would let every local user and any web page opened on this machine get a shell " +
                             "in the containers. Keep it true (open terminals with TtydSession.GetUrl()), or also set " +
                             "AllowUnauthenticatedLoopbackTerminals = true to accept that.");
        }

        if (options.BasePath is { } basePath && !IsPath(basePath))
        {
            builder.AddError($"BasePath {SessionIds.Quote(basePath)} must look like /segment[/segment...] with letters, digits, '_', '.' and '-'.");
        }

        if (string.IsNullOrWhiteSpace(options.TtydPath))
        {
            builder.AddError("TtydPath must be set.");
        }

        if (!SessionIds.IsValidId(options.InstanceName))
        {
            builder.AddError($"InstanceName {SessionIds.Quote(options.InstanceName)} must match [a-zA-Z0-9][a-zA-Z0-9_.@-]*.");
        }

        if (options.DockerEndpoint is { } endpoint && !endpoint.StartsWith("unix://", StringComparison.Ordinal))
        {
            builder.AddError($"DockerEndpoint '{endpoint}' must be a unix:// socket.");
        }

        if (options.IdleTimeout is { } idle && idle <= TimeSpan.Zero)
        {
            builder.AddError($"IdleTimeout ({idle}) must be positive, or null to keep idle sessions.");
        }

        foreach (var argument in options.ExtraTtydArguments)
        {
            if (argument is null || argument.Contains('\0', StringComparison.Ordinal))
            {
                builder.AddError("ExtraTtydArguments must not contain null or NUL characters.");
            }
        }

        return builder.Build();
    }

    private static bool IsPath(string path) =>
        path.Length is > 1 and <= 200 && path[0] == '/'
        && path[1..].Split('/').All(segment => segment.Length > 0 && segment is not ("." or "..")
            && segment.All(c => char.IsAsciiLetterOrDigit(c) || c is '_' or '.' or '-'));
}
