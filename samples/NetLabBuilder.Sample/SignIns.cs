using System.Security.Claims;
using System.Security.Cryptography;

namespace NetLabBuilder.Sample;

/// <summary>
/// The sign-ins that are live. The login cookie is a self-contained ticket, valid wherever it is replayed until it expires:
/// without this, signing out only asked the browser to forget it, and a copy taken before (a server on another port of
/// this host name receives it too) still opened the user's terminals for hours. Each login gets an id of its own in its
/// ticket, which the cookie's validation looks up here at every request; signing out ends it, and every copy of the
/// cookie is refused on its next request.
/// Kept in memory: a restart of the sample (new passwords) ends every sign-in of the run before.
/// </summary>
public sealed class SignIns
{
    /// <summary>The claim that carries a ticket's sign-in id.</summary>
    public const string ClaimType = "netlab:sign-in";

    // Only a user with the password adds one; the oldest of a user's sign-ins ends beyond this many.
    internal const int MaxPerUser = 8;

    private readonly Lock _lock = new();
    private readonly Dictionary<string, List<string>> _byUser = new(StringComparer.Ordinal);

    /// <summary>A new sign-in of <paramref name="user"/>: the claim to put in its ticket.</summary>
    public Claim Begin(string user)
    {
        var id = RandomNumberGenerator.GetHexString(32, lowercase: true);
        lock (_lock)
        {
            var live = _byUser.TryGetValue(user, out var list) ? list : _byUser[user] = [];
            live.Add(id);
            if (live.Count > MaxPerUser)
            {
                live.RemoveAt(0);
            }
        }

        return new Claim(ClaimType, id);
    }

    /// <summary>Whether the ticket of <paramref name="principal"/> belongs to a sign-in that has not ended.</summary>
    public bool IsLive(ClaimsPrincipal principal)
    {
        var (user, id) = Of(principal);
        lock (_lock)
        {
            return user is not null && id is not null && _byUser.TryGetValue(user, out var live) && live.Contains(id);
        }
    }

    /// <summary>Ends the sign-in of <paramref name="principal"/>'s ticket: no copy of it is accepted again.</summary>
    public void End(ClaimsPrincipal principal)
    {
        var (user, id) = Of(principal);
        lock (_lock)
        {
            if (user is not null && id is not null && _byUser.TryGetValue(user, out var live))
            {
                live.Remove(id);
            }
        }
    }

    private static (string? User, string? Id) Of(ClaimsPrincipal principal) =>
        (principal.FindFirstValue(ClaimTypes.NameIdentifier), principal.FindFirstValue(ClaimType));
}
