using System.Security.Claims;
using System.Security.Cryptography;
using TtydPorts;

namespace NetLabBuilder.Sample;

/// <summary>
/// The NetLab profile's terminal URLs: one unguessable token per terminal session (256 random bits), served at
/// <c>/t/{token}/</c>. The frontend has no login, and its terminals run in a cross-site iframe where cookies are not sent,
/// so the URL itself is the credential: whoever was handed it has the shell, nobody else finds it. A token is minted the
/// first time <c>getOwnNodes</c> lists a session, stays the same while that ttyd process lives (the frontend reloads an
/// iframe whose <c>src</c> changes), and is dead as soon as the session stops or is replaced: a new session gets a new one.
/// Tokens live in this process only; they are never logged and never listed anywhere but in their owner's <c>getOwnNodes</c>.
/// </summary>
public sealed class TerminalCapabilities(ITtydSessionManager terminals)
{
    /// <summary>Path the capability URLs live under.</summary>
    public const string PathPrefix = "/t";

    private const string ClaimType = "netlab.terminal";
    private const string AuthenticationType = "NetLabTerminalCapability";
    private readonly Lock _lock = new();
    private readonly Dictionary<string, Grant> _grants = new(StringComparer.Ordinal); // token -> session
    private readonly Dictionary<string, string> _tokens = new(StringComparer.Ordinal); // session -> token

    /// <summary>The token of <paramref name="session"/>, minted on first use.</summary>
    public string TokenFor(TtydSession session)
    {
        ArgumentNullException.ThrowIfNull(session);
        var key = KeyOf(session);
        lock (_lock)
        {
            if (!_tokens.TryGetValue(key, out var token))
            {
                token = Base64Url(RandomNumberGenerator.GetBytes(32));
                _tokens[key] = token;
                _grants[token] = new Grant(session.Container, key);
            }

            return token;
        }
    }

    /// <summary>The live session <paramref name="token"/> was minted for; null for an unknown token or a session that is gone.</summary>
    public TtydSession? Resolve(string token)
    {
        lock (_lock)
        {
            if (!_grants.TryGetValue(token, out var grant))
            {
                return null;
            }

            if (terminals.FindSession(grant.Container) is { } session && KeyOf(session) == grant.SessionKey)
            {
                return session;
            }

            Revoke(token, grant);
            return null;
        }
    }

    /// <summary>Forgets the tokens of sessions that are gone.</summary>
    public void Prune()
    {
        lock (_lock)
        {
            foreach (var (token, grant) in _grants.ToList())
            {
                if (terminals.FindSession(grant.Container) is not { } session || KeyOf(session) != grant.SessionKey)
                {
                    Revoke(token, grant);
                }
            }
        }
    }

    /// <summary>The request's user for the proxy: authenticated by the capability, for exactly this session.</summary>
    public static ClaimsPrincipal PrincipalFor(TtydSession session) =>
        new(new ClaimsIdentity([new Claim(ClaimType, KeyOf(session))], AuthenticationType));

    /// <summary>The proxy's authorization: the request came through this session's capability URL.</summary>
    public static bool Grants(ClaimsPrincipal user, TtydSession session) => user.HasClaim(ClaimType, KeyOf(session));

    // One ttyd process of one container: a restarted or replaced session is another one.
    private static string KeyOf(TtydSession session) =>
        $"{session.Container}\n{session.ProcessId}\n{session.StartedAt.UtcTicks}\n{session.SocketPath}";

    private static string Base64Url(byte[] bytes) => Convert.ToBase64String(bytes).TrimEnd('=').Replace('+', '-').Replace('/', '_');

    private void Revoke(string token, Grant grant)
    {
        _grants.Remove(token);
        _tokens.Remove(grant.SessionKey);
    }

    private sealed record Grant(string Container, string SessionKey);
}
